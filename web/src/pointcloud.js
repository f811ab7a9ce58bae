// The point-cloud view: the classified laser scan itself, streamed from the published COPC files
// (/downloads/point_cloud/tiles/*.copc.laz) by HTTP range requests and drawn by deck.gl over the
// MapLibre map, coloured by class or by height.
//
// A COPC file is an octree: a small hierarchy says where each node's compressed points lie, so
// the view reads the header, the hierarchy and then only the nodes that cover the map's view,
// coarse ones first, up to a point budget — a small part of the file (docs/benchmarks.md).
// This module is imported only when the user opens the view (view3d.js): deck.gl (2 MB) and
// copc are never part of the map's first view.
//
// The manifest gives each file its extent and a quadratic map from its coordinates to lon/lat
// (geoportal/app/webmap3d.py): the browser needs no PROJ.

import { Copc, Hierarchy, Las } from "./vendor/copc/copc.js";
import { absolute } from "./basemap.js";
import { addStrings, formatNumber, onLangChange, t } from "./i18n.js";
import { toUtm32 } from "./utm.js";

addStrings("de", {
  "pointcloud.colour": "Punkte einfärben nach",
  "pointcloud.byClass": "Klasse",
  "pointcloud.byHeight": "Höhe",
  "pointcloud.loading": "Punktwolke lädt …",
  "pointcloud.status": "{points} Punkte, {mb} MB von {total} MB der Datei gelesen",
  "pointcloud.low": "tief",
  "pointcloud.high": "hoch",
  "pointcloud.class.1": "nicht klassifiziert (meist Vegetation)",
  "pointcloud.class.2": "Boden",
  "pointcloud.class.20": "Gebäude",
  "pointcloud.class.9": "Wasser",
  "pointcloud.class.17": "Brücke",
  "pointcloud.class.other": "sonstige",
});
addStrings("en", {
  "pointcloud.colour": "Colour points by",
  "pointcloud.byClass": "class",
  "pointcloud.byHeight": "height",
  "pointcloud.loading": "Point cloud loading …",
  "pointcloud.status": "{points} points, {mb} MB of the file's {total} MB read",
  "pointcloud.low": "low",
  "pointcloud.high": "high",
  "pointcloud.class.1": "unclassified (mostly vegetation)",
  "pointcloud.class.2": "ground",
  "pointcloud.class.20": "building",
  "pointcloud.class.9": "water",
  "pointcloud.class.17": "bridge",
  "pointcloud.class.other": "other",
});

/** The classes of the NRW scan (ASPRS codes; NRW leaves vegetation unclassified, 1, and puts
 * buildings in 20), in colours told apart on the light city map. */
export const CLASS_COLOURS = {
  1: [110, 160, 70], 2: [176, 122, 60], 3: [184, 225, 134], 4: [90, 170, 60], 5: [30, 120, 50],
  6: [214, 70, 60], 20: [214, 70, 60], 9: [40, 110, 200], 17: [140, 110, 180],
};
const LEGEND_CLASSES = [1, 2, 20, 9, 17];
const OTHER = [120, 120, 160];
// a sequential ramp (viridis' ends and middle) for heights
const HEIGHT_RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const POINT_BUDGET = 300_000; // points drawn at once: smooth on a laptop's integrated GPU
const MAX_DEPTH = 8;
// Ground points lie on the terrain's own surface: without a lift the terrain's mesh (its DEM
// interpolated between cells) cuts every other point in half in the depth test. Half a metre
// is under a pixel at the zooms the points are drawn at.
const TERRAIN_LIFT_M = 0.5;
const LOD = 1.5;
const DECK_SCRIPT = "/assets/vendor/deck.gl/dist.min.js";
const LAZ_PERF_WASM = "/assets/vendor/laz-perf/laz-perf.wasm";

let deckLoaded = null;

