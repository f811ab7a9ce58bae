// The offers on the map: the project's base map (basemap.js) plus one GeoJSON circle layer.
// Clicking a circle (or "show on the map" in the table) opens the offer's details.

import { absolute, createMap, loadManifest } from "./basemap.js";

const KIND_COLOURS = ["match", ["get", "kind"],
  "Büro", "#00549f", "Halle", "#b35900", "Grundstück", "#2e7d32", "#555555"];
const MAX_FIT_ZOOM = 16;
//: The targets the distances are measured to (the published layer `transport_hubs`), by kind:
//: [colour, letter] — the airport, a motorway junction (sign blue), an S-Bahn station (S green).
export const TARGET_STYLE = {
  Flughafen: ["#222222", "F"],
  Autobahnanschluss: ["#1a4f8b", "A"],
  "S-Bahn-Haltestelle": ["#006f3c", "S"],
};
const byKind = (i) => ["match", ["get", "kind"],
  ...Object.entries(TARGET_STYLE).flatMap(([kind, style]) => [kind, style[i]]), "#555555"];

/** The airport, junctions and stations as lettered circles under the offers, named from
 * zoom 13 (their layer's features, fetched once: a few dozen points). */
async function addTargets(map, manifest) {
  const layer = manifest.layers.transport_hubs;
  if (!layer || !layer.items) return;
  const response = await fetch(`${absolute(layer.items)}?f=json&limit=1000`);
  if (!response.ok) return;
  const data = await response.json();
  map.addSource("targets", { type: "geojson", data });
  const below = map.getLayer("offers") ? "offers" : undefined;
  map.addLayer({
    id: "targets", type: "circle", source: "targets",
    paint: { "circle-radius": 9, "circle-color": byKind(0), "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 2 },
  }, below);
  map.addLayer({
    id: "targets-letter", type: "symbol", source: "targets",
    layout: { "text-field": byKind(1), "text-font": ["DejaVu Sans"], "text-size": 12,
      "text-allow-overlap": true, "text-ignore-placement": true },
    paint: { "text-color": "#ffffff" },
  }, below);
  map.addLayer({
    id: "targets-name", type: "symbol", source: "targets", minzoom: 13,
    layout: { "text-field": ["get", "name"], "text-font": ["DejaVu Sans"], "text-size": 12,
      "text-anchor": "left", "text-offset": [1.1, 0] },
    paint: { "text-color": "#1f1b16", "text-halo-color": "#ffffff", "text-halo-width": 1.5 },
  }, below);
  return data.features || [];
}

function collection(features) {
  return { type: "FeatureCollection", features };
}

function bounds(features) {
  const b = new maplibregl.LngLatBounds();
  for (const f of features) if (f.geometry) b.extend(f.geometry.coordinates);
  return b;
}

/**
 * A map of offers in `container`. options: label (accessible name), format(feature) -> the
 * popup's DOM content. Returns {show(features), open(feature), ready}: `ready` resolves with
 * the MapLibre map once its style has loaded; show/open called earlier take effect then.
 */
export function offersMap(container, { label, format }) {
  let map = null;
  let pending = null;
  let popup = null;

  const ready = loadManifest().then((manifest) => new Promise((resolve) => {
    map = createMap(container, { manifest, label, base: "map" });
    map.on("load", () => {
      map.addSource("offers", { type: "geojson", data: collection([]) });
      map.addLayer({
        id: "offers", type: "circle", source: "offers",
        paint: {
          "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 5, 17, 10],
          "circle-color": KIND_COLOURS,
          "circle-stroke-color": "#ffffff",
          "circle-stroke-width": 2,
        },
      });
      map.on("click", "offers", (e) => openAt(e.features[0].properties.offer_id));
      map.on("mouseenter", "offers", () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", "offers", () => { map.getCanvas().style.cursor = ""; });
      addTargets(map, manifest).then((found) => { targets = found || []; }).catch(() => {})
        .finally(() => {
          map.getContainer().dataset.targets = map.getSource("targets") ? "shown" : "none";
        });
      resolve(map);
      if (pending) show(pending);
    });
  }));

  let current = [];
  let targets = [];

  function openAt(id) {
    const f = current.find((x) => x.id === id || x.properties.offer_id === id);
    if (f) open(f);
  }

  function show(features) {
    current = features;
    if (!map || !map.getSource("offers")) {
      pending = features;
      return;
    }
    pending = null;
    if (popup) popup.remove();
    map.getSource("offers").setData(collection(features));
    if (features.length) {
      map.fitBounds(bounds(features), { padding: 40, maxZoom: MAX_FIT_ZOOM, duration: 0 });
    }
  }

  function open(f) {
    if (!map || !f.geometry) return;
    if (popup) popup.remove();
    popup = new maplibregl.Popup({ maxWidth: "22rem", focusAfterOpen: true })
      .setLngLat(f.geometry.coordinates)
      .setDOMContent(format(f))
      .addTo(map);
    // the offer a quarter from the top, so the popup below it fits into the map
    const offset = [0, -map.getContainer().clientHeight / 4];
    map.easeTo({ center: f.geometry.coordinates, offset, duration: 0 });
  }

  return {
    show, open, ready, get map() { return map; },
    /** The names of the targets drawn (airport, junctions, stations). */
    targets: () => targets.map((f) => f.properties.name),
  };
}
