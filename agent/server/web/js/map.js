// The map: executes the toolkit's map_action commands (tools/map_commands.py) on Leaflet, on AMap
// tiles (GCJ-02) or OpenStreetMap tiles (WGS-84). Every command point carries its `crs`; the
// map keeps the commands as sent and converts to the datum of the tiles shown, so switching
// tiles redraws everything in place. A drawing command may name a `layer` (shown, hidden and
// cleared together by `layer` commands) and a `color`; tiles that cannot load are reported.
import { convert } from "./coords.js";
import { TILE_SOURCES } from "./config.js";

/* global L */

const DEFAULT_TILES = {
  amap: {
    name: "高德地图",
    crs: "gcj02",
    url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=7&x={x}&y={y}&z={z}",
    options: { subdomains: "1234", maxZoom: 18, attribution: "© 高德地图 AutoNavi" },
  },
  osm: {
    name: "OpenStreetMap",
    crs: "wgs84",
    url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    options: {
      maxZoom: 19,
      attribution: '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    },
  },
};

/** The base maps; their tile URL as the server configures it (page config `tiles`). */
export const TILES = Object.fromEntries(Object.entries(DEFAULT_TILES).map(([key, t]) => [
  key, typeof TILE_SOURCES[key] === "string" ? { ...t, url: TILE_SOURCES[key] } : t]));

const ROUTE_COLOR = "#1d4ed8";
const ROUTE_STYLE = { color: ROUTE_COLOR, weight: 5, opacity: 0.85 };
const END_STYLE = { radius: 7, weight: 2, color: "#ffffff", fillOpacity: 1 };
const STOP_COLOR = "#7c3aed";
const AREA_COLORS = { district: "#9333ea", aoi: "#0d9488", isochrone: "#ea580c", region: "#2563eb" };
const COLOR = /^#[0-9a-fA-F]{6}$/;
const KINDS = ["markers", "routes", "stops", "areas"];

/** What each map_action command does: exactly the commands of map_action.schema.json
 * (tools/map_commands.py; tests/web/test_map_schema.py compares the two). */
export const COMMANDS = Object.freeze({
  set_view: (map, action) => map.setView(action),
  add_markers: (map, action) => map.addMarkers(action),
  draw_route: (map, action) => map.drawRoute(action),
  fit_bounds: (map, action) => map.fitBounds(action),
  clear: (map, action) => map.clear(action.target || "all"),
  add_stops: (map, action) => map.addStops(action),
  draw_area: (map, action) => map.drawArea(action),
  layer: (map, action) => map.layerCommand(action),
});

/** A text-only element for tooltips and popups (Leaflet would set a string as innerHTML). */
function textBox(title, detail) {
  const box = document.createElement("div");
  const strong = document.createElement("strong");
  strong.textContent = title;
  box.append(strong);
  if (detail) {
    const p = document.createElement("p");
    p.textContent = detail;
    box.append(p);
  }
  return box;
}

/** The command's colour when it is a valid #rrggbb, else `fallback`. */
function colorOf(action, fallback) {
  return typeof action.color === "string" && COLOR.test(action.color) ? action.color : fallback;
}

/** The command's layer name ("" for the map's default layer). */
function layerOf(action) {
  return typeof action.layer === "string" ? action.layer : "";
}

export class GeoMap {
  /** `element`: the map's container; `tiles`: "amap" | "osm"; `onStatus(text)`: view labels;
   * `onTiles(ok)`: whether the shown tiles load (false: none of the last ones could). */
  constructor(element, tiles = "amap", onStatus = () => {}, onTiles = () => {}) {
    this.map = L.map(element, { zoomControl: true, keyboard: true }).setView([39.909, 116.397], 11);
    this.onStatus = onStatus;
    this.onTiles = onTiles;
    this.tilesOk = true;
    this.layers = Object.fromEntries(Object.entries(TILES).map(([key, t]) => {
      const layer = L.tileLayer(t.url, t.options);
      // Each time the view's tiles are loaded ("loading" ... "load", failed ones included):
      // not one loaded and some failed means the tile server cannot be reached (offline, blocked).
      const count = { loaded: 0, failed: 0 };
      layer.on("loading", () => Object.assign(count, { loaded: 0, failed: 0 }));
      layer.on("tileload", () => {
        count.loaded += 1;
        if (key === this.tiles) this.tileState(true);
      });
      layer.on("tileerror", () => { count.failed += 1; });
      layer.on("load", () => key === this.tiles && this.tileState(count.loaded > 0 || count.failed === 0));
      return [key, layer];
    }));
    this.tiles = TILES[tiles] ? tiles : "amap";
    this.layers[this.tiles].addTo(this.map);
    this.defaultLayer = L.layerGroup().addTo(this.map);
    this.named = new Map(); // layer name -> {group, visible}
    this.items = []; // what is drawn: {kind, layer, place(), leaflet: [...], ...}
  }

  /** The datum of the tiles shown. */
  get crs() {
    return TILES[this.tiles].crs;
  }

  tileState(ok) {
    if (ok === this.tilesOk) return;
    this.tilesOk = ok;
    this.onTiles(ok);
  }

  /** [lat, lng] for Leaflet of a point in `crs`, in the datum of the tiles shown. */
  latLng(lng, lat, crs) {
    const [x, y] = convert(Number(lng), Number(lat), crs, this.crs);
    return L.latLng(y, x);
  }

  /** Show other tiles; the view and everything drawn move to the new datum. */
  useTiles(key) {
    if (!TILES[key] || key === this.tiles) return;
    const center = this.map.getCenter();
    const zoom = this.map.getZoom();
    const [lng, lat] = convert(center.lng, center.lat, this.crs, TILES[key].crs);
    this.map.removeLayer(this.layers[this.tiles]);
    this.tiles = key;
    this.tileState(true); // the new tiles get their own chance
    this.layers[key].addTo(this.map);
    this.map.setView([lat, lng], zoom, { animate: false });
    for (const item of this.items) item.place();
  }

  /** Execute one map_action command; unknown ops are ignored (returns false). */
  apply(action) {
    const op = action && action.op;
    return Object.hasOwn(COMMANDS, op) ? COMMANDS[op](this, action) : false;
  }

  /** The Leaflet group of a layer name (created, shown, on first use). */
  group(name) {
    if (!name) return this.defaultLayer;
    if (!this.named.has(name)) this.named.set(name, { group: L.layerGroup().addTo(this.map), visible: true });
    return this.named.get(name).group;
  }

  /** Record a drawn item and put its Leaflet layers on its group. */
  add(item) {
    const group = this.group(item.layer);
    for (const layer of item.leaflet) layer.addTo(group);
    item.place();
    this.items.push(item);
    return item;
  }

  remove(keep) {
    const gone = this.items.filter((item) => !keep(item));
    for (const item of gone) {
      const group = this.group(item.layer);
      for (const layer of item.leaflet) group.removeLayer(layer);
    }
    this.items = this.items.filter(keep);
  }

  visible(item) {
    return !item.layer || this.named.get(item.layer)?.visible !== false;
  }

  setView({ center, zoom, label }) {
    this.map.setView(this.latLng(center.lng, center.lat, center.crs), zoom, { animate: false });
    if (label) this.onStatus(String(label));
    return true;
  }

  addMarkers(action) {
    const added = [];
    for (const p of action.markers || []) {
      const label = String(p.label ?? "");
      const description = p.description ? String(p.description) : "";
      const marker = L.marker([0, 0], { alt: label, title: label, keyboard: true })
        .bindTooltip(textBox(label), { permanent: true, direction: "top", offset: [0, -36] })
        .bindPopup(textBox(label, description));
      const item = this.add({
        kind: "markers", layer: layerOf(action), label, leaflet: [marker],
        place: () => marker.setLatLng(this.latLng(p.lng, p.lat, p.crs)),
      });
      added.push(item.leaflet[0].getLatLng());
    }
    if (added.length) this.fitTo(added);
    return true;
  }

  addStops(action) {
    const color = colorOf(action, STOP_COLOR);
    const stops = [...(action.stops || [])].sort((a, b) => Number(a.number) - Number(b.number));
    const added = [];
    for (const p of stops) {
      const number = Math.trunc(Number(p.number)) || 0;
      const label = String(p.label ?? "");
      const badge = document.createElement("span");
      badge.className = "stop-number";
      badge.textContent = String(number);
      badge.style.backgroundColor = color; // CSSOM, not an inline style attribute: CSP allows it
      const icon = L.divIcon({ html: badge, className: "stop-icon", iconSize: [26, 26], iconAnchor: [13, 13] });
      const marker = L.marker([0, 0], { icon, alt: `${number}. ${label}`, title: `${number}. ${label}`, keyboard: true })
        .bindTooltip(textBox(`${number}. ${label}`), { direction: "top", offset: [0, -12] })
        .bindPopup(textBox(`${number}. ${label}`, p.description ? String(p.description) : ""));
      const item = this.add({
        kind: "stops", layer: layerOf(action), label, number, color, leaflet: [marker],
        place: () => marker.setLatLng(this.latLng(p.lng, p.lat, p.crs)),
      });
      added.push(item.leaflet[0].getLatLng());
    }
    if (added.length) this.fitTo(added);
    return true;
  }

  drawRoute(action) {
    const color = colorOf(action, ROUTE_COLOR);
    const line = L.polyline([], { ...ROUTE_STYLE, color });
    const tip = [action.mode === "walking" ? "步行" : action.mode === "driving" ? "驾车" : "路线"];
    if (action.distance_m) tip.push(`${(action.distance_m / 1000).toFixed(1)} 公里`);
    if (action.duration_s) tip.push(`约 ${Math.round(action.duration_s / 60)} 分钟`);
    line.bindTooltip(textBox(tip.join(" · ")), { sticky: true });
    const ends = [];
    for (const [end, fill] of [["origin", "#16a34a"], ["destination", "#dc2626"]]) {
      const p = action[end];
      if (!p) continue;
      const dot = L.circleMarker([0, 0], { ...END_STYLE, fillColor: fill })
        .bindTooltip(textBox(String(p.label ?? "")), { direction: "top" });
      ends.push({ point: p, layer: dot });
    }
    const crs = action.crs;
    const item = this.add({
      kind: "routes", layer: layerOf(action), color, line, ends, leaflet: [line, ...ends.map((e) => e.layer)],
      place: () => {
        line.setLatLngs((action.path || []).map(([lng, lat]) => this.latLng(lng, lat, crs)));
        for (const { point, layer } of ends) layer.setLatLng(this.latLng(point.lng, point.lat, point.crs));
      },
    });
    this.fitTo(item.line.getLatLngs());
    return true;
  }

  drawArea(action) {
    const kind = String(action.kind ?? "region");
    const color = colorOf(action, AREA_COLORS[kind] || AREA_COLORS.region);
    const label = String(action.label ?? "");
    // A GeoJSON MultiPolygon's coordinates: polygons of rings (outer first, then holes).
    const polygon = L.polygon([], { color, weight: 2, fillColor: color, fillOpacity: 0.15, className: `area area-${kind}` })
      .bindTooltip(textBox(label), { sticky: true });
    const crs = action.crs;
    const item = this.add({
      kind: "areas", layer: layerOf(action), label, area: kind, color, polygon, leaflet: [polygon],
      place: () => polygon.setLatLngs((action.polygons || []).map((rings) =>
        rings.map((ring) => ring.map(([lng, lat]) => this.latLng(lng, lat, crs))))),
    });
    const bounds = item.polygon.getBounds();
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [40, 40], animate: false, maxZoom: 17 });
    return true;
  }

  /** show | hide | clear everything drawn into the named layer. */
  layerCommand({ name, action }) {
    if (typeof name !== "string" || !name) return false;
    if (action === "clear") {
      this.remove((item) => item.layer !== name);
      return true;
    }
    if (action !== "show" && action !== "hide") return false;
    const entry = this.named.get(name) || (this.group(name), this.named.get(name));
    entry.visible = action === "show";
    if (entry.visible) entry.group.addTo(this.map);
    else this.map.removeLayer(entry.group);
    return true;
  }

  fitBounds({ bounds, padding }) {
    const sw = this.latLng(bounds.southwest.lng, bounds.southwest.lat, bounds.southwest.crs);
    const ne = this.latLng(bounds.northeast.lng, bounds.northeast.lat, bounds.northeast.crs);
    const pad = Number.isFinite(padding) ? padding : 40;
    this.map.fitBounds(L.latLngBounds(sw, ne), { padding: [pad, pad], animate: false });
    return true;
  }

  fitTo(latLngs) {
    if (latLngs.length === 1) this.map.setView(latLngs[0], Math.max(this.map.getZoom(), 15), { animate: false });
    else if (latLngs.length > 1) this.map.fitBounds(L.latLngBounds(latLngs), { padding: [40, 40], animate: false, maxZoom: 17 });
  }

  /** Remove markers, routes, stops, areas or all of them, in every layer. */
  clear(target) {
    if (target === "all") {
      this.remove(() => false);
      for (const { group } of this.named.values()) this.map.removeLayer(group);
      this.named.clear();
      return true;
    }
    if (!KINDS.includes(target)) return false;
    this.remove((item) => item.kind !== target);
    return true;
  }

  /** What is drawn, as shown (for tests and debugging: `window.geoMap.state()`); `visible`:
   * false for what a hidden layer holds. */
  state() {
    const point = (ll) => ({ lat: ll.lat, lng: ll.lng, ...this.map.latLngToContainerPoint(ll) });
    const of = (kind) => this.items.filter((item) => item.kind === kind);
    const common = (item) => ({ layer: item.layer, visible: this.visible(item) });
    return {
      tiles: this.tiles,
      crs: this.crs,
      tilesOk: this.tilesOk,
      zoom: this.map.getZoom(),
      center: this.map.getCenter(),
      markers: of("markers").map((m) => ({ label: m.label, ...point(m.leaflet[0].getLatLng()), ...common(m) })),
      routes: of("routes").map((r) => ({
        path: r.line.getLatLngs().map(point),
        ends: r.ends.map((e) => ({ label: String(e.point.label ?? ""), ...point(e.layer.getLatLng()) })),
        color: r.color,
        ...common(r),
      })),
      stops: of("stops").map((s) => ({
        number: s.number, label: s.label, color: s.color, ...point(s.leaflet[0].getLatLng()), ...common(s),
      })),
      areas: of("areas").map((a) => ({
        label: a.label, kind: a.area, color: a.color, ...common(a),
        polygons: a.polygon.getLatLngs().map((rings) => rings.map((ring) => ring.map(point))),
      })),
      layers: Object.fromEntries([...this.named].map(([name, e]) => [name, {
        visible: e.visible, count: this.items.filter((item) => item.layer === name).length,
      }])),
    };
  }
}