/** deck.gl's standalone bundle (a classic script defining `deck`), loaded once. */
function loadDeck() {
  if (!deckLoaded) {
    deckLoaded = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = absolute(DECK_SCRIPT);
      script.onload = () => resolve(window.deck);
      script.onerror = () => reject(new Error(`${DECK_SCRIPT} could not be loaded`));
      document.head.append(script);
    });
  }
  return deckLoaded;
}

/** lon/lat of a point from the file's coordinates (the manifest's quadratic map). */
export function toLngLat(file, x, y) {
  const u = (x - file.origin[0]) / 1000;
  const v = (y - file.origin[1]) / 1000;
  const terms = [1, u, v, u * u, u * v, v * v];
  const at = (k) => terms.reduce((sum, term, i) => sum + term * file.to_lnglat[k][i], 0);
  return [at(0), at(1)];
}

function ramp(share) {
  const s = Math.min(1, Math.max(0, share)) * (HEIGHT_RAMP.length - 1);
  const i = Math.min(HEIGHT_RAMP.length - 2, Math.floor(s));
  const f = s - i;
  return HEIGHT_RAMP[i].map((c, k) => Math.round(c + (HEIGHT_RAMP[i + 1][k] - c) * f));
}

/** One COPC file read over HTTP ranges; counts the bytes it fetched. */
class CopcFile {
  constructor(file, stats) {
    this.file = file;
    this.url = absolute(file.href);
    this.stats = stats;
    this.nodes = new Map(); // key -> decoded points
    this.getter = async (begin, end) => {
      const response = await fetch(this.url, { headers: { Range: `bytes=${begin}-${end - 1}` } });
      if (response.status !== 206) throw new Error(`${this.url}: HTTP ${response.status} to a range request`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      this.stats.bytes += bytes.length;
      this.stats.ranges += 1;
      return bytes;
    };
  }

  async open() {
    if (!this.copc) {
      this.copc = await Copc.create(this.getter);
      this.hierarchy = (await Hierarchy.load(this.getter, this.copc.info.rootHierarchyPage)).nodes;
    }
    return this;
  }

  /** The nodes to draw: those over the view's UTM rectangle, finer near the view's centre
   * (a node of edge s within LOD · s of it: the detail a screen can show falls off with
   * distance), coarse ones first, within the point budget. */
  select(rect, centre, budget) {
    const [x0, y0, , x1] = this.copc.info.cube; // a cube: one edge length for x, y and z
    const chosen = [];
    let points = 0;
    const entries = Object.entries(this.hierarchy)
      .filter(([, node]) => node && node.pointCount > 0)
      .map(([key, node]) => {
        const [depth, i, j] = key.split("-").map(Number);
        const size = (x1 - x0) / 2 ** depth;
        const cx = x0 + (i + 0.5) * size;
        const cy = y0 + (j + 0.5) * size;
        return { key, node, depth, size, cx, cy, distance: Math.hypot(cx - centre[0], cy - centre[1]) };
      })
      .filter((e) => e.depth <= MAX_DEPTH && (e.depth === 0 || e.distance < LOD * e.size))
      .filter((e) => e.cx - e.size / 2 < rect[2] && e.cx + e.size / 2 > rect[0]
        && e.cy - e.size / 2 < rect[3] && e.cy + e.size / 2 > rect[1])
      .sort((a, b) => a.depth - b.depth || a.distance - b.distance);
    for (const e of entries) {
      if (points + e.node.pointCount > budget && chosen.length) break;
      chosen.push(e);
      points += e.node.pointCount;
    }
    return chosen;
  }

  /** A node's points: lon/lat/elevation (NHN, as the terrain tiles), the file's lowest
   * elevation (`base`: on the flat map the points stand on it), class. */
  async load(key, node, lazPerf) {
    if (this.nodes.has(key)) return this.nodes.get(key);
    const view = await Copc.loadPointDataView(this.getter, this.copc, node, { lazPerf });
    const n = view.pointCount;
    const gx = view.getter("X");
    const gy = view.getter("Y");
    const gz = view.getter("Z");
    const gc = view.getter("Classification");
    const positions = new Float64Array(n * 3);
    const classes = new Uint8Array(n);
    const base = this.copc.header.min[2];
    for (let i = 0; i < n; i += 1) {
      const [lon, lat] = toLngLat(this.file, gx(i), gy(i));
      positions[3 * i] = lon;
      positions[3 * i + 1] = lat;
      positions[3 * i + 2] = gz(i);
      classes[i] = gc(i);
    }
    const points = { n, positions, classes, base };
    this.nodes.set(key, points);
    return points;
  }
}

export class PointCloudView {
  constructor(map, spec, controls) {
    this.map = map;
    this.spec = spec;
    this.open = false;
    this.mode = "class";
    this.stats = { bytes: 0, ranges: 0, points: 0, nodes: 0, fileBytes: 0, drawn: 0 };
    this.files = spec.files.map((f) => new CopcFile(f, this.stats));
    this.panel = this.buildPanel();
    controls.parentElement.append(this.panel);
    this.refresh = () => this.load();
    onLangChange(() => this.renderPanel());
  }

