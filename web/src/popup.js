// Attribute display: a feature's values in plain words (field titles from the registry, units,
// yes/no, value labels), as a popup on the map. A tree gets its own card: species in German
// and botanical, planting year, height and crown from the cadastre and from the laser scan, and
// whether the two agree.

import { exposureCard, isExposureLayer } from "./climate.js";
import { formatOpeningHours } from "./hours.js";
import { formatDate, formatNumber, getLang, pick, t } from "./i18n.js";

// Cadastre and LiDAR "agree" when the height differs by at most 2 m or 15 % of the cadastre
// height (the larger), and the crown diameter by at most 2 m or 25 %. Crowns are measured less
// sharply than tree tops in a 0.5 m surface model, hence the wider crown tolerance.
export const AGREEMENT = { height: { metres: 2, share: 0.15 }, crown: { metres: 2, share: 0.25 } };

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function isEmpty(value) {
  return value === null || value === undefined || value === "";
}

/** A value as a reader wants to see it: "12,5 m", "ja", a value label; "" when empty. */
export function formatValue(field, value) {
  if (isEmpty(value)) return "";
  if (field.type === "boolean" || typeof value === "boolean") {
    const truthy = value === true || value === "true" || value === 1 || value === "1";
    return t(truthy ? "yes" : "no");
  }
  if (field.values && field.values[value] && getLang() === "de") return field.values[value];
  if (field.type === "date") return formatDate(value);
  if (/opening_hours|oeffnungszeiten/.test(field.name)) return formatOpeningHours(value);
  if ((field.type === "number" || field.type === "integer") && Number.isFinite(Number(value))) {
    const digits = field.type === "integer" ? 0 : 2;
    const text = field.type === "integer" && isLabel(field.name)
      ? String(value) : formatNumber(value, digits);
    return field.unit ? `${text} ${field.unit}` : text;
  }
  return String(value);
}

/** An integer that names rather than counts (a year, a code, a key, a number of a Flur):
 * "1000", not "1.000". */
function isLabel(name) {
  return /year|jahr|(^|_)(id|code|key|nr|no|number|flur)$/.test(name);
}

/** The feature's title: its title field, else the layer's title. */
export function featureTitle(layer, properties) {
  const value = layer.title_field && properties[layer.title_field];
  const field = (layer.fields || []).find((f) => f.name === layer.title_field);
  if (isEmpty(value)) return pick(layer.title);
  return field ? formatValue(field, value) : String(value); // a code's label ("sehr gut geeignet")
}

/** A table of every non-empty attribute (identifiers last; they matter least to a citizen). */
function attributeTable(layer, properties, skip = []) {
  const rows = (layer.fields || [])
    .filter((f) => !skip.includes(f.name) && !isEmpty(properties[f.name]))
    .sort((a, b) => (a.name === layer.id_field) - (b.name === layer.id_field))
    .map((f) => `<tr><th scope="row">${escapeHtml(pick(f.title))}</th>`
      + `<td>${escapeHtml(formatValue(f, properties[f.name]))}</td></tr>`);
  return rows.length ? `<table>${rows.join("")}</table>` : "";
}

export function isTreeLayer(layer) {
  const names = (layer.fields || []).map((f) => f.name);
  return names.includes("species_botanical") && names.includes("height_m");
}

function within(a, b, tolerance) {
  return Math.abs(a - b) <= Math.max(tolerance.metres, tolerance.share * Math.abs(a));
}

/** "agree" | "differ" | "none" (no LiDAR measurement to compare with). */
export function treeAgreement(p) {
  if (p.lidar_status !== "found" || isEmpty(p.lidar_height_m)) return "none";
  const checks = [];
  if (!isEmpty(p.height_m)) checks.push(within(+p.height_m, +p.lidar_height_m, AGREEMENT.height));
  if (!isEmpty(p.crown_diameter_m) && !isEmpty(p.lidar_crown_diameter_m)) {
    checks.push(within(+p.crown_diameter_m, +p.lidar_crown_diameter_m, AGREEMENT.crown));
  }
  if (!checks.length) return "none";
  return checks.every(Boolean) ? "agree" : "differ";
}

