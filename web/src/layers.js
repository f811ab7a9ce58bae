// The overlay layers: switching them on and off, loading their features, drawing them.
//
// How a layer is drawn comes from the manifest (`draw.kind`):
//   features  GeoJSON from /collections/<id>/items for the current map view (reloaded after
//             each move, so the city-wide layers stay light), drawn as circles, lines or areas;
//   vector    MVT from OGC API Tiles (parcels, buildings);
//   raster    PNG/JPEG map tiles (canopy height, hillshade, CIR imagery).
// The loaded features are kept per layer: the popup, the search and the table view read them.

import { absolute } from "./basemap.js";
import { addSymbols } from "./symbols.js";

const MAX_FEATURES = 5000; // per layer and view; the table says when a view holds more
const RANK = { raster: 0, fill: 1, line: 2, circle: 3 }; // draw order: areas under lines under points

/** The query parameters that narrow a layer to the genus chosen in the search (search.js
 * showGenus sets `layer.activeFilter`, a CQL2 text); "" when it is not narrowed. */
export function narrowing(layer) {
  return layer.activeFilter
    ? `&filter-lang=cql2-text&filter=${encodeURIComponent(layer.activeFilter)}` : "";
}

/** The MapLibre layer type for a manifest geometry type. */
function kindOf(geometry) {
  if (/Point/.test(geometry || "")) return "circle";
  if (/LineString/.test(geometry || "")) return "line";
  return "fill";
}

function paintFor(type, colour, tiled) {
  if (type === "circle") {
    return {
      "circle-color": colour,
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 3, 16, 6, 19, 9],
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1.2,
    };
  }
  if (type === "line") {
    return { "line-color": colour, "line-width": ["interpolate", ["linear"], ["zoom"], 12, 2, 18, 5] };
  }
  return { "fill-color": colour, "fill-opacity": tiled ? 0.12 : 0.3 };
}

/** An area layer's colour: one colour, or by its legend's classes of `legend.field`
 * (a class without a value takes every other value). */
function classColour(layer) {
  const legend = layer.legend || {};
  if (legend.kind !== "area" || !legend.field || !(legend.classes || []).length) return layer.colour;
  const fallback = (legend.classes.find((c) => c.value === null) || {}).colour || layer.colour;
  const pairs = legend.classes.filter((c) => c.value !== null).flatMap((c) => [c.value, c.colour]);
  return pairs.length ? ["match", ["get", legend.field], ...pairs, fallback] : fallback;
}

export class Layers {
  constructor(map, manifest, { onChange } = {}) {
    this.map = map;
    this.manifest = manifest;
    this.visible = new Set();
    this.collections = new Map(); // id -> {features, matched}
    this.status = new Map(); // id -> "loading" | "ok" | "failed"
    this.requests = new Map(); // id -> sequence number of the newest request
    this.onChange = onChange || (() => {});
    map.on("moveend", () => this.reloadFeatures());
  }

  layer(id) {
    return this.manifest.layers[id];
  }

  isVisible(id) {
    return this.visible.has(id);
  }

  /** The ids of the visible overlays, in tree order (for the permalink). */
  visibleIds() {
    return Object.keys(this.manifest.layers).filter((id) => this.visible.has(id));
  }

  /** The loaded features of a layer (GeoJSON features; empty when not loaded). */
  features(id) {
    return (this.collections.get(id) || {}).features || [];
  }

  matched(id) {
    return (this.collections.get(id) || {}).matched;
  }

  /** MapLibre layer ids a click can hit, each with its manifest layer id in metadata
   * (`overlay`; the 3D view's buildings and crowns name the layer whose popup they show:
   * `popup`). */
  clickableIds() {
    return (this.map.getStyle().layers || [])
      .filter((l) => l.metadata && (l.metadata.overlay || l.metadata.popup) && l.type !== "raster")
      .map((l) => l.id);
  }

  setVisible(id, on) {
    const layer = this.layer(id);
    if (!layer || !layer.draw || on === this.visible.has(id)) return;
    if (on) {
      this.visible.add(id);
      this.addToMap(layer);
      if (layer.draw.kind === "features") this.load(layer);
    } else {
      this.visible.delete(id);
      this.removeFromMap(id);
      this.collections.delete(id);
      this.status.delete(id);
    }
    this.onChange(id);
  }

