// The map's tools, as in Masterportal-style city portals: measure a distance or an area
// (on the ellipsoid, in German number format), mark a place and share it (the mark is part of
// the permalink), print at a chosen scale with legend and sources (the browser's print, with
// webmap.css's print sheet), the coordinates (UTM 32N / EPSG:25832 and WGS84) and a copy-link
// button. One MapLibre control in the map's top-left corner; plain buttons, so keyboard and
// screen readers work without extra code.

import { area, length } from "./geodesy.js";
import { formatNumber, getLang, pick, t } from "./i18n.js";
import { legendHtml, legendSwatch } from "./legend.js";
import { escapeHtml } from "./popup.js";
import { toUtm32 } from "./utm.js";

export const SCALES = [1000, 2500, 5000, 10000, 25000];
const CSS_PX_M = 0.0254 / 96; // a CSS pixel on paper, in metres
const EARTH = 40075016.686; // the equator in metres (Web Mercator)
const PRINT_SIZE = [680, 640]; // the printed map in CSS pixels: A4 portrait inside 1.5 cm margins
const SOURCE = "tool-drawing";

/** "123,4 m", "1,23 km" (German: decimal comma, thousands points). */
export function formatLength(m) {
  return m < 1000 ? `${formatNumber(m, 1)} m` : `${formatNumber(m / 1000, 2)} km`;
}

/** "850 m²", "1,25 ha", "3,4 km²". */
export function formatArea(m2) {
  if (m2 < 10000) return `${formatNumber(m2, 0)} m²`;
  if (m2 < 1e6) return `${formatNumber(m2 / 10000, 2)} ha`;
  return `${formatNumber(m2 / 1e6, 2)} km²`;
}

/** "UTM 32N: 345.678 E, 5.689.012 N · WGS84: 51,30100° N, 6,85500° E". */
export function formatCoordinates([lon, lat]) {
  const [x, y] = toUtm32([lon, lat]);
  const whole = (v) => formatNumber(Math.round(v), 0);
  const deg = (v) => Number(v).toLocaleString(getLang() === "en" ? "en-GB" : "de-DE",
    { minimumFractionDigits: 5, maximumFractionDigits: 5 });
  return `UTM 32N (EPSG:25832): ${whole(x)} E, ${whole(y)} N · WGS84: ${deg(lat)}° N, ${deg(lon)}° E`;
}

/** The zoom at which the map shows 1:`scale` when printed at 96 CSS pixels per inch. */
export function zoomForScale(scale, lat) {
  const metresPerPixel = scale * CSS_PX_M;
  return Math.log2((EARTH * Math.cos((lat * Math.PI) / 180)) / (512 * metresPerPixel));
}

function button(id, key, pressed) {
  return `<button type="button" id="${id}" data-i18n="${key}"${pressed ? ' aria-pressed="false"' : ""}>${t(key)}</button>`;
}

export class Tools {
  constructor(map, manifest, layers, { getBase, onMark }) {
    Object.assign(this, { map, manifest, layers, getBase, onMark });
    this.mode = null; // "distance" | "area" | "mark" | null
    this.points = [];
    this.marker = null;
    this.element = document.createElement("div");
    this.element.className = "maplibregl-ctrl tools";
    // open beside a desktop map, folded on a phone (it would cover half the map)
    const open = window.matchMedia("(min-width: 721px) and (min-height: 501px)").matches ? " open" : "";
    this.element.innerHTML = `<details id="tools"${open}><summary data-i18n="tools.title">${t("tools.title")}</summary>`
      + `<div class="tool-buttons" role="group" aria-label="${escapeHtml(t("tools.title"))}">`
      + button("tool-distance", "tools.distance", true) + button("tool-area", "tools.area", true)
      + button("tool-mark", "tools.mark", true) + button("tool-copy", "tools.copy")
      + `<span class="print-tool"><label for="print-scale" data-i18n="tools.scale">${t("tools.scale")}</label> `
      + `<select id="print-scale">${SCALES.map((s) => `<option value="${s}"${s === 5000 ? " selected" : ""}>`
        + `1:${formatNumber(s, 0)}</option>`).join("")}</select>`
      + `${button("tool-print", "tools.print")}</span></div>`
      + `<p id="tool-result" class="tool-result" role="status" aria-live="polite"></p></details>`;
    this.coords = document.createElement("div");
    this.coords.className = "maplibregl-ctrl coords";
    this.coords.innerHTML = `<span class="visually-hidden">${escapeHtml(t("coords.label"))}: </span>`
      + `<output id="coords"></output>`;
    map.addControl({ onAdd: () => this.element, onRemove: () => {} }, "top-left");
    map.addControl({ onAdd: () => this.coords, onRemove: () => {} }, "bottom-left");
    this.wire();
  }

