// Search by name or address across the layers, through the OGC API itself: one CQL2 query per
// layer over its name and address fields (manifest `search_fields`), e.g.
//   /collections/trees/items?filter=CASEI(street) LIKE CASEI('%speestr%')
// so the search finds features anywhere in the city, not only those loaded in the map view,
// and what it finds is what a developer gets from the API. The street network is searched too.

import { absolute } from "./basemap.js";
import { pick, t } from "./i18n.js";
import { escapeHtml, featureTitle } from "./popup.js";

const PER_LAYER = 5;
//: Which layers answer first: the street, then what has an address, the rest, the cadastre last
//: (a street name used to come 11th, after buildings and parcels).
const RANK = { streets: 0, buildings: 3, parcels: 4 };

/**
 * The spellings to look for: "Werdener Str." is "Werdener Straße"; ß and ss, ä and ae are the
 * same to a searcher; the SQLite back end folds the case of ASCII letters only, so a word typed
 * in lower case is also tried with a capital first letter ("öffentliche" → "Öffentliche").
 */
export function spellings(term) {
  const base = term.trim().replace(/\s+/g, " ").replace(/\b(s|S)tr\.?(?=\s|\d|$)/g, "$1traße");
  const forms = new Set([base]);
  for (const form of [...forms]) forms.add(form.replace(/ß/g, "ss")).add(form.replace(/ss/g, "ß"));
  for (const form of [...forms]) {
    forms.add(form.replace(/ae/g, "ä").replace(/oe/g, "ö").replace(/ue/g, "ü"));
  }
  for (const form of [...forms]) forms.add(form.charAt(0).toUpperCase() + form.slice(1));
  return [...forms];
}

/** The CQL2 text filter for `term` over `fields`: a case-insensitive substring match of each
 * spelling of it (:func:`spellings`). */
