// The citizens' web map at "/": wires the base map, the layer tree, popups, search, "near me",
// the permalink and the table view together. Everything about the datasets comes from the
// manifest (/assets/webmap.json); this file only knows the page.

import { createMap, loadManifest } from "./basemap.js";
import { initClimate } from "./climate.js";
import { getLang, initialLang, localisePageLinks, setLang, t } from "./i18n.js";
import { Layers } from "./layers.js";
import { readHash, trackHash } from "./permalink.js";
import { closePopup, showHtmlPopup, showPopup } from "./popup.js";
import { valueAt, valueHtml, valueSources } from "./rastervalue.js";
import { featureOf, initSearch, showGenus } from "./search.js";
import { initTable, openTable } from "./table.js";
import { Tools } from "./tools.js";
import { renderBaseMaps, renderTree, updateTreeItem } from "./tree.js";
import { View3d } from "./view3d.js";

// a phone upright, or on its side (844 × 390 is wider than 720 px, but no room for a side panel);
// the same query as the phone layout in webmap.css
const PHONE = window.matchMedia("(max-width: 720px), (max-height: 500px) and (max-width: 1024px)");
const $ = (selector) => document.querySelector(selector);
// a click hits a symbol within this many pixels: 44 × 44 px for a finger (WCAG 2.5.5), 24 × 24
// for a mouse (WCAG 2.5.8), however small the symbol is drawn
const COARSE = window.matchMedia("(pointer: coarse)");
const hitRadius = () => (COARSE.matches || PHONE.matches ? 22 : 12);

