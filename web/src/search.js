// The search box: a WAI-ARIA 1.2 combobox over the portal's geocoder (/search,
// geoportal/app/geocoder.py). The box sends the text as typed; the server alone folds it
// ("Werdener Str." = "Werdener Straße", ß/ss, umlauts, typos), so there is one folding. The
// answer lists, grouped and counted: addresses, parcels ("Flur 37 Flurstück 5/2"), streets,
// districts and places, tree genera ("Linde (Tilia)": all 213 trees, shown as a filter of their
// layer) and the named features of every other layer. Suggestions come while typing (debounced); arrows move through them, Enter
// picks one (or searches at once), Escape closes the list and then clears the box.

import { absolute } from "./basemap.js";
import { pick, t } from "./i18n.js";
import { escapeHtml } from "./popup.js";

const DEBOUNCE_MS = 200;
/** Headings of the geocoder's kinds; the other features are headed by their layer's title. */
const KIND_TITLES = {
  address: { de: "Adressen", en: "Addresses" },
  parcel: { de: "Flurstücke", en: "Parcels" },
  street: { de: "Straßen", en: "Streets" },
  place: { de: "Stadtteile und Orte", en: "Districts and places" },
  species: { de: "Baumarten", en: "Tree species" },
};

/** The geocoder's groups for `term`: [{kind, layer, title, matched, hits}], each hit with its
 * manifest layer; groups whose layer the map does not have are left out. */
export async function search(manifest, term, { signal } = {}) {
  const response = await fetch(absolute(`/search?q=${encodeURIComponent(term)}`), { signal });
  if (!response.ok) return [];
  const { groups } = await response.json();
  return groups.flatMap((g) => {
    const hits = g.hits.filter((h) => manifest.layers[h.layer] && manifest.layers[h.layer].items)
      .map((h) => ({ ...h, layer: manifest.layers[h.layer], id: h.feature_id }));
    if (!hits.length) return [];
    return [{ kind: g.kind, layer: hits[0].layer, matched: g.matched, hits,
      title: KIND_TITLES[g.kind] || hits[0].layer.title }];
  });
}

/** A hit's feature, fetched from its layer by id, or by name (a street: one of its segments). */
export async function featureOf(hit) {
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

function countText(g) {
  return g.matched > g.hits.length ? t("search.some", { n: g.hits.length, total: g.matched })
    : t("search.all", { n: g.matched });
}

function optionHtml(hit, n) {
  const many = hit.count > 1 ? t("search.genus", { n: hit.count }) : "";
  const detail = [many, hit.detail].filter(Boolean).join(" · ");
  return `<li role="option" id="search-option-${n}" data-hit="${n}" aria-selected="false">`
    + `${escapeHtml(hit.title)}${detail ? `<br><small>${escapeHtml(detail)}</small>` : ""}</li>`;
}

/** The listbox's content: a group per kind or layer, its heading with the count. */
export function listHtml(groups) {
  let n = 0;
  return groups.map((g, k) => `<ul role="group" aria-labelledby="search-group-${k}">`
    + `<li role="presentation" id="search-group-${k}" class="search-group" data-kind="${escapeHtml(g.kind)}" data-layer="${escapeHtml(g.layer.id)}">`
    + `${escapeHtml(pick(g.title))} <small>${escapeHtml(countText(g))}</small></li>`
    + g.hits.map((hit) => optionHtml(hit, n++)).join("") + "</ul>").join("");
}

/**
 * Make `input` a combobox over the listbox `list` (a <div>), with `status` a live region
 * that says how many were found; `onPick(hit)` when a suggestion is chosen.
 */
export function initSearch({ form, input, list, status, manifest, onPick }) {
  let hits = [];
  let active = -1;
  let timer = 0;
  let controller = null;
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", t("search.label"));

  const setOpen = (open) => {
    input.setAttribute("aria-expanded", String(open && hits.length > 0));
    list.hidden = !(open && hits.length > 0);
    if (!open) setActive(-1);
  };
  const setActive = (k) => {
    active = k;
    for (const option of list.querySelectorAll("[role=option]")) {
      option.setAttribute("aria-selected", String(Number(option.dataset.hit) === k));
    }
    if (k < 0) input.removeAttribute("aria-activedescendant");
    else {
      input.setAttribute("aria-activedescendant", `search-option-${k}`);
      list.querySelector(`#search-option-${k}`).scrollIntoView({ block: "nearest" });
    }
  };
  const run = async () => {
    const term = input.value.trim();
    if (controller) controller.abort();
    if (term.length < 2) {
      hits = [];
      setOpen(false);
      status.textContent = "";
      delete status.dataset.busy;
      return;
    }
    controller = new AbortController();
    let groups;
    try {
      groups = await search(manifest, term, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      throw error;
    }
    hits = groups.flatMap((g) => g.hits);
    list.innerHTML = listHtml(groups);
    delete status.dataset.busy;
    const total = groups.reduce((a, g) => a + g.matched, 0);
    status.textContent = hits.length ? t("search.results", { n: total }) : t("search.none");
    setActive(-1);
    setOpen(document.activeElement === input || list.contains(document.activeElement));
  };
  const choose = (k) => {
    const hit = hits[k];
    if (!hit) return;
    input.value = hit.title;
    setOpen(false);
    onPick(hit);
  };
  input.addEventListener("input", () => {
    status.dataset.busy = "true"; // until the answer for this text is shown
    if (controller) controller.abort(); // an older answer must not overtake this text
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    const open = input.getAttribute("aria-expanded") === "true";
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) { setOpen(true); if (!hits.length) return; }
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive(active < 0 && step < 0 ? hits.length - 1 : (active + step + hits.length) % hits.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (open && active >= 0) choose(active);
      else { clearTimeout(timer); run(); }
    } else if (event.key === "Escape") {
      if (open) { event.preventDefault(); event.stopPropagation(); setOpen(false); }
      else if (input.value) { event.preventDefault(); input.value = ""; hits = []; status.textContent = ""; }
    }
  });
  input.addEventListener("blur", () => setTimeout(() => {
    if (!form.contains(document.activeElement)) setOpen(false);
  }, 150));
  list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the box
  list.addEventListener("click", (event) => {
    const option = event.target.closest("[role=option]");
    if (option) choose(Number(option.dataset.hit));
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    input.focus();
    run();
  });
}

/**
 * Show every tree of a genus hit: its layer on, filtered to the genus (the layers' and the
 * table's requests carry `layer.activeFilter` as CQL2), the map fitted to all of them, and a
 * note in `box` with a button that lifts the filter.
 */
export function showGenus(hit, { map, layers, box }) {
  const layer = hit.layer;
  layer.activeFilter = hit.filter;
  if (!layers.isVisible(layer.id)) layers.setVisible(layer.id, true);
  else layers.reloadFeatures();
  const [w, s, e, n] = hit.bbox;
  map.fitBounds([[w, s], [e, n]], { padding: 40, maxZoom: 17, duration: 0 });
  box.innerHTML = `<p class="search-filter" data-filter="${escapeHtml(layer.id)}">`
    + `${escapeHtml(t("search.filtered", { layer: pick(layer.title), title: hit.title, n: hit.count }))} `
    + `<button type="button">${escapeHtml(t("search.unfilter"))}</button></p>`;
  box.querySelector("button").addEventListener("click", () => {
    delete layer.activeFilter;
    layers.reloadFeatures();
    box.textContent = "";
  }, { once: true });
}
