// The layer panel: base-map switcher (radio buttons) and the layer tree grouped by theme, each
// layer with a checkbox, its legend swatch, a table-view button, its catalogue entry and
// downloads. Plain form controls, so keyboard and screen readers work without extra code.

import { absolute, baseMaps, setBase } from "./basemap.js";
import { getLang, pick, t } from "./i18n.js";
import { legendHtml, legendSwatch as swatch } from "./legend.js";
import { escapeHtml } from "./popup.js";

function links(layer) {
  const parts = [];
  if (layer.items) {
    parts.push(`<button type="button" data-table="${layer.id}" `
      + `aria-label="${escapeHtml(t("layers.tableOf", { title: pick(layer.title) }))}">${t("layers.table")}</button>`);
  }
  // the catalogue entry and the downloads fold into one "Info und Download": two Tab stops per
  // layer (box, table) plus one, instead of six (124 Tab presses before the map, issue 21)
  const more = [];
  if (layer.catalogue) {
    // the dataset's own page (licence, downloads, APIs, catalogue entry), in the map's language
    const href = /^https?:/.test(layer.catalogue)
      ? layer.catalogue
      : absolute(layer.catalogue) + (getLang() === "en" ? "?lang=en" : "");
    more.push(`<a href="${escapeHtml(href)}" data-catalogue="${layer.id}">${t("layers.catalogue")}</a>`);
  }
  for (const d of layer.downloads || []) {
    more.push(`<a href="${escapeHtml(absolute(d.href))}" type="${escapeHtml(d.type)}" download>${escapeHtml(d.format)}</a>`);
  }
  if (more.length) {
    parts.push(`<details class="layer-more"><summary aria-label="${escapeHtml(t("layers.moreOf", { title: pick(layer.title) }))}">`
      + `${t("layers.more")}</summary>${more.join(" ")}</details>`);
  }
  return `<div class="layer-links">${parts.join(" ")}</div>`;
}

function layerItem(layer) {
  const title = escapeHtml(pick(layer.title));
  const description = escapeHtml(pick(layer.description));
  const control = layer.draw
    ? `<input type="checkbox" id="layer-${layer.id}" data-layer="${layer.id}" aria-describedby="note-${layer.id}">`
      + `<label for="layer-${layer.id}" title="${description}">${swatch(layer)}<span>${title}</span></label>`
    : `<span class="layer-label">${swatch(layer)} <span>${title}</span></span>`;
  const note = layer.draw ? "" : t("layers.noMap");
  return `<li data-layer-item="${layer.id}"><div class="layer-row">${control}</div>`
    + `<div class="layer-note" id="note-${layer.id}" aria-live="polite">${note}</div>`
    + `${legendHtml(layer)}${links(layer)}</li>`;
}

/** Fill the base-map fieldset; `onChange(id)` after the user picks one. */
export function renderBaseMaps(fieldset, map, manifest, chosen, onChange) {
  for (const base of baseMaps(manifest)) {
    const label = document.createElement("label");
    // an aerial image's legend: its colours as they appear (manifest.layers[<dataset>].legend)
    const drawn = manifest.layers[base.id];
    const colours = drawn && drawn.legend && drawn.legend.kind === "swatches" ? swatch(drawn) : "";
    label.innerHTML = `<input type="radio" name="base" value="${base.id}"> ${colours}`
      + `<span>${escapeHtml(pick(base.title))}</span>`;
    const input = label.querySelector("input");
    input.checked = base.id === chosen;
    input.addEventListener("change", () => {
      setBase(map, manifest, base.id);
      onChange(base.id);
    });
    fieldset.append(label);
  }
}

/** Fill the layer tree; checkboxes switch layers, table buttons call `onTable(id, button)`. */
export function renderTree(container, manifest, layers, onTable) {
  container.innerHTML = manifest.groups.map((group) => `<details open data-group="${group.id}">`
    + `<summary>${escapeHtml(pick(group.title))}</summary>`
    + `<ul>${group.layers.map((id) => layerItem(manifest.layers[id])).join("")}</ul></details>`).join("");
  container.addEventListener("change", (event) => {
    const id = event.target.dataset.layer;
    if (id) layers.setVisible(id, event.target.checked);
  });
  container.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-table]");
    if (button) onTable(button.dataset.table, button);
  });
}

/** Bring a layer's checkbox and status note in line with the map. */
export function updateTreeItem(container, layers, id) {
  const box = container.querySelector(`input[data-layer="${id}"]`);
  if (box) box.checked = layers.isVisible(id);
  const note = container.querySelector(`#note-${id}`);
  if (!note || !layers.layer(id).draw) return;
  const status = layers.status.get(id);
  if (!layers.isVisible(id) || !status) note.textContent = "";
  else if (status === "loading") note.textContent = t("layers.loading");
  else if (status === "failed") note.textContent = t("layers.failed");
  else {
    const n = layers.features(id).length;
    const total = layers.matched(id);
    note.textContent = total > n ? t("layers.truncated", { n, total }) : t("layers.count", { n });
  }
}
