// /docs: the vendored Swagger UI on this server's OpenAPI document. A file, not an inline
// script, so the page's Content-Security-Policy (script-src 'self') holds here too.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "openapi.json", // relative: right when the app is mounted under a prefix
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // no request to a validator elsewhere
});
