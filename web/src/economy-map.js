// The offers on the map: the project's base map (basemap.js) plus one GeoJSON circle layer.
// Clicking a circle (or "show on the map" in the table) opens the offer's details.

import { createMap, loadManifest } from "./basemap.js";

const KIND_COLOURS = ["match", ["get", "kind"],
  "Büro", "#00549f", "Halle", "#b35900", "Grundstück", "#2e7d32", "#555555"];
const MAX_FIT_ZOOM = 16;

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
      resolve(map);
      if (pending) show(pending);
    });
  }));

  let current = [];

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

  return { show, open, ready, get map() { return map; } };
}