function signed(value) {
  const shown = Math.round(value * 10) / 10;  // what the reader sees: no "−0 m" for −0,04
  return `${shown > 0 ? "+" : shown < 0 ? "−" : "±"}${formatNumber(Math.abs(shown), 1)} m`;
}

/** "Höhe +3,2 m, Kronendurchmesser −1,5 m": LiDAR minus cadastre. */
function differences(p) {
  const parts = [];
  if (!isEmpty(p.height_m)) parts.push(`${t("tree.height")} ${signed(p.lidar_height_m - p.height_m)}`);
  if (!isEmpty(p.crown_diameter_m) && !isEmpty(p.lidar_crown_diameter_m)) {
    parts.push(`${t("tree.crown")} ${signed(p.lidar_crown_diameter_m - p.crown_diameter_m)}`);
  }
  return parts.join(", ");
}

function metres(value) {
  return isEmpty(value) ? "–" : `${formatNumber(value, 1)} m`;
}

/** The tree card's HTML. */
export function treeCard(layer, p) {
  const field = (name) => (layer.fields || []).find((f) => f.name === name) || { name };
  const year = isEmpty(p.lidar_year) ? "" : String(p.lidar_year);
  let lidar;
  if (isEmpty(p.lidar_status)) {
    lidar = `<p class="verdict none" data-verdict="none">${escapeHtml(t("tree.noLidar"))}</p>`;
  } else if (p.lidar_status !== "found") {
    lidar = `<p class="verdict differ" data-verdict="not_found">`
      + `${escapeHtml(t("tree.notFound", { year }).replace("  ", " "))}</p>`;
  } else {
    const verdict = treeAgreement(p);
    let text = verdict === "agree" ? t("tree.agree") : verdict === "differ" ? t("tree.disagree") : t("tree.noLidar");
    if (verdict !== "none") text += ` (${differences(p)})`;
    lidar = `<p class="verdict ${verdict}" data-verdict="${verdict}">${escapeHtml(text)}</p>`;
    if (!isEmpty(p.lidar_distance_m)) {
      lidar += `<p>${escapeHtml(t("tree.distance"))}: ${metres(p.lidar_distance_m)}</p>`;
    }
  }
  const measured = p.lidar_status === "found";
  const head = `<tr><td></td><th scope="col">${escapeHtml(t("tree.cadastre"))}</th>`
    + `<th scope="col">${escapeHtml(t("tree.lidar", { year }).trim())}</th></tr>`;
  const row = (label, cadastre, laser) => `<tr><th scope="row">${escapeHtml(label)}</th>`
    + `<td>${metres(cadastre)}</td><td>${measured ? metres(laser) : "–"}</td></tr>`;
  const planted = isEmpty(p.planting_year) ? ""
    : `<p>${escapeHtml(pick(field("planting_year").title))}: ${escapeHtml(String(p.planting_year))}</p>`;
  const rest = attributeTable(layer, p, ["species_de", "species_botanical", "planting_year", "height_m",
    "crown_diameter_m", "lidar_status", "lidar_year", "lidar_height_m", "lidar_crown_diameter_m",
    "lidar_distance_m"]);
  return `<div class="tree-card">`
    + `<h3>${escapeHtml(p.species_de || t("tree.unknown"))}</h3>`
    + `<p class="layer-name">${escapeHtml(pick(layer.title))}</p>`
    + (p.species_botanical ? `<p class="botanical" lang="la">${escapeHtml(p.species_botanical)}</p>` : "")
    + planted
    + `<table class="measures" aria-label="${escapeHtml(t("tree.lidarTitle"))}">`
    + `${head}${row(t("tree.height"), p.height_m, p.lidar_height_m)}`
    + `${row(t("tree.crown"), p.crown_diameter_m, p.lidar_crown_diameter_m)}</table>`
    + lidar + rest + `</div>`;
}