  buildPanel() {
    const panel = document.createElement("div");
    panel.className = "maplibregl-ctrl pointcloud-panel";
    panel.hidden = true;
    return panel;
  }

  renderPanel() {
    const p = this.panel;
    p.textContent = "";
    const fieldset = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = t("pointcloud.colour");
    fieldset.append(legend);
    for (const mode of ["class", "height"]) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "pointcloud-colour";
      input.value = mode;
      input.checked = this.mode === mode;
      input.addEventListener("change", () => this.setMode(mode));
      label.append(input, ` ${t(mode === "class" ? "pointcloud.byClass" : "pointcloud.byHeight")}`);
      fieldset.append(label);
    }
    p.append(fieldset);
    const list = document.createElement("ul");
    list.className = "pointcloud-legend";
    const items = this.mode === "class"
      ? [...LEGEND_CLASSES.map((c) => [t(`pointcloud.class.${c}`), CLASS_COLOURS[c]]),
        [t("pointcloud.class.other"), OTHER]]
      : [[t("pointcloud.low"), HEIGHT_RAMP[0]], [t("pointcloud.high"), HEIGHT_RAMP[HEIGHT_RAMP.length - 1]]];
    for (const [text, rgb] of items) {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = `rgb(${rgb.join(",")})`;
      li.append(swatch, text);
      list.append(li);
    }
    p.append(list);
    const status = document.createElement("p");
    status.className = "pointcloud-status";
    status.setAttribute("role", "status");
    status.textContent = this.statusText();
    p.append(status);
    this.statusLine = status;
  }

  statusText() {
    if (!this.stats.points) return t("pointcloud.loading");
    return t("pointcloud.status", {
      points: formatNumber(this.stats.drawn, 0),
      mb: formatNumber(this.stats.bytes / 1e6, 1),
      total: formatNumber(this.stats.fileBytes / 1e6, 1),
    });
  }

  async show() {
    const deck = await loadDeck();
    if (!this.overlay) {
      this.deck = deck;
      this.overlay = new deck.MapboxOverlay({ interleaved: true, layers: [] });
      this.map.addControl(this.overlay);
      this.lazPerf = await Las.PointData.createLazPerf({ locateFile: () => absolute(LAZ_PERF_WASM) });
    }
    this.open = true;
    this.panel.hidden = false;
    this.renderPanel();
    this.map.on("moveend", this.refresh);
    await this.load();
  }

  async hide() {
    this.open = false;
    this.panel.hidden = true;
    this.map.off("moveend", this.refresh);
    if (this.overlay) this.overlay.setProps({ layers: [] });
  }

