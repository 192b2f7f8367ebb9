// Which URLs the page makes clickable: https:, geo: and amapuri: (AMap's app) only. Anything
// else (javascript:, data:, http:, relative paths) is shown as text, never as a link.

export const SAFE_SCHEMES = Object.freeze(["https:", "geo:", "amapuri:"]);

/** The URL `value` normalised when its scheme is a safe one, else null. */
export function safeUrl(value) {
  if (typeof value !== "string" || !value.trim()) return null;
  let url;
  try {
    url = new URL(value); // absolute only: a relative URL throws
  } catch {
    return null;
  }
  return SAFE_SCHEMES.includes(url.protocol) ? url.href : null;
}