  addToMap(layer) {
    const source = `ov-${layer.id}`;
    const draw = layer.draw;
    if (draw.kind === "raster") {
      this.map.addSource(source, {
        type: "raster", tiles: [absolute(draw.tiles)], tileSize: 256, bounds: draw.bounds,
        minzoom: draw.minzoom, maxzoom: draw.maxzoom, attribution: layer.attribution || "",
      });
      this.insert({ id: `${source}-raster`, type: "raster", source, paint: { "raster-opacity": 0.75 } }, layer);
      return;
    }
    const tiled = draw.kind === "vector";
    if (tiled) {
      this.map.addSource(source, {
        type: "vector", tiles: [absolute(draw.tiles)], bounds: draw.bounds,
        minzoom: draw.minzoom, maxzoom: draw.maxzoom,
        promoteId: layer.id_field, attribution: layer.attribution || "",
      });
    } else {
      this.map.addSource(source, {
        type: "geojson", data: { type: "FeatureCollection", features: [] },
        promoteId: layer.id_field, attribution: layer.attribution || "",
      });
    }
    const type = kindOf(layer.geometry);
    const common = { source, ...(tiled ? { "source-layer": draw.source_layer } : {}) };
    if (type === "circle" && layer.legend && layer.legend.kind === "symbols") {
      // a shape per layer, sized for reading; a layer's `order` puts it above or below the
      // other point layers (toilets over trees), whatever was switched on first
      this.insert({
        id: `${source}-symbol`, type: "symbol", ...common,
        layout: {
          "icon-image": addSymbols(this.map, layer),
          "icon-size": ["interpolate", ["linear"], ["zoom"], 12, 0.55, 16, 1, 19, 1.25],
          "icon-allow-overlap": true, "icon-ignore-placement": true,
        },
      }, layer, RANK.circle + (layer.legend.order || 0) / 1000);
      return;
    }
    const colour = classColour(layer);
    const paint = paintFor(type, colour, tiled);
    if (colour !== layer.colour) paint["fill-opacity"] = 0.7; // classes are read from the fill
    this.insert({ id: `${source}-${type}`, type, ...common, paint }, layer);
    if (type === "fill") {
      this.insert({
        id: `${source}-outline`, type: "line", ...common,
        paint: { "line-color": colour, "line-width": tiled ? 0.8 : 1.5 },
      }, layer, "fill");
    }
  }

  /** Add a MapLibre layer above the base maps, below overlays of a higher rank. */
  insert(spec, layer, rankAs) {
    const rank = typeof rankAs === "number" ? rankAs : RANK[rankAs || spec.type] ?? 1;
    spec.metadata = { overlay: layer.id, rank };
    const above = (this.map.getStyle().layers || []).find(
      (l) => l.metadata && l.metadata.overlay && l.metadata.rank > rank,
    );
    this.map.addLayer(spec, above ? above.id : undefined);
  }

  removeFromMap(id) {
    for (const l of this.map.getStyle().layers || []) {
      if (l.metadata && l.metadata.overlay === id) this.map.removeLayer(l.id);
    }
    if (this.map.getSource(`ov-${id}`)) this.map.removeSource(`ov-${id}`);
  }

  /** The current view as a lon/lat bbox parameter. */
  viewBbox() {
    const b = this.map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
  }

  async load(layer) {
    const sequence = (this.requests.get(layer.id) || 0) + 1;
    this.requests.set(layer.id, sequence);
    this.status.set(layer.id, "loading");
    this.onChange(layer.id);
    const limit = Math.min(layer.draw.limit || MAX_FEATURES, MAX_FEATURES);
    const url = `${absolute(layer.items)}?f=json&limit=${limit}&bbox=${this.viewBbox()}${narrowing(layer)}`;
    let collection;
    try {
      const response = await fetch(url, { headers: { Accept: "application/geo+json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      collection = await response.json();
    } catch (error) {
      if (this.requests.get(layer.id) === sequence && this.visible.has(layer.id)) {
        this.status.set(layer.id, "failed");
        this.onChange(layer.id);
      }
      return;
    }
    // a newer request (the map moved again) or a switch-off wins over this answer
    if (this.requests.get(layer.id) !== sequence || !this.visible.has(layer.id)) return;
    const features = collection.features || [];
    this.collections.set(layer.id, { features, matched: collection.numberMatched ?? features.length });
    this.status.set(layer.id, "ok");
    const source = this.map.getSource(`ov-${layer.id}`);
    if (source) source.setData({ type: "FeatureCollection", features });
    this.onChange(layer.id);
  }

  reloadFeatures() {
    for (const id of this.visible) {
      const layer = this.layer(id);
      if (layer.draw.kind === "features") this.load(layer);
    }
  }

  /** The full feature of a layer by id (from the loaded features), or undefined. */
  find(id, featureId) {
    return this.features(id).find((f) => String(f.id) === String(featureId)
      || String(f.properties[this.layer(id).id_field]) === String(featureId));
  }
}
