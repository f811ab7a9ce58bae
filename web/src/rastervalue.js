// The value at a click on a raster: the terrain height under the relief, the height of the
// vegetation in the canopy model. One cell of the OGC API coverage (`subset=x(..),y(..)` around
// the clicked point in the coverage's CRS, CoverageJSON) — the same numbers the downloads hold.

import { formatNumber, pick, t } from "./i18n.js";
import { escapeHtml } from "./popup.js";
import { absolute } from "./basemap.js";
import { toUtm32 } from "./utm.js";

/** The coverages a click reads now: of the visible raster overlays and the base map. */
export function valueSources(manifest, layers, base) {
  const ids = [...layers.visibleIds().filter((id) => manifest.layers[id].draw?.kind === "raster"), base];
  const seen = new Set();
  return ids.map((id) => manifest.layers[id] && manifest.layers[id].value)
    .filter((v) => v && v.crs === "EPSG:25832" && !seen.has(v.coverage) && seen.add(v.coverage));
}

/** The value of a coverage at [lon, lat], or null outside the data or on a nodata cell. */
export async function valueAt(source, lngLat) {
  const [x, y] = toUtm32(lngLat);
  const [x0, y0, x1, y1] = source.extent;
  const h = source.cell / 2;
  if (x - h < x0 || x + h > x1 || y - h < y0 || y + h > y1) return null; // the server says 400
  const url = `${absolute(source.coverage)}?f=json&subset=x(${(x - h).toFixed(2)}:${(x + h).toFixed(2)}),`
    + `y(${(y - h).toFixed(2)}:${(y + h).toFixed(2)})`;
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) return null;
  const body = await response.json();
  const range = Object.values(body.ranges || {})[0];
  const value = range && (range.values || []).find((v) => v !== null && Number.isFinite(v));
  return value === undefined ? null : value;
}

/** The popup text for the values found at [lon, lat]: "Digitales Geländemodell: 52,3 m". */
export function valueHtml(found, lngLat) {
  const at = toUtm32(lngLat).map((v) => v.toFixed(2)).join(" ");
  const rows = found.map(({ source, value }) => `<tr data-dataset="${source.dataset}"><th scope="row">${escapeHtml(pick(source.title))}</th>`
    + `<td data-value="${value}">${escapeHtml(formatNumber(value, 1))} ${escapeHtml(source.unit)}</td></tr>`);
  return `<div class="feature-card value-card" data-utm="${at}"><h3>${escapeHtml(t("value.title"))}</h3>`
    + `<table>${rows.join("")}</table></div>`;
}
