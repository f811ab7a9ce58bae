// The project's own base maps, drawn by MapLibre GL JS from our own tiles (the portal is offline).
//
//   "map"        a simple city map from the vector tiles of the `streets` and `buildings` layers
//   "orthophoto" the aerial images (raster tiles)
//   "hillshade"  the shaded relief of the laser-scanned terrain (raster tiles)
//
// Which base maps exist, and their tile URLs, come from the web-map manifest
// (/assets/webmap.json, written by geoportal/app/webmap.py from the registry). A base map whose
// layers are not built is simply not offered. Labels (street names, house numbers) are drawn from
// the same tiles, district and place names from the `places` layer, with glyphs the portal renders itself (/assets/fonts/, geoportal/app/glyphs.py).
//
// Usage (MapLibre is loaded as a classic script, /assets/vendor/maplibre-gl/maplibre-gl.js):
//   const manifest = await loadManifest();
//   const map = createMap(container, { manifest, base: "orthophoto" });
//   setBase(map, manifest, "map");

export const MANIFEST_PATH = "/assets/webmap.json";
export const GLYPHS_PATH = "/assets/fonts/{fontstack}/{range}.pbf";
const FONT = ["DejaVu Sans"];
const HALO = { "text-halo-color": "#ffffff", "text-halo-width": 1.5 };

const BACKGROUND = "#f3f1ec";
const STREET_STYLE = {
  // class: [casing colour, fill colour, width at z12, width at z18]
  motorway: ["#b35900", "#f6a04d", 2.5, 18],
  primary: ["#b8a04a", "#fbe08a", 1.6, 14],
  secondary: ["#b9b0a2", "#ffffff", 1.2, 11],
  residential: ["#c4bcb0", "#ffffff", 0.8, 9],
  service: ["#cfc8bd", "#ffffff", 0.4, 5],
};

/** The web-map manifest (base maps, layer groups, fields, links). */
export async function loadManifest(url = absolute(MANIFEST_PATH)) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/**
 * A URL of the portal made absolute, as MapLibre needs. Manifest paths start with "/" and are
 * relative to the portal's root, which the page names in <body data-portal> (the server's
 * public URL, possibly with a path prefix behind a proxy); else the page's origin.
 */
export function absolute(path) {
  const root = (document.body && document.body.dataset.portal) || location.origin;
  return (root.replace(/\/$/, "") + path).replace(/%7B/g, "{").replace(/%7D/g, "}");
}

/** The base maps the manifest offers, in order: [{id, title, attribution}]. */
export function baseMaps(manifest) {
  return manifest.base || [];
}

function rasterSource(base) {
  return {
    type: "raster",
    tiles: [absolute(base.tiles)],
    tileSize: 256,
    minzoom: base.minzoom ?? 0,
    maxzoom: base.maxzoom ?? 19,
    bounds: base.bounds,
    attribution: base.attribution || "",
  };
}

function vectorSource(source) {
  return {
    type: "vector",
    tiles: [absolute(source.tiles)],
    minzoom: source.minzoom ?? 0,
    maxzoom: source.maxzoom ?? 16,
    bounds: source.bounds,
  };
}

function streetLayers(sourceId, sourceLayer, classField) {
  const layers = [];
  const classes = Object.entries(STREET_STYLE).reverse(); // small streets first, motorway on top
  for (const [part, colourIndex, extra] of [["casing", 0, 1.5], ["fill", 1, 0]]) {
    for (const [klass, style] of classes) {
      layers.push({
        id: `base-map-street-${klass}-${part}`,
        type: "line",
        source: sourceId,
        "source-layer": sourceLayer,
        filter: ["==", ["get", classField], klass],
        layout: { "line-cap": "round", "line-join": "round" },
        paint: {
          "line-color": style[colourIndex],
          "line-width": ["interpolate", ["exponential", 1.6], ["zoom"],
            12, style[2] + extra * 0.5, 18, style[3] + extra * 2],
        },
      });
    }
  }
  return layers;
}

/** Street names along the lines: main streets from zoom 13, the rest from 15. */
function streetLabels(sourceId, sourceLayer, classField) {
  return [{
    id: "base-map-street-labels",
    type: "symbol",
    source: sourceId,
    "source-layer": sourceLayer,
    minzoom: 13,
    filter: ["any", [">=", ["zoom"], 15], ["in", ["get", classField], ["literal", ["motorway", "primary", "secondary"]]]],
    layout: {
      "symbol-placement": "line",
      "text-field": ["get", "name"],
      "text-font": FONT,
      "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10, 18, 14],
      "symbol-spacing": 300,
      "text-max-angle": 35,
    },
    paint: { "text-color": "#3d3a35", ...HALO },
  }];
}

/** The house number of an ALKIS address ("Werdener Straße 12a" → "12a"): what follows the
 * street name, which holds no digit; "" for a building without one. */
function houseNumber(field) {
  const at = (digit) => ["case", [">=", ["index-of", digit, ["get", field]], 0],
    ["index-of", digit, ["get", field]], 9999];
  const first = ["min", ...["1", "2", "3", "4", "5", "6", "7", "8", "9"].map(at)];
  return ["case", ["<", first, 9999], ["slice", ["get", field], first], ""];
}