export function searchFilter(fields, term) {
  const literals = spellings(term).map((form) => form.replace(/[%_\\]/g, "").replace(/'/g, "''"));
  return fields.flatMap((f) => literals.map((l) => `CASEI(${f}) LIKE CASEI('%${l}%') OR ${f} LIKE '%${l}%'`))
    .join(" OR ");
}

function fold(text) {
  return String(text).toLowerCase().replace(/ß/g, "ss").replace(/ä/g, "ae").replace(/ö/g, "oe")
    .replace(/ü/g, "ue");
}

/** How well a hit's text fits the term (``wanted``: its folded spellings, the term as meant
 * first): 0 it is the term, 1 it starts with it, 2 it has it. */
function fit(text, wanted) {
  const a = fold(text);
  return a === wanted[0] ? 0 : a.startsWith(wanted[0]) ? 1 : 2;
}

async function searchLayer(layer, term) {
  const params = new URLSearchParams({
    f: "json", limit: String(PER_LAYER * 4), filter: searchFilter(layer.search_fields, term),
  });
  const response = await fetch(`${absolute(layer.items)}?${params}`);
  if (!response.ok) return { layer, hits: [], matched: 0 };
  const collection = await response.json();
  const wanted = spellings(term).map(fold);
  const seen = new Set();
  const hits = [];
  for (const feature of collection.features || []) {
    const p = feature.properties || {};
    // the field the term was found in names the hit: a building found by its address is that
    // address, not its ALKIS function
    const found = layer.search_fields.find((f) => p[f] && fit(p[f], wanted) < 2)
      || layer.search_fields.find((f) => p[f] && wanted.some((w) => fold(p[f]).includes(w)));
    const title = found && found !== layer.title_field ? String(p[found]) : featureTitle(layer, p);
    const where = layer.search_fields.map((f) => p[f]).filter((v) => v && v !== title).join(", ");
    const key = `${title}|${where}`;
    // a street's many segments are one hit; two lime trees in one street are two trees
    if (/Line/.test(layer.geometry || "") && seen.has(key)) continue;
    seen.add(key);
    hits.push({ layer, feature, title, where, fit: fit(title, wanted) });
  }
  hits.sort((a, b) => a.fit - b.fit);
  const matched = collection.numberMatched ?? hits.length;
  return { layer, hits: hits.slice(0, PER_LAYER), matched: Math.max(matched, hits.length) };
}

/** The geocoder's kinds the map lists, with their headings. */
const GEOCODED = {
  address: { de: "Adressen", en: "Addresses" },
  street: { de: "Straßen", en: "Streets" },
};

/** The geocoder's groups (``/search``, geoportal/app/geocoder.py) of addresses and streets,
 * which forgive typos ("Werdner Strase 12") the layers' CQL2 search cannot: [{layer, hits,
 * matched, title}], the hits without their feature (see :func:`featureOf`). Its places of
 * interest are left to the layers' own groups, which come with their features. */
async function geocode(manifest, term) {
  const response = await fetch(absolute(`/search?q=${encodeURIComponent(term)}`));
  if (!response.ok) return [];
  const { groups } = await response.json();
  return groups.filter((g) => GEOCODED[g.kind] && g.hits.length).flatMap((g) => {
    const layer = manifest.layers[g.hits[0].layer];
    if (!layer || !layer.items) return [];
    const hits = g.hits.map((h) => ({ layer, id: h.feature_id, title: h.title, where: "", fit: h.fit }));
    return [{ layer, hits, matched: g.matched, title: GEOCODED[g.kind] }];
  });
}

/** A hit's feature: its own, or fetched from its layer by id (an address) or by name (a
 * street, one of its segments). */
export async function featureOf(hit) {
  if (hit.feature) return hit.feature;
  const items = absolute(hit.layer.items);
  const url = hit.id
    ? `${items}/${encodeURIComponent(hit.id)}?f=json`
    : `${items}?${new URLSearchParams({
      f: "json", limit: "1",
      filter: `${hit.layer.title_field || "name"} = '${hit.title.replace(/'/g, "''")}'`,
    })}`;
  const answer = await (await fetch(url)).json();
  return answer.features ? answer.features[0] : answer;
}

/** Every layer's hits for `term`, grouped by layer, the addresses and streets first (from the
 * geocoder where it found them), each group with the number of matches in the whole city:
 * [{layer, hits, matched}]. */
export async function search(manifest, term) {
  const layers = Object.values(manifest.layers).filter((l) => l.items && (l.search_fields || []).length);
  const [coded, groups] = await Promise.all([
    geocode(manifest, term).catch(() => []),
    Promise.all(layers.map((l) => searchLayer(l, term)
      .catch(() => ({ layer: l, hits: [], matched: 0 })))),
  ]);
  const rank = (g) => [RANK[g.layer.id] ?? (g.layer.search_fields.includes("address") ? 1 : 2),
    Math.min(...g.hits.map((h) => h.fit), 3)];
  const covered = new Set(coded.map((g) => g.layer.id));
  return [...coded, ...groups.filter((g) => g.hits.length && !covered.has(g.layer.id)).sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[1] - y[1] || x[0] - y[0];
  })];
}

/** Show the groups of hits as lists of buttons, each under its layer with the number of
 * matches ("Stadtbäume: 5 von 491"); `onPick(hit)` when one is chosen. */
export function renderResults(container, groups, onPick) {
  const hits = groups.flatMap((g) => g.hits);
  if (!hits.length) {
    container.innerHTML = `<p>${escapeHtml(t("search.none"))}</p>`;
    return;
  }
  let n = 0;
  container.innerHTML = `<p>${escapeHtml(t("search.results", { n: groups.reduce((a, g) => a + g.matched, 0) }))}</p>`
    + groups.map((g) => {
      const count = g.matched > g.hits.length
        ? t("search.some", { n: g.hits.length, total: g.matched }) : t("search.all", { n: g.matched });
      return `<h3 class="search-group" data-layer="${escapeHtml(g.layer.id)}">${escapeHtml(pick(g.title || g.layer.title))} <small>${escapeHtml(count)}</small></h3><ul>`
        + g.hits.map((hit) => {
          const detail = hit.where ? `<br><small>${escapeHtml(hit.where)}</small>` : "";
          return `<li><button type="button" data-hit="${n++}">${escapeHtml(hit.title)}${detail}</button></li>`;
        }).join("") + "</ul>";
    }).join("");
  container.onclick = (event) => {
    const button = event.target.closest("button[data-hit]");
    if (button) onPick(hits[Number(button.dataset.hit)]);
  };
}