  /** The view as a rectangle in the files' coordinates (UTM 32). */
  viewRect() {
    const b = this.map.getBounds();
    const corners = [[b.getWest(), b.getSouth()], [b.getEast(), b.getSouth()],
      [b.getWest(), b.getNorth()], [b.getEast(), b.getNorth()]].map(toUtm32);
    const xs = corners.map((c) => c[0]);
    const ys = corners.map((c) => c[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }

  /** Read the nodes the view needs (the files in view share the budget), then draw them. */
  async load() {
    const sequence = (this.sequence || 0) + 1;
    this.sequence = sequence;
    const rect = this.viewRect();
    const inView = this.files.filter((f) => {
      const [w, s, e, n] = f.file.bbox;
      const b = this.map.getBounds();
      return w < b.getEast() && e > b.getWest() && s < b.getNorth() && n > b.getSouth();
    });
    this.stats.fileBytes = inView.reduce((sum, f) => sum + f.file.bytes, 0);
    const parts = [];
    for (const file of inView) {
      await file.open();
      const chosen = file.select(rect, toUtm32(this.map.getCenter().toArray()), POINT_BUDGET / inView.length);
      for (const { key, node } of chosen) parts.push(await file.load(key, node, this.lazPerf));
    }
    if (sequence !== this.sequence || !this.open) return;
    this.parts = parts;
    this.stats.nodes = parts.length;
    this.stats.points = this.files.reduce((sum, f) => sum + [...f.nodes.values()].reduce((s, p) => s + p.n, 0), 0);
    this.draw();
  }

  setMode(mode) {
    this.mode = mode;
    this.renderPanel();
    this.draw();
  }

  /** One PointCloudLayer of the chosen nodes, colours by class or by height.
   *
   * Over MapLibre's terrain (the 3D view's raster-dem, heights NHN like the scan's) each point
   * stands at its own elevation: deck.gl's overlay, interleaved, shares MapLibre's camera and
   * depth buffer, so the ground points lie on the terrain and a roof's points above it. On
   * the flat map they stand on the file's lowest point. */
  draw() {
    const parts = this.parts || [];
    const n = parts.reduce((sum, p) => sum + p.n, 0);
    const onTerrain = Boolean(this.map.getTerrain && this.map.getTerrain());
    const positions = new Float64Array(n * 3);
    const colours = new Uint8Array(n * 4);
    let top = 1;
    for (const p of parts) for (let i = 0; i < p.n; i += 1) top = Math.max(top, p.positions[3 * i + 2] - p.base);
    let at = 0;
    for (const p of parts) {
      positions.set(p.positions, at * 3);
      for (let i = 0; i < p.n; i += 1) {
        const above = p.positions[3 * i + 2] - p.base;
        positions[(at + i) * 3 + 2] = onTerrain ? p.positions[3 * i + 2] + TERRAIN_LIFT_M : above;
        const rgb = this.mode === "class" ? CLASS_COLOURS[p.classes[i]] || OTHER : ramp(above / top);
        colours.set([...rgb, 255], (at + i) * 4);
      }
      at += p.n;
    }
    this.stats.onTerrain = onTerrain;
    this.drawnPositions = positions; // what the layer draws (tests read it)
    this.stats.drawn = n;
    const layer = new this.deck.PointCloudLayer({
      id: "copc-points",
      data: { length: n, attributes: { getPosition: { value: positions, size: 3 }, getColor: { value: colours, size: 4 } } },
      coordinateSystem: this.deck.COORDINATE_SYSTEM.LNGLAT,
      pointSize: 2,
      sizeUnits: "pixels",
      // unlit: deck's default lighting darkened every class to 70 % of its legend colour
      material: { ambient: 1, diffuse: 0, shininess: 1, specularColor: [0, 0, 0] },
    });
    this.overlay.setProps({ layers: [layer] });
    if (this.statusLine) this.statusLine.textContent = this.statusText();
    this.map.getContainer().dataset.pointcloud = "drawn";
  }
}
