// The 3D view of the citizens' map: the laser-scanned terrain (raster-dem tiles), the buildings
// extruded by their measured roof height and the detected trees as crowns, tilted and rotatable;
// and the button that opens the point-cloud view (./pointcloud.js, loaded only when asked for,
// with deck.gl and copc: the 2D page's first view stays within its budget).
//
// What is drawn comes from the manifest's `view3d` block (geoportal/app/webmap3d.py). The
// overlays of the layer tree stay as they are: MapLibre drapes them over the terrain, and their
// popups work as in 2D. The buildings' and trees' 3D layers answer a click with the popup of
// their dataset (metadata.popup, read by app.js).
//
//   const view = new View3d(map, manifest, { onChange });  // adds the buttons when a terrain exists
//   view.enable({ pitch, bearing }); view.disable(); view.on  // permalink: view=3d

import { absolute } from "./basemap.js";
import { addStrings, onLangChange, t } from "./i18n.js";

addStrings("de", {
  "view3d.button": "3D",
  "view3d.label": "3D-Ansicht",
  "view3d.on": "3D-Ansicht ist an: Gelände, Gebäude und Bäume in ihren gemessenen Höhen. Drehen und neigen mit rechter Maustaste oder Strg + Ziehen, mit der Tastatur Umschalt + Pfeiltasten.",
  "view3d.off": "3D-Ansicht ist aus.",
  "pointcloud.button": "LiDAR",
  "pointcloud.label": "LiDAR-Punktwolke",
});
addStrings("en", {
  "view3d.button": "3D",
  "view3d.label": "3D view",
  "view3d.on": "3D view is on: terrain, buildings and trees at their measured heights. Rotate and tilt with the right mouse button or Ctrl + drag, with the keyboard Shift + arrow keys.",
  "view3d.off": "3D view is off.",
  "pointcloud.button": "LiDAR",
  "pointcloud.label": "LiDAR point cloud",
});

const PITCH = 60;
const BEARING = -20;
const BUILDING_COLOUR = "#d8c8b8";
const CROWN_COLOUR = "#4e8f3a";
const TREE_LIMIT = 3000; // crowns per view; the detected trees of a district are a few thousand
const CROWN_SIDES = 10;
// a crown is drawn from this share of the tree's height up to its top (a trunk below)
const CROWN_BASE = 0.35;

/** A crown as a polygon: a circle of the crown diameter around the tree (lon/lat degrees). */
export function crownPolygon([lon, lat], diameter) {
  const r = Math.max(diameter, 1) / 2;
  const dLat = r / 111_320;
  const dLon = r / (111_320 * Math.cos((lat * Math.PI) / 180));
  const ring = [];
  for (let k = 0; k <= CROWN_SIDES; k += 1) {
    const a = (2 * Math.PI * k) / CROWN_SIDES;
    ring.push([lon + dLon * Math.cos(a), lat + dLat * Math.sin(a)]);
  }
  return { type: "Polygon", coordinates: [ring] };
}

export class View3d {
  constructor(map, manifest, { onChange } = {}) {
    this.map = map;
    this.spec = manifest.view3d || null;
    this.manifest = manifest;
    this.on = false;
    this.onChange = onChange || (() => {});
    this.pointCloud = null; // the point-cloud view once loaded (./pointcloud.js)
    this.treeRequest = 0;
    if (!this.spec) return;
    this.controls = this.addControls();
    this.reloadTrees = () => this.loadTrees();
  }