  /** Whether a tool takes the map's clicks (then they open no popup). */
  active() {
    return this.mode !== null;
  }

  $(id) {
    return this.element.querySelector(`#${id}`);
  }

  wire() {
    const { map } = this;
    this.$("tool-distance").addEventListener("click", () => this.toggle("distance"));
    this.$("tool-area").addEventListener("click", () => this.toggle("area"));
    this.$("tool-mark").addEventListener("click", () => this.toggle("mark"));
    this.$("tool-copy").addEventListener("click", () => this.copyLink());
    this.$("tool-print").addEventListener("click", async () => {
      await this.preparePrint(Number(this.$("print-scale").value));
      window.print();
    });
    window.addEventListener("afterprint", () => this.endPrint());
    map.on("click", (event) => this.click([event.lngLat.lng, event.lngLat.lat]));
    const centre = () => this.showCoordinates(map.getCenter().toArray());
    map.on("mousemove", (event) => this.showCoordinates([event.lngLat.lng, event.lngLat.lat]));
    map.on("moveend", centre);
    map.getCanvas().addEventListener("mouseleave", centre);
    centre();
  }

  showCoordinates(lngLat) {
    this.coords.querySelector("output").textContent = formatCoordinates(lngLat);
  }

  toggle(mode) {
    const next = this.mode === mode ? null : mode;
    this.mode = next;
    for (const m of ["distance", "area", "mark"]) {
      this.$(`tool-${m}`).setAttribute("aria-pressed", String(m === next));
    }
    this.map.getCanvas().style.cursor = next ? "crosshair" : "";
    if (next === "distance" || next === "area" || next === null) {
      this.points = [];
      this.draw();
    }
    this.say(next === "mark" ? t("tools.markHint") : next ? t("tools.hint") : "");
  }

  say(text) {
    this.$("tool-result").textContent = text;
  }

  click(lngLat) {
    if (this.mode === "mark") {
      this.setMark(lngLat);
      this.toggle("mark");
      this.say(t("tools.markShared"));
      this.onMark();
      return;
    }
    if (this.mode !== "distance" && this.mode !== "area") return;
    this.points.push(lngLat);
    this.draw();
    this.say(this.result());
  }

  /** The measurement in words: "Strecke: 1,23 km" or "Fläche: 1,25 ha (Umfang 450,2 m)". */
  result() {
    if (this.mode === "area") {
      const ring = this.points.length > 2 ? [...this.points, this.points[0]] : this.points;
      return t("tools.areaResult", { area: formatArea(area(this.points)), length: formatLength(length(ring)) });
    }
    return t("tools.length", { length: formatLength(length(this.points)) });
  }

