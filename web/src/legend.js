// Legends from the manifest (`layer.legend`, written by geoportal/app/webmap.py from the dataset's
// `style`, the tile renderer's colour ramp and the data's value range): a swatch beside each
// layer's name, and under it the classes with their values, the colour scale of a raster with
// its numbers, or the image colours of an aerial photo. The print sheet reuses them.

import { formatNumber, pick, t } from "./i18n.js";
import { escapeHtml } from "./popup.js";
import { symbolSvg } from "./symbols.js";

function gradient(stops) {
  const [lo, hi] = [stops[0][0], stops[stops.length - 1][0]];
  const at = (v) => (hi === lo ? 0 : ((v - lo) / (hi - lo)) * 100).toFixed(1);
  return `linear-gradient(90deg, ${stops.map(([v, c]) => `${c} ${at(v)}%`).join(", ")})`;
}

/** The small sign beside the layer's name in the tree. */
export function legendSwatch(layer) {
  const legend = layer.legend || {};
  if (legend.kind === "symbols") {
    return symbolSvg(legend.symbol, (legend.classes[0] || {}).colour || layer.colour, 18);
  }
  if (legend.stops) {
    return `<span class="swatch ramp" style="background:${gradient(legend.stops)}" aria-hidden="true"></span>`;
  }
  if (legend.kind === "swatches" || (legend.kind === "area" && legend.classes)) {
    const parts = legend.classes.map((c, i) => `${c.colour} ${(i * 100) / legend.classes.length}% `
      + `${((i + 1) * 100) / legend.classes.length}%`);
    return `<span class="swatch ramp" style="background:linear-gradient(90deg, ${parts.join(", ")})" aria-hidden="true"></span>`;
  }
  if (!layer.draw) return `<span class="swatch none" aria-hidden="true"></span>`;
  const shape = legend.kind === "line" ? "line" : "area";
  return `<span class="swatch ${shape}" style="background:${layer.colour}" aria-hidden="true"></span>`;
}

function metres(value) {
  return `${formatNumber(value, 1)} m`;
}

function scale(legend, low, high) {
  return `<div class="legend-scale"><span class="legend-bar" style="background:${gradient(legend.stops)}"></span>`
    + `<span class="legend-ends"><span>${escapeHtml(low)}</span><span>${escapeHtml(high)}</span></span></div>`;
}

/** The classes or scale of a layer (HTML), "" when the swatch says it all. */
export function legendHtml(layer) {
  const legend = layer.legend || {};
  const title = escapeHtml(t("legend.of", { title: pick(layer.title) }));
  let body = "";
  if ((legend.kind === "symbols" && legend.classes.length > 1) || legend.kind === "swatches"
    || (legend.kind === "area" && legend.classes)) {
    body = `<ul>${legend.classes.map((c) => `<li data-colour="${c.colour}">`
      + (legend.kind === "symbols" ? symbolSvg(legend.symbol, c.colour, 16)
        : `<span class="swatch" style="background:${c.colour}" aria-hidden="true"></span>`)
      + ` <span>${escapeHtml(pick(c.label))}</span></li>`).join("")}</ul>`;
  } else if (legend.kind === "ramp") {
    const stops = legend.stops;
    body = `<p>${escapeHtml(pick(legend.label))}</p>`
      + scale(legend, metres(stops[0][0]), metres(stops[stops.length - 1][0]))
      + `<p class="legend-ticks">${stops.map(([v]) => escapeHtml(formatNumber(v, 1))).join(" · ")} m</p>`;
  } else if (legend.kind === "shade") {
    body = scale(legend, pick(legend.labels.low), pick(legend.labels.high));
  } else if (legend.kind === "range" && legend.range) {
    body = `<p>${escapeHtml(pick(legend.label))}</p>`
      + scale(legend, metres(legend.range[0]), metres(legend.range[1]))
      + `<p class="legend-ticks">${escapeHtml(t("legend.range", {
        min: metres(legend.range[0]), max: metres(legend.range[1]) }))}</p>`;
  }
  if (!body) return "";
  return `<div class="legend" data-legend="${layer.id}" role="group" aria-label="${title}">${body}</div>`;
}