function houseNumberLabels(sourceId, sourceLayer) {
  return [{
    id: "base-map-house-numbers",
    type: "symbol",
    source: sourceId,
    "source-layer": sourceLayer,
    minzoom: 17,
    filter: ["has", "address"],
    layout: { "text-field": houseNumber("address"), "text-font": FONT, "text-size": 11 },
    paint: { "text-color": "#6b5e52", ...HALO },
  }];
}

/** District names (large, spaced capitals) from zoom 11 to 16 and named places (the Rathaus,
 * the Marktplatz, a station) from 14, from the `places` layer's GeoJSON. */
function placeLabels(sourceId) {
  const district = ["==", ["get", "kind"], "Stadtteil"];
  return [{
    id: "base-map-district-labels",
    type: "symbol",
    source: sourceId,
    minzoom: 11,
    maxzoom: 16,
    filter: district,
    layout: {
      "text-field": ["get", "name"], "text-font": FONT, "text-transform": "uppercase",
      "text-letter-spacing": 0.12, "text-size": ["interpolate", ["linear"], ["zoom"], 11, 12, 15, 17],
    },
    paint: { "text-color": "#5b4f72", ...HALO },
  }, {
    id: "base-map-place-labels",
    type: "symbol",
    source: sourceId,
    minzoom: 14,
    filter: ["!", district],
    layout: {
      "text-field": ["get", "name"], "text-font": FONT, "text-size": 12,
      "text-variable-anchor": ["top", "bottom", "left", "right"], "text-radial-offset": 0.4,
    },
    paint: { "text-color": "#1f1b16", ...HALO },
  }];
}

/** The "map" base: background, building footprints and streets from our vector tiles. */
function cityMapLayers(base) {
  const layers = [];
  const sources = base.sources || {};
  if (sources.buildings) {
    layers.push({
      id: "base-map-buildings",
      type: "fill",
      source: "base-buildings",
      "source-layer": sources.buildings.source_layer,
      paint: { "fill-color": "#d9d0c9", "fill-outline-color": "#b5a89c" },
    });
  }
  if (sources.streets) {
    layers.push(...streetLayers("base-streets", sources.streets.source_layer,
      sources.streets.class_field || "road_class"));
    layers.push(...streetLabels("base-streets", sources.streets.source_layer,
      sources.streets.class_field || "road_class"));
  }
  if (sources.buildings) layers.push(...houseNumberLabels("base-buildings", sources.buildings.source_layer));
  if (sources.places) layers.push(...placeLabels("base-places"));
  return layers;
}

/** A MapLibre style holding every base map; the one not chosen are hidden. */
export function baseStyle(manifest, chosen) {
  const style = {
    version: 8,
    glyphs: absolute(GLYPHS_PATH),
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": BACKGROUND } }],
  };
  for (const base of baseMaps(manifest)) {
    const visibility = base.id === chosen ? "visible" : "none";
    let layers = [];
    if (base.kind === "raster") {
      style.sources[`base-${base.id}`] = rasterSource(base);
      layers = [{ id: `base-${base.id}`, type: "raster", source: `base-${base.id}` }];
    } else if (base.kind === "vector") {
      for (const [name, source] of Object.entries(base.sources || {})) {
        style.sources[`base-${name}`] = source.kind === "geojson"
          ? { type: "geojson", data: absolute(source.data) } : vectorSource(source);
      }
      layers = cityMapLayers(base);
    }
    for (const layer of layers) {
      layer.layout = { ...(layer.layout || {}), visibility };
      layer.metadata = { base: base.id };
      style.layers.push(layer);
    }
  }
  return style;
}

/** Show base map `id` (hide the others); unknown ids leave only the plain background. */
export function setBase(map, manifest, id) {
  for (const layer of map.getStyle().layers) {
    const owner = layer.metadata && layer.metadata.base;
    if (owner) map.setLayoutProperty(layer.id, "visibility", owner === id ? "visible" : "none");
  }
}

/** The manifest's area of interest as MapLibre bounds ([[w, s], [e, n]]). */
export function manifestBounds(manifest) {
  const [w, s, e, n] = manifest.bbox || [6.8, 51.27, 6.9, 51.33];
  return [[w, s], [e, n]];
}

/**
 * A MapLibre map with the project's base maps in `container`.
 *
 * options: manifest (required), base (id of the base map shown first, default: the first
 * offered), center/zoom (else the manifest's bbox is fitted), bearing/pitch, label (the map's
 * accessible name).
 */
export function createMap(container, options) {
  const { manifest, center, zoom, label, bearing = 0, pitch = 0 } = options;
  const offered = baseMaps(manifest).map((b) => b.id);
  const base = offered.includes(options.base) ? options.base : offered[0];
  const view = center && zoom != null ? { center, zoom, bearing, pitch } : { bounds: manifestBounds(manifest) };
  const map = new maplibregl.Map({
    container,
    style: baseStyle(manifest, base),
    ...view,
    maxZoom: 20,
    attributionControl: { compact: true },
    // keep the default keyboard handler: arrows pan, +/- zoom when the map has focus
  });
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  const canvas = map.getCanvas();
  canvas.setAttribute("aria-label", label || "Karte");
  canvas.setAttribute("role", "region");
  map.baseId = base;
  return map;
}
