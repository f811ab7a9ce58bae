// The project's own base maps, drawn by MapLibre GL JS from our own tiles (the portal is offline).
//
//   "map"        a simple city map from the vector tiles of the `streets` and `buildings` layers
//   "orthophoto" the aerial images (raster tiles)
//   "hillshade"  the shaded relief of the laser-scanned terrain (raster tiles)
//
// Which base maps exist, and their tile URLs, come from the web-map manifest
// (/assets/webmap.json, written by geoportal/app/webmap.py from the registry). A base map whose
// layers are not built is simply not offered. No text labels: they would need glyph files.
//
// Usage (MapLibre is loaded as a classic script, /assets/vendor/maplibre-gl/maplibre-gl.js):
//   const manifest = await loadManifest();
//   const map = createMap(container, { manifest, base: "orthophoto" });
//   setBase(map, manifest, "map");

export const MANIFEST_PATH = "/assets/webmap.json";

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
  }
  return layers;
}

/** A MapLibre style holding every base map; the one not chosen are hidden. */
export function baseStyle(manifest, chosen) {
  const style = {
    version: 8,
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
        style.sources[`base-${name}`] = vectorSource(source);
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
 * offered), center/zoom (else the manifest's bbox is fitted), label (the map's accessible name).
 */
export function createMap(container, options) {
  const { manifest, center, zoom, label } = options;
  const offered = baseMaps(manifest).map((b) => b.id);
  const base = offered.includes(options.base) ? options.base : offered[0];
  const view = center && zoom != null ? { center, zoom } : { bounds: manifestBounds(manifest) };
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