  /** Two buttons under the zoom buttons: 3D, and the point cloud (only with COPC files). */
  addControls() {
    const group = document.createElement("div");
    group.className = "maplibregl-ctrl maplibregl-ctrl-group view3d-controls";
    const status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    const button = (key, onClick) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "view3d-button";
      b.dataset.key = key;
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", onClick);
      group.append(b);
      return b;
    };
    const toggle3d = button("view3d", () => {
      // from the point cloud (which stands on the terrain) back to the modelled 3D view
      if (this.pointCloud && this.pointCloud.open) return this.togglePointCloud();
      return this.on ? this.disable() : this.enable();
    });
    const cloud = this.spec.point_cloud
      ? button("pointcloud", () => this.togglePointCloud())
      : null;
    group.append(status);
    const label = () => {
      for (const b of [toggle3d, cloud].filter(Boolean)) {
        b.textContent = t(`${b.dataset.key}.button`);
        b.setAttribute("aria-label", t(`${b.dataset.key}.label`));
        b.title = t(`${b.dataset.key}.label`);
      }
    };
    label();
    onLangChange(label);
    this.map.addControl({ onAdd: () => group, onRemove: () => group.remove() }, "top-right");
    return { group, toggle3d, cloud, status };
  }

  /** Terrain on, tilt, buildings and trees in 3D. */
  enable({ pitch = PITCH, bearing = BEARING, animate = true } = {}) {
    if (!this.spec || this.on) return;
    this.on = true;
    const map = this.map;
    const terrain = this.spec.terrain;
    if (!map.getSource("v3d-terrain")) {
      map.addSource("v3d-terrain", {
        type: "raster-dem", tiles: [absolute(terrain.tiles)], tileSize: 256,
        encoding: terrain.encoding, minzoom: terrain.minzoom, maxzoom: terrain.maxzoom,
        bounds: terrain.bounds,
      });
    }
    map.setTerrain({ source: "v3d-terrain", exaggeration: 1 });
    this.addBuildings();
    this.addTrees();
    map.on("moveend", this.reloadTrees);
    const move = { pitch, bearing };
    if (animate) map.easeTo({ ...move, duration: 600 });
    else map.jumpTo(move);
    this.setPressed(this.controls.toggle3d, true);
    this.controls.status.textContent = t("view3d.on");
    this.onChange();
  }

  disable({ animate = true } = {}) {
    if (!this.on) return;
    this.on = false;
    const map = this.map;
    map.off("moveend", this.reloadTrees);
    for (const id of ["v3d-buildings", "v3d-crowns"]) if (map.getLayer(id)) map.removeLayer(id);
    for (const id of ["v3d-buildings", "v3d-crowns"]) if (map.getSource(id)) map.removeSource(id);
    map.setTerrain(null);
    if (animate) map.easeTo({ pitch: 0, bearing: 0, duration: 600 });
    else map.jumpTo({ pitch: 0, bearing: 0 });
    this.setPressed(this.controls.toggle3d, false);
    this.controls.status.textContent = t("view3d.off");
    this.onChange();
  }

  /** Show or hide the extruded buildings and the tree crowns (not the terrain). */
  showModels(visible) {
    for (const id of ["v3d-buildings", "v3d-crowns"]) {
      if (this.map.getLayer(id)) this.map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
    }
  }

  setPressed(button, pressed) {
    if (button) button.setAttribute("aria-pressed", String(pressed));
  }

  /** The footprints' vector tiles extruded by the measured roof height above the terrain. */
  addBuildings() {
    const spec = this.spec.buildings;
    if (!spec) return;
    this.map.addSource("v3d-buildings", {
      type: "vector", tiles: [absolute(spec.tiles)], minzoom: spec.minzoom,
      maxzoom: spec.maxzoom, bounds: spec.bounds || undefined,
    });
    this.map.addLayer({
      id: "v3d-buildings", type: "fill-extrusion", source: "v3d-buildings",
      "source-layer": spec.source_layer, metadata: { popup: spec.layer },
      paint: {
        "fill-extrusion-color": BUILDING_COLOUR,
        "fill-extrusion-height": ["coalesce", ["to-number", ["get", spec.height_field]], 3],
        "fill-extrusion-base": 0,
        "fill-extrusion-opacity": 0.92,
      },
    }, this.firstOverlayId());
  }

  /** The crowns' layer; its data follow the view (loadTrees). */
  addTrees() {
    const spec = this.spec.trees;
    if (!spec) return;
    this.map.addSource("v3d-crowns", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    this.map.addLayer({
      id: "v3d-crowns", type: "fill-extrusion", source: "v3d-crowns",
      metadata: { popup: spec.layer },
      paint: {
        "fill-extrusion-color": CROWN_COLOUR,
        "fill-extrusion-height": ["get", "top"],
        "fill-extrusion-base": ["get", "base"],
        "fill-extrusion-opacity": 0.9,
      },
    }, this.firstOverlayId());
    this.loadTrees();
  }

  /** The detected trees of the view as crown polygons (height and crown as measured). */
  async loadTrees() {
    const spec = this.spec.trees;
    // the crowns are hidden while the points are shown: no need to fetch them
    if (!spec || !this.on || (this.pointCloud && this.pointCloud.open)) return;
    const sequence = ++this.treeRequest;
    const b = this.map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    let collection;
    try {
      const response = await fetch(`${absolute(spec.items)}?f=json&limit=${TREE_LIMIT}&bbox=${bbox}`,
        { headers: { Accept: "application/geo+json" } });
      if (!response.ok) return;
      collection = await response.json();
    } catch {
      return;
    }
    const source = this.map.getSource("v3d-crowns");
    if (sequence !== this.treeRequest || !source) return;
    source.setData({
      type: "FeatureCollection",
      features: (collection.features || []).filter((f) => f.geometry).map((f) => {
        const height = Number(f.properties[spec.height_field]) || 8;
        const crown = Number(f.properties[spec.crown_field]) || 4;
        return {
          type: "Feature", id: f.id, geometry: crownPolygon(f.geometry.coordinates, crown),
          properties: { ...f.properties, top: height, base: Math.max(height * CROWN_BASE, height - crown) },
        };
      }),
    });
  }

  /** 3D layers go under the overlays of the layer tree (their symbols stay on top). */
  firstOverlayId() {
    const first = (this.map.getStyle().layers || []).find((l) => l.metadata && l.metadata.overlay);
    return first ? first.id : undefined;
  }

  /** Open or close the point-cloud view; its code (deck.gl, copc) is fetched the first time. */
  async togglePointCloud() {
    const button = this.controls.cloud;
    if (!this.pointCloud) {
      button.disabled = true;
      try {
        const { PointCloudView } = await import("./pointcloud.js");
        this.pointCloud = new PointCloudView(this.map, this.spec.point_cloud, this.controls.group);
      } finally {
        button.disabled = false;
      }
    }
    const open = !this.pointCloud.open;
    // the points stand on the 3D view's terrain at their own heights; they are the buildings
    // and trees themselves, so the modelled ones are hidden while the points are shown
    if (open && !this.on) this.enable({ animate: false });
    this.showModels(!open);
    if (open) this.map.easeTo({ pitch: PITCH, bearing: BEARING, duration: 600 });
    await (open ? this.pointCloud.show() : this.pointCloud.hide());
    this.setPressed(button, open);
    this.onChange();
  }
}
