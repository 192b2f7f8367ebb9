// The map: executes the toolkit's map_action commands (tools/map_commands.py) on Leaflet, on AMap
// tiles (GCJ-02) or OpenStreetMap tiles (WGS-84). Every command point carries its `crs`; the
// map keeps the commands as sent and converts to the datum of the tiles shown, so switching
// layers redraws everything in place.
import { convert } from "./coords.js";

/* global L */

export const TILES = {
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

const ROUTE_STYLE = { color: "#1d4ed8", weight: 5, opacity: 0.85 };
const END_STYLE = { radius: 7, weight: 2, color: "#ffffff", fillOpacity: 1 };

/** What each map_action command does: exactly the commands of map_action.schema.json
 * (tools/map_commands.py; tests/web/test_map_schema.py compares the two). */
export const COMMANDS = Object.freeze({
  set_view: (map, action) => map.setView(action),
  add_markers: (map, action) => map.addMarkers(action),
  draw_route: (map, action) => map.drawRoute(action),
  fit_bounds: (map, action) => map.fitBounds(action),
  clear: (map, action) => map.clear(action.target || "all"),
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

export class GeoMap {
  /** `element`: the map's container; `tiles`: "amap" | "osm"; `onStatus(text)`: view labels. */
  constructor(element, tiles = "amap", onStatus = () => {}) {
    this.map = L.map(element, { zoomControl: true, keyboard: true }).setView([39.909, 116.397], 11);
    this.onStatus = onStatus;
    this.layers = Object.fromEntries(
      Object.entries(TILES).map(([key, t]) => [key, L.tileLayer(t.url, t.options)]),
    );
    this.tiles = TILES[tiles] ? tiles : "amap";
    this.layers[this.tiles].addTo(this.map);
    this.markerLayer = L.layerGroup().addTo(this.map);
    this.routeLayer = L.layerGroup().addTo(this.map);
    this.markers = []; // {label, description, lng, lat, crs, layer}
    this.routes = []; // {action, line, ends}
  }

  /** The datum of the tiles shown. */
  get crs() {
    return TILES[this.tiles].crs;
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
    this.layers[key].addTo(this.map);
    this.map.setView([lat, lng], zoom, { animate: false });
    for (const m of this.markers) m.layer.setLatLng(this.latLng(m.lng, m.lat, m.crs));
    for (const r of this.routes) this.placeRoute(r);
  }

  /** Execute one map_action command; unknown ops are ignored (returns false). */
  apply(action) {
    const op = action && action.op;
    return Object.hasOwn(COMMANDS, op) ? COMMANDS[op](this, action) : false;
  }

  setView({ center, zoom, label }) {
    this.map.setView(this.latLng(center.lng, center.lat, center.crs), zoom, { animate: false });
    if (label) this.onStatus(String(label));
    return true;
  }

  addMarkers({ markers }) {
    const added = [];
    for (const p of markers || []) {
      const label = String(p.label ?? "");
      const description = p.description ? String(p.description) : "";
      const layer = L.marker(this.latLng(p.lng, p.lat, p.crs), { alt: label, title: label, keyboard: true })
        .bindTooltip(textBox(label), { permanent: true, direction: "top", offset: [0, -36] })
        .bindPopup(textBox(label, description));
      layer.addTo(this.markerLayer);
      const entry = { label, description, lng: p.lng, lat: p.lat, crs: p.crs, layer };
      this.markers.push(entry);
      added.push(entry.layer.getLatLng());
    }
    if (added.length) this.fitTo(added);
    return true;
  }

  drawRoute(action) {
    const route = { action, line: null, ends: [] };
    route.line = L.polyline([], ROUTE_STYLE).addTo(this.routeLayer);
    const tip = [action.mode === "walking" ? "步行" : action.mode === "driving" ? "驾车" : "路线"];
    if (action.distance_m) tip.push(`${(action.distance_m / 1000).toFixed(1)} 公里`);
    if (action.duration_s) tip.push(`约 ${Math.round(action.duration_s / 60)} 分钟`);
    route.line.bindTooltip(textBox(tip.join(" · ")), { sticky: true });
    for (const [end, color] of [["origin", "#16a34a"], ["destination", "#dc2626"]]) {
      const p = action[end];
      if (!p) continue;
      const dot = L.circleMarker([0, 0], { ...END_STYLE, fillColor: color })
        .bindTooltip(textBox(String(p.label ?? "")), { direction: "top" });
      dot.addTo(this.routeLayer);
      route.ends.push({ point: p, layer: dot });
    }
    this.routes.push(route);
    this.placeRoute(route);
    this.fitTo(route.line.getLatLngs());
    return true;
  }

  placeRoute(route) {
    const crs = route.action.crs;
    route.line.setLatLngs((route.action.path || []).map(([lng, lat]) => this.latLng(lng, lat, crs)));
    for (const { point, layer } of route.ends) layer.setLatLng(this.latLng(point.lng, point.lat, point.crs));
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

  clear(target) {
    if (target === "all" || target === "markers") {
      this.markerLayer.clearLayers();
      this.markers = [];
    }
    if (target === "all" || target === "routes") {
      this.routeLayer.clearLayers();
      this.routes = [];
    }
    return true;
  }

  /** What is drawn, as shown (for tests and debugging: `window.geoMap.state()`). */
  state() {
    const point = (ll) => ({ lat: ll.lat, lng: ll.lng, ...this.map.latLngToContainerPoint(ll) });
    return {
      tiles: this.tiles,
      crs: this.crs,
      zoom: this.map.getZoom(),
      center: this.map.getCenter(),
      markers: this.markers.map((m) => ({ label: m.label, ...point(m.layer.getLatLng()) })),
      routes: this.routes.map((r) => ({
        path: r.line.getLatLngs().map(point),
        ends: r.ends.map((e) => ({ label: String(e.point.label ?? ""), ...point(e.layer.getLatLng()) })),
      })),
    };
  }
}