/** A point to put a popup on: the point itself, else the middle of the geometry's box. */
function anchorOf(geometry) {
  if (!geometry) return null;
  if (geometry.type === "Point") return geometry.coordinates;
  const xs = [];
  const ys = [];
  const walk = (c) => (typeof c[0] === "number" ? (xs.push(c[0]), ys.push(c[1])) : c.forEach(walk));
  walk(geometry.coordinates);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

/** On phones the panel is a drawer over the map: open or close it. */
function setPanelOpen(open) {
  const toggle = $("#panel-toggle");
  document.body.classList.toggle("panel-closed", !open);
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = t(open ? "panel.close" : "panel.open");
}

function initPanel(map) {
  const sync = () => {
    setPanelOpen(!PHONE.matches);
    map.resize();
  };
  PHONE.addEventListener("change", sync);
  $("#panel-toggle").addEventListener("click", () => {
    setPanelOpen(document.body.classList.contains("panel-closed"));
    map.resize();
  });
  sync();
}

/** Keep the language link offering the other language, for the same view. */
function updateLangLink() {
  const link = $("#lang-switch");
  const other = getLang() === "en" ? "de" : "en";
  const url = new URL(link.href);
  url.searchParams.set("lang", other);
  url.hash = location.hash;
  link.href = url.href;
  link.lang = other;
  link.textContent = other === "en" ? "English" : "Deutsch";
  link.setAttribute("aria-label", other === "en" ? "Switch to English" : "Auf Deutsch umschalten");
}

function initNearMe(map) {
  const status = $("#near-status");
  let marker = null;
  $("#near-me").addEventListener("click", () => {
    if (!("geolocation" in navigator)) {
      status.textContent = t("near.unavailable");
      return;
    }
    navigator.geolocation.getCurrentPosition((position) => {
      const here = [position.coords.longitude, position.coords.latitude];
      if (marker) marker.remove();
      marker = new maplibregl.Marker({ color: "#00549f" }).setLngLat(here).addTo(map);
      marker.getElement().setAttribute("aria-label", t("near.found"));
      marker.getElement().setAttribute("role", "img");
      map.flyTo({ center: here, zoom: Math.max(map.getZoom(), 16) });
      status.textContent = t("near.found");
    }, () => {
      status.textContent = t("near.denied");
    }, { enableHighAccuracy: true, timeout: 10000 });
  });
}

async function main() {
  setLang(initialLang());
  const manifest = await loadManifest();
  const state = readHash();
  const view = state.zoom != null ? { center: [state.lon, state.lat], zoom: state.zoom,
    bearing: state.bearing || 0, pitch: state.pitch || 0 } : {};
  const map = createMap($("#map"), { manifest, base: state.base || "map", ...view, label: t("map.label") });
  let base = map.baseId;

  const tree = $("#layer-tree");
  let updateHash = () => {};
  let climate = () => {};
  const layers = new Layers(map, manifest, {
    onChange: (id) => {
      updateTreeItem(tree, layers, id);
      climate(id);
      updateHash();
    },
  });

  const show = (layer, feature, { focus = true } = {}) => {
    const anchor = anchorOf(feature.geometry);
    if (!anchor) return;
    if (layer.draw && !layers.isVisible(layer.id) && layer.group) layers.setVisible(layer.id, true);
    if (PHONE.matches) setPanelOpen(false);
    // an open table covers the map's lower part: the feature goes just above the table and
    // its popup opens upwards from there, not behind the table
    const table = $("#table-view");
    const frame = map.getContainer().getBoundingClientRect();
    const above = table.hidden ? null : table.getBoundingClientRect().top - frame.top - 28;
    const offset = above === null ? [0, 0] : [0, above - frame.height / 2];
    map.easeTo({ center: anchor, zoom: Math.max(map.getZoom(), 17), duration: 400, offset });
    map.once("moveend", () => showPopup(map, layer, feature.properties || {}, anchor,
      { focus, anchor: above === null ? undefined : "bottom" }));
  };

  renderBaseMaps($("#base-maps"), map, manifest, base, (id) => {
    base = id;
    updateHash();
  });
  const tableView = $("#table-view");
  initTable(tableView);
  let drawerWasOpen = false;
  renderTree(tree, manifest, layers, (id, button) => {
    // on a phone the drawer covers the map and would hide the table: close it meanwhile
    drawerWasOpen = PHONE.matches && !document.body.classList.contains("panel-closed");
    if (drawerWasOpen) setPanelOpen(false);
    openTable(tableView, manifest.layers[id], map, { from: button, onShow: show });
  });
  climate = initClimate(tree, manifest, layers); // the heavy-rain scenario switch
  tableView.addEventListener("close", () => {
    if (drawerWasOpen && PHONE.matches) setPanelOpen(true);
    drawerWasOpen = false;
  });
  initPanel(map);
  initNearMe(map);

  initSearch({
    form: $("#search"), input: $("#search-input"), list: $("#search-list"),
    status: $("#search-status"), manifest,
    onPick: async (hit) => (hit.kind === "species"
      ? showGenus(hit, { map, layers, box: $("#search-results") })
      : show(hit.layer, await featureOf(hit))),
  });

  map.on("click", async (event) => {
    if (window.geoportal?.tools?.active()) return; // measuring or marking: the tool has the click
    const { x, y } = event.point;
    const r = hitRadius();
    const hits = map.queryRenderedFeatures([[x - r, y - r], [x + r, y + r]], { layers: layers.clickableIds() });
    if (!hits.length) {
      closePopup();
      const sources = valueSources(manifest, layers, base);
      const at = [event.lngLat.lng, event.lngLat.lat];
      const found = (await Promise.all(sources.map(async (source) => ({ source, value: await valueAt(source, at) }))))
        .filter((f) => f.value !== null);
      if (found.length) showHtmlPopup(map, valueHtml(found, at), event.lngLat, t("value.title"));
      return;
    }
    const hit = hits[0];
    const layer = manifest.layers[hit.layer.metadata.overlay || hit.layer.metadata.popup];
    const full = layers.find(layer.id, hit.id);
    const properties = full ? full.properties : hit.properties;
    const anchor = layer.geometry === "Point" && full ? full.geometry.coordinates : event.lngLat;
    showPopup(map, layer, properties, anchor);
  });
  map.on("mousemove", (event) => {
    const ids = layers.clickableIds();
    const over = ids.length && map.queryRenderedFeatures(event.point, { layers: ids }).length;
    map.getCanvas().style.cursor = over ? "pointer" : "";
  });

  // after the popup's click handler: a tool's click is seen as a tool's by both
  const tools = new Tools(map, manifest, layers, { getBase: () => base, onMark: () => updateHash() });
  tools.setMark(state.mark);
  const view3d = new View3d(map, manifest, { onChange: () => updateHash() });
  map.on("load", () => {
    updateHash = trackHash(map, () => ({ base, layers: layers.visibleIds(), mark: tools.mark(),
      view: view3d.on ? "3d" : undefined }));
    if (state.view === "3d") view3d.enable({ pitch: state.pitch, bearing: state.bearing, animate: false });
    for (const id of state.layers || []) layers.setVisible(id, true);
    updateHash();
    document.body.dataset.readyMs = String(Math.round(performance.now())); // first map frame
    document.body.dataset.ready = "true";
  });
  window.addEventListener("permalink", updateLangLink);
  updateLangLink();
  localisePageLinks();
  window.geoportal = { map, layers, manifest, tools, view3d };
}

main().catch((error) => {
  console.error(error);
  $("#map").textContent = `${t("layers.failed")}: ${error.message}`;
});