/** The popup HTML for any feature. */
export function featureHtml(layer, properties) {
  if (isTreeLayer(layer)) return treeCard(layer, properties);
  if (isExposureLayer(layer)) return exposureCard(layer, properties);
  return `<div class="feature-card"><h3>${escapeHtml(featureTitle(layer, properties))}</h3>`
    + `<p class="layer-name">${escapeHtml(pick(layer.title))}</p>`
    + attributeTable(layer, properties) + `</div>`;
}

let open = null;

/** Pan the map so that the whole popup is visible (it follows its point). */
function keepInView(map, element) {
  const box = element.getBoundingClientRect();
  const frame = map.getContainer().getBoundingClientRect();
  const margin = 8;
  // the zoom buttons (top right) would cover the popup's ×: keep the popup below them
  const controls = map.getContainer().querySelector(".maplibregl-ctrl-top-right");
  const under = controls && box.right > controls.getBoundingClientRect().left
    ? controls.getBoundingClientRect().bottom : frame.top;
  // an open table covers the map's lower part: the popup stays above it
  const table = document.querySelector(".table-view:not([hidden])");
  const floor = table ? Math.min(frame.bottom, table.getBoundingClientRect().top) : frame.bottom;
  let dy = 0;
  if (box.bottom > floor - margin) dy = box.bottom - floor + margin;
  if (box.top - dy < under + margin) dy = box.top - under - margin;
  let dx = 0;
  if (box.right > frame.right - margin) dx = box.right - frame.right + margin;
  if (box.left - dx < frame.left + margin) dx = box.left - frame.left - margin;
  if (dx || dy) map.panBy([dx, dy], { duration: 200 });
}

/** Show a feature's popup at lngLat (one popup at a time); focus moves into it. */
export function showPopup(map, layer, properties, lngLat, { focus = false, anchor } = {}) {
  if (open) open.remove();
  open = new maplibregl.Popup({ maxWidth: "22rem", focusAfterOpen: focus, closeButton: true, anchor })
    .setLngLat(lngLat)
    .setHTML(featureHtml(layer, properties))
    .addTo(map);
  const element = open.getElement();
  element.setAttribute("role", "dialog");
  element.setAttribute("aria-label", featureTitle(layer, properties));
  element.dataset.layer = layer.id;
  const close = element.querySelector(".maplibregl-popup-close-button");
  if (close) close.setAttribute("aria-label", t("popup.close"));
  keepInView(map, element);
  return open;
}

/** A popup of ready-made HTML (the value at a clicked raster point), one at a time. */
export function showHtmlPopup(map, html, lngLat, label) {
  if (open) open.remove();
  open = new maplibregl.Popup({ maxWidth: "22rem", closeButton: true }).setLngLat(lngLat)
    .setHTML(html).addTo(map);
  const element = open.getElement();
  element.setAttribute("role", "dialog");
  element.setAttribute("aria-label", label);
  const close = element.querySelector(".maplibregl-popup-close-button");
  if (close) close.setAttribute("aria-label", t("popup.close"));
  keepInView(map, element);
  return open;
}

export function closePopup() {
  if (open) open.remove();
  open = null;
}

// Escape closes the popup (WCAG 2.1.2: a dialog the keyboard can leave), unless the focus is
// in a panel of its own that Escape closes (the table: [data-escape]). Capture phase: the popup
// goes first, so one Escape never closes two things.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !open || !open.isOpen()) return;
  if (document.activeElement?.closest("[data-escape]")) return;
  const within = open.getElement().contains(document.activeElement);
  closePopup();
  event.stopPropagation();
  if (within) document.getElementById("map")?.querySelector("canvas")?.focus();
}, true);
