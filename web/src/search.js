// Search by name or address across the layers, through the OGC API itself: one CQL2 query per
// layer over its name and address fields (manifest `search_fields`), e.g.
//   /collections/trees/items?filter=CASEI(street) LIKE CASEI('%speestr%')
// so the search finds features anywhere in the city, not only those loaded in the map view,
// and what it finds is what a developer gets from the API. The street network is searched too.

import { absolute } from "./basemap.js";
import { pick, t } from "./i18n.js";
import { escapeHtml, featureTitle } from "./popup.js";

const PER_LAYER = 5;

/**
 * The CQL2 text filter for `term` over `fields`: a case-insensitive substring match, plus the
 * term as typed, since the SQLite back end folds the case of ASCII letters only ("Öff…").
 */
export function searchFilter(fields, term) {
  const literal = term.replace(/[%_\\]/g, "").replace(/'/g, "''");
  return fields.map((f) => `CASEI(${f}) LIKE CASEI('%${literal}%') OR ${f} LIKE '%${literal}%'`)
    .join(" OR ");
}

async function searchLayer(layer, term) {
  const params = new URLSearchParams({
    f: "json", limit: String(PER_LAYER * 4), filter: searchFilter(layer.search_fields, term),
  });
  const response = await fetch(`${absolute(layer.items)}?${params}`);
  if (!response.ok) return [];
  const collection = await response.json();
  const seen = new Set();
  const hits = [];
  for (const feature of collection.features || []) {
    const title = featureTitle(layer, feature.properties || {});
    const where = layer.search_fields.map((f) => feature.properties[f]).filter(Boolean).join(", ");
    const key = `${title}|${where}`;
    if (seen.has(key)) continue; // a street's many segments: one hit per name
    seen.add(key);
    hits.push({ layer, feature, title, where });
    if (hits.length >= PER_LAYER) break;
  }
  return hits;
}

/** Every layer's hits for `term` (layers with search fields and an items API). */
export async function search(manifest, term) {
  const layers = Object.values(manifest.layers).filter((l) => l.items && (l.search_fields || []).length);
  const answers = await Promise.all(layers.map((l) => searchLayer(l, term).catch(() => [])));
  return answers.flat();
}

/** Show the hits as a list of buttons; `onPick(hit)` when one is chosen. */
export function renderResults(container, hits, onPick) {
  if (!hits.length) {
    container.innerHTML = `<p>${escapeHtml(t("search.none"))}</p>`;
    return;
  }
  container.innerHTML = `<p>${escapeHtml(t("search.results", { n: hits.length }))}</p><ul>`
    + hits.map((hit, i) => {
      const detail = hit.where && hit.where !== hit.title ? `${hit.where} · ` : "";
      return `<li><button type="button" data-hit="${i}">${escapeHtml(hit.title)}<br>`
        + `<small>${escapeHtml(detail + pick(hit.layer.title))}</small></button></li>`;
    }).join("") + "</ul>";
  container.onclick = (event) => {
    const button = event.target.closest("button[data-hit]");
    if (button) onPick(hits[Number(button.dataset.hit)]);
  };
}