  draw() {
    const { map } = this;
    const closed = this.mode === "area" && this.points.length > 2;
    const coordinates = closed ? [...this.points, this.points[0]] : this.points;
    const features = this.points.map((p) => ({ type: "Feature", geometry: { type: "Point", coordinates: p } }));
    if (coordinates.length > 1) {
      features.push({ type: "Feature", geometry: closed ? { type: "Polygon", coordinates: [coordinates] }
        : { type: "LineString", coordinates } });
    }
    const data = { type: "FeatureCollection", features };
    if (map.getSource(SOURCE)) {
      map.getSource(SOURCE).setData(data);
      return;
    }
    map.addSource(SOURCE, { type: "geojson", data });
    map.addLayer({ id: `${SOURCE}-fill`, type: "fill", source: SOURCE, filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": "#d32f2f", "fill-opacity": 0.15 } });
    map.addLayer({ id: `${SOURCE}-line`, type: "line", source: SOURCE, filter: ["!=", ["geometry-type"], "Point"],
      paint: { "line-color": "#d32f2f", "line-width": 3, "line-dasharray": [2, 1] } });
    map.addLayer({ id: `${SOURCE}-points`, type: "circle", source: SOURCE, filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 5, "circle-color": "#fff", "circle-stroke-color": "#d32f2f", "circle-stroke-width": 2 } });
  }

  /** The marked place [lon, lat] (for the permalink), or undefined. */
  mark() {
    return this.marker ? this.marker.getLngLat().toArray() : undefined;
  }

  setMark(lngLat) {
    if (this.marker) this.marker.remove();
    this.marker = null;
    if (!lngLat) return;
    this.marker = new maplibregl.Marker({ color: "#d32f2f" }).setLngLat(lngLat).addTo(this.map);
    const element = this.marker.getElement();
    element.setAttribute("role", "img");
    element.setAttribute("aria-label", t("tools.marked"));
    element.dataset.mark = "true";
  }

  async copyLink() {
    const url = location.href;
    try {
      await navigator.clipboard.writeText(url);
      this.say(t("tools.copied"));
    } catch {
      this.say(t("tools.copyFailed", { url })); // no clipboard (plain http): the reader copies it
    }
  }

  /** Lay out the print sheet: the map at 1:`scale` as an image, its legend, scale and sources. */
  async preparePrint(scale) {
    const { map } = this;
    document.body.classList.add("printing");
    const frame = map.getContainer();
    frame.style.width = `${PRINT_SIZE[0]}px`;
    frame.style.height = `${PRINT_SIZE[1]}px`;
    map.resize();
    map.jumpTo({ zoom: zoomForScale(scale, map.getCenter().lat) });
    await new Promise((resolve) => map.once("idle", resolve));
    const image = await new Promise((resolve) => {
      map.once("render", () => resolve(map.getCanvas().toDataURL("image/png")));
      map.triggerRepaint();
    });
    let sheet = document.getElementById("print-sheet");
    if (!sheet) {
      sheet = document.createElement("section");
      sheet.id = "print-sheet";
      sheet.className = "print-sheet";
      document.body.append(sheet);
    }
    sheet.innerHTML = this.sheetHtml(scale, image);
  }

  sheetHtml(scale, image) {
    const visible = this.layers.visibleIds().map((id) => this.manifest.layers[id]);
    const base = this.manifest.layers[this.getBase()];
    const legend = visible.map((layer) => `<li>${legendSwatch(layer)} ${escapeHtml(pick(layer.title))}`
      + `${legendHtml(layer)}</li>`).join("");
    const sources = [...new Set([...(base ? [base] : []), ...visible].map((l) => l.attribution).filter(Boolean))];
    const bar = 2 * 10 ** Math.floor(Math.log10(scale / 50)); // a round length near 2 cm on paper
    const barPx = bar / (scale * CSS_PX_M);
    const date = new Date().toLocaleDateString(getLang() === "en" ? "en-GB" : "de-DE");
    return `<h1>${escapeHtml(pick(this.manifest.title))}</h1>`
      + `<img class="print-map" alt="${escapeHtml(t("map.label"))}" src="${image}" `
      + `width="${PRINT_SIZE[0]}" height="${PRINT_SIZE[1]}">`
      + `<p class="print-scale" data-scale="${scale}">${escapeHtml(t("tools.scaleValue", { n: formatNumber(scale, 0) }))} `
      + `<span class="print-bar" style="width:${barPx.toFixed(1)}px"></span> ${escapeHtml(formatLength(bar))}</p>`
      + `<p>${escapeHtml(formatCoordinates(this.map.getCenter().toArray()))}</p>`
      + (legend ? `<h2>${escapeHtml(t("legend.title"))}</h2><ul class="print-legend">${legend}</ul>` : "")
      + `<p class="print-sources">${escapeHtml(t("print.sources"))}: ${sources.map(escapeHtml).join(" · ")}</p>`
      + `<p>${escapeHtml(t("print.printed", { date }))} · ${escapeHtml(location.href)}</p>`;
  }

  endPrint() {
    document.body.classList.remove("printing");
    const frame = this.map.getContainer();
    frame.style.width = "";
    frame.style.height = "";
    this.map.resize();
  }
}
