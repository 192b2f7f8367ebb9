// WGS-84 <-> GCJ-02, the same formulas as tools/coords.py (forward: the published one; inverse:
// iterated to well under a centimetre). Unchanged outside the mainland-China box.
const A = 6378245.0;
const EE = 0.00669342162296594323;

export function outOfChina(lng, lat) {
  return !(lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
}

function transformLat(x, y) {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return r;
}

function transformLng(x, y) {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return r;
}

export function wgs84ToGcj02(lng, lat) {
  if (outOfChina(lng, lat)) return [lng, lat];
  let dLat = transformLat(lng - 105.0, lat - 35.0);
  let dLng = transformLng(lng - 105.0, lat - 35.0);
  const radLat = (lat / 180.0) * Math.PI;
  const magic = 1 - EE * Math.sin(radLat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI);
  dLng = (dLng * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [lng + dLng, lat + dLat];
}

export function gcj02ToWgs84(lng, lat) {
  if (outOfChina(lng, lat)) return [lng, lat];
  let w = [lng, lat];
  for (let i = 0; i < 30; i++) {
    const g = wgs84ToGcj02(w[0], w[1]);
    const eLng = g[0] - lng;
    const eLat = g[1] - lat;
    if (Math.abs(eLng) < 1e-9 && Math.abs(eLat) < 1e-9) break;
    w = [w[0] - eLng, w[1] - eLat];
  }
  return w;
}

/** [lng, lat] of a point given in `from` ("gcj02" | "wgs84"), expressed in `to`. */
export function convert(lng, lat, from, to) {
  const source = from === "wgs84" ? "wgs84" : "gcj02"; // commands always say; gcj02 is the default
  if (source === to) return [lng, lat];
  return to === "gcj02" ? wgs84ToGcj02(lng, lat) : gcj02ToWgs84(lng, lat);
}
