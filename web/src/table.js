// The table view: a layer's features in the current map view as an HTML table — the
// non-visual alternative to the map. Opened from the layer tree's "Tabelle" button (keyboard:
// Tab to it, Enter), it takes the focus; Escape or "Tabelle schließen" gives it back. Each row
// has a button that shows the feature on the map with its popup.

import { absolute } from "./basemap.js";
import { pick, t } from "./i18n.js";
import { narrowing } from "./layers.js";
import { escapeHtml, featureTitle, formatValue } from "./popup.js";

const TABLE_LIMIT = 1000;

let opener = null;

function viewBbox(map) {
  const b = map.getBounds();
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
}

async function fetchFeatures(layer, map) {
  const url = `${absolute(layer.items)}?f=json&limit=${TABLE_LIMIT}&bbox=${viewBbox(map)}${narrowing(layer)}`;
  const response = await fetch(url, { headers: { Accept: "application/geo+json" } });
  if (!response.ok) throw new Error(`${layer.id}: HTTP ${response.status}`);
  return response.json();
}

function tableHtml(layer, features, matched) {
  const fields = layer.fields || [];
  const caption = t("table.caption", { title: pick(layer.title), n: features.length })
    + (matched > features.length ? ` (${t("layers.truncated", { n: features.length, total: matched })})` : "");
  const head = `<tr><th scope="col">${escapeHtml(t("table.show"))}</th>`
    + fields.map((f) => `<th scope="col">${escapeHtml(pick(f.title))}${f.unit ? ` (${escapeHtml(f.unit)})` : ""}</th>`).join("")
    + "</tr>";
  const rows = features.map((feature, i) => {
    const p = feature.properties || {};
    const cells = fields.map((f) => {
      const numeric = f.type === "number" || f.type === "integer";
      const text = formatValue({ ...f, unit: undefined }, p[f.name]);
      return `<td${numeric ? ' class="num"' : ""}>${escapeHtml(text)}</td>`;
    }).join("");
    const label = `${t("table.show")}: ${featureTitle(layer, p)}`;
    return `<tr><td><button type="button" data-row="${i}" aria-label="${escapeHtml(label)}">`
      + `${escapeHtml(featureTitle(layer, p))}</button></td>${cells}</tr>`;
  }).join("");
  return `<table data-layer="${layer.id}"><caption>${escapeHtml(caption)}</caption>`
    + `<thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

/**
 * Open the table of `layer` in `section`. `onShow(layer, feature)` is called when a row's
 * button is pressed; `from` is the element to give the focus back to on closing.
 */
export async function openTable(section, layer, map, { from, onShow }) {
  opener = from || document.activeElement;
  const heading = section.querySelector("h2");
  const body = section.querySelector("#table-body");
  heading.textContent = t("layers.tableOf", { title: pick(layer.title) });
  body.innerHTML = `<p>${escapeHtml(t("layers.loading"))}</p>`;
  section.hidden = false;
  section.focus();
  let collection;
  try {
    collection = await fetchFeatures(layer, map);
  } catch {
    body.innerHTML = `<p>${escapeHtml(t("layers.failed"))}</p>`;
    return;
  }
  const features = collection.features || [];
  body.innerHTML = features.length
    ? tableHtml(layer, features, collection.numberMatched ?? features.length)
    : `<p>${escapeHtml(t("table.empty"))}</p>`;
  body.onclick = (event) => {
    const button = event.target.closest("button[data-row]");
    if (button) onShow(layer, features[Number(button.dataset.row)]);
  };
}

export function closeTable(section) {
  section.hidden = true;
  // listeners may first make the opener visible again (the phone's drawer it sits in)
  section.dispatchEvent(new Event("close"));
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}

/** Wire the close button and Escape. */
export function initTable(section) {
  section.querySelector("#table-close").addEventListener("click", () => closeTable(section));
  section.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeTable(section);
  });
}
