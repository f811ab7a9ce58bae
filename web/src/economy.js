// The economic-development page: free commercial space filtered with the OGC API's CQL2.
//
// The form becomes one CQL2 text filter and the table's sort one `sortby`; the page shows what
// `/collections/commercial_spaces/items` answers to exactly that request (all pages of it), and
// links the same request for developers. The form state lives in the page's URL, so a filtered
// view can be bookmarked and shared.

import { addStrings, localisePageLinks, setLang, t } from "./i18n.js";
import {
  AMENITIES, CHOICES, COLUMNS, CSV_FORMS, NUMBERS, apiQuery, buildFilter, parseNumber, problems, sortKey, toCsv,
  valueOf,
} from "./economy-query.js";
import { offersMap } from "./economy-map.js";

const COLLECTION = "collections/commercial_spaces/items";
const PAGE_SIZE = 1000;

// English for the page's static text; the German is the HTML itself (read by germanStrings).
const ENGLISH = {
  "eco.title": "Available commercial space – Ratingen geoportal",
  "eco.skip": "Skip to the results",
  "eco.nav": "Navigation",
  "eco.home": "To the citizens' map",
  "eco.heading": "Available commercial space in Ratingen",
  "eco.intro": "Filter the office space, halls and plots offered by the economic development " +
    "office. The page queries the OGC API with CQL2: any application gets what you see " +
    "here from the same query.",
  "eco.filters": "Filters",
  "eco.area": "Area (m²)", "eco.from": "from", "eco.to": "to",
  "eco.price": "Price", "eco.rentMax": "rent at most (€/m² and month)",
  "eco.purchaseMax": "purchase price at most (€/m²)",
  "eco.priceHint": "Offices and halls are rented, plots bought: a rent limit shows rented offers, a price limit plots",
  "eco.kind": "Type", "eco.kind_Büro": "Office", "eco.kind_Halle": "Hall",
  "eco.kind_Grundstück": "Plot",
  "eco.zoning": "Zoning",
  "eco.zoning_GE": "Commercial area (GE)", "eco.zoning_GI": "Industrial area (GI)",
  "eco.zoning_MI": "Mixed area (MI)", "eco.zoning_MK": "Core area (MK)",
  "eco.zoning_SO": "Special area (SO)",
  "eco.near": "At least one within an 800 m walk",
  "eco.near_bus_stops": "Bus stop", "eco.near_childcare": "Day-care centre",
  "eco.near_schools": "School", "eco.near_shops": "Shop", "eco.near_restaurants": "Restaurant",
  "eco.near_cafes": "Café", "eco.near_pharmacies": "Pharmacy", "eco.near_green_spaces": "Green space",
  "eco.distances": "At most (road distance along the streets, km)",
  "eco.junction": "to a motorway junction", "eco.airport": "to Düsseldorf airport",
  "eco.sbahn": "to an S-Bahn station",
  "eco.apply": "Apply filters", "eco.reset": "Reset",
  "eco.apiLabel": "The same query in the API:",
  "eco.apiCsv": "The same with all fields as CSV from the API",
  "eco.results": "Results",
  "eco.mapLabel": "Map of the offers",
  "eco.legend": "Legend",
  "eco.target_airport": "Airport", "eco.target_junction": "Motorway junction",
  "eco.target_sbahn": "S-Bahn station",
  "eco.csv": "Download the result as CSV",
  "eco.csvExcel": "CSV for German Excel (semicolons, decimal commas)",
  "eco.caption": "Offers; distances along the road network in metres",
  "eco.empty": "No space meets all filters. Relax a filter, for example the distance or the area.",
};

/** The German strings are the page's own text: read once, before anything is translated. */
function germanStrings() {
  const table = {};
  const squash = (text) => text.replace(/\s+/g, " ").trim();
  for (const el of document.querySelectorAll("[data-i18n]")) {
    table[el.dataset.i18n] = squash(el.textContent);
  }
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    table[el.dataset.i18nLabel] = squash(el.getAttribute("aria-label") || "");
  }
  return table;
}

// Texts economy.js writes itself (not in the HTML), in both languages.
const MESSAGES = {
  de: {
    count: (n) => n === 1 ? "1 Angebot gefunden." : `${n} Angebote gefunden.`,
    loading: "Angebote werden geladen …",
    failed: (why) => `Die Abfrage ist fehlgeschlagen: ${why}`,
    range: "„bis“ muss mindestens so groß sein wie „von“.",
    notNumber: (label, value) => `${label}: „${value}“ ist keine Zahl ab 0 (Beispiel: 2,5).`,
    notWhole: (label, value) => `${label}: „${value}“ ist keine ganze Zahl ab 0 (Beispiel: 1500).`,
    notChoice: (label, value, allowed) => `${label}: „${value}“ gibt es nicht; möglich sind ${allowed}.`,
    fix: "Bitte korrigieren; bis dahin wird nicht gesucht:",
    show: "Auf der Karte zeigen",
    showFor: (name) => `${name} auf der Karte zeigen`,
    mapColumn: "Karte",
    details: {
      address: "Adresse", available_from: "Verfügbar ab", parcel_id: "Flurstück",
      road: "Wegstrecke", time: "Fahrzeit", line: "Luftlinie",
      airport: "Flughafen", motorway_junction: "Autobahnanschluss",
      sbahn_station: "S-Bahn", bus_stop: "Bushaltestelle", near: "In 800 m Fußweg",
    },
  },
  en: {
    count: (n) => n === 1 ? "1 offer found." : `${n} offers found.`,
    loading: "Loading the offers …",
    failed: (why) => `The query failed: ${why}`,
    range: "“to” must be at least as large as “from”.",
    notNumber: (label, value) => `${label}: “${value}” is not a number of 0 or more (e.g. 2.5).`,
    notWhole: (label, value) => `${label}: “${value}” is not a whole number of 0 or more (e.g. 1500).`,
    notChoice: (label, value, allowed) => `${label}: there is no “${value}”; choose from ${allowed}.`,
    fix: "Please correct this; nothing is searched until then:",
    show: "Show on the map",
    showFor: (name) => `Show ${name} on the map`,
    mapColumn: "Map",
    details: {
      address: "Address", available_from: "Available from", parcel_id: "Parcel",
      road: "Road distance", time: "Travel time", line: "Straight line",
      airport: "Airport", motorway_junction: "Motorway junction",
      sbahn_station: "S-Bahn", bus_stop: "Bus stop", near: "Within an 800 m walk",
    },
  },
};

/** ?lang= first, then the path: /economy is English, /wirtschaft German. */
export function pageLanguage(loc = window.location) {
  const asked = new URLSearchParams(loc.search).get("lang");
  if (asked === "en" || asked === "de") return asked;
  return loc.pathname.replace(/\/$/, "").endsWith("/economy") ? "en" : "de";
}

function translate(lang) {
  addStrings("de", germanStrings());
  addStrings("en", ENGLISH);
  setLang(lang);
  localisePageLinks();
  document.title = t("eco.title");
  const other = lang === "en" ? "de" : "en";
  const link = document.getElementById("lang-switch");
  link.textContent = other === "en" ? "English" : "Deutsch";
  link.lang = link.hreflang = other;
}

/** The form's state as URL parameters (only the filled fields), and back. */
function formState(form) {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) {
    if (String(value).trim() !== "") params.append(key, String(value).trim());
  }
  return params;
}

function restoreForm(form, params) {
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") el.checked = params.getAll(el.name).includes(el.value);
    else el.value = params.get(el.name) ?? "";
  }
}

/** Every page of the answer, following the API's `next` links. */
async function fetchAll(url) {
  const features = [];
  let next = url;
  let matched = null;
  while (next) {
    const response = await fetch(next, { headers: { Accept: "application/geo+json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.description || `HTTP ${response.status}`);
    features.push(...body.features);
    matched ??= body.numberMatched;
    const link = (body.links || []).find((l) => l.rel === "next");
    next = link && body.features.length ? link.href : null;
  }
  return { features, matched: matched ?? features.length };
}

class EconomyPage {
  constructor(lang) {
    this.lang = lang;
    this.msg = MESSAGES[lang];
    this.form = document.getElementById("filters");
    this.table = document.getElementById("offers");
    this.status = document.getElementById("status");
    this.error = document.getElementById("error");
    this.empty = document.getElementById("empty");
    this.features = [];
    this.sort = null;  // {key, descending}
    this.number = new Intl.NumberFormat(lang === "en" ? "en-GB" : "de-DE");
    this.map = offersMap(document.getElementById("map"), {
      label: t("eco.mapLabel"), format: (f) => this.details(f),
    });
  }

  start() {
    const params = new URLSearchParams(window.location.search);
    restoreForm(this.form, params);
    const sort = params.get("sort");
    if (sort) this.sort = { key: sort.replace(/^[-+]/, ""), descending: sort.startsWith("-") };
    this.header();
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (this.checkRange()) this.update(true);
    });
    for (const name of Object.keys(NUMBERS)) {
      this.form[name].addEventListener("input", () => this.form[name].setCustomValidity(""));
    }
    this.form.area_min.addEventListener("input", () => this.form.area_max.setCustomValidity(""));
    this.form.addEventListener("reset", () => setTimeout(() => this.update(true)));
    document.getElementById("csv").addEventListener("click", () => this.download(CSV_FORMS.standard));
    document.getElementById("csv-excel").addEventListener("click", () => this.download(CSV_FORMS.excel));
    this.update(false, params);  // the URL's own values: a box the form lacks (zoning=XX) too
  }

  /** An area range "from" above "to" would silently find nothing: say so at the field. */
  checkRange() {
    const { area_min: low, area_max: high } = this.form;
    const [from, to] = [low, high].map((el) => parseNumber(el.value, NUMBERS[el.name]));
    const bad = from > to;  // false when either is empty or unreadable: that is said elsewhere
    high.setCustomValidity(bad ? this.msg.range : "");
    return high.reportValidity();
  }

  /** The API request of the current form and sort. */
  request() {
    const filter = buildFilter(formState(this.form));
    const col = this.sort && COLUMNS.find((c) => c.key === this.sort.key);
    const sortby = this.sort
      ? `${this.sort.descending ? "-" : "+"}${col ? sortKey(col) : this.sort.key}` : null;
    return new URL(`${COLLECTION}?${apiQuery(filter, sortby, PAGE_SIZE)}`, document.baseURI);
  }

  async update(remember, asked = null) {
    const params = formState(this.form);
    if (this.sort) params.set("sort", `${this.sort.descending ? "-" : ""}${this.sort.key}`);
    const lang = new URLSearchParams(window.location.search).get("lang");
    if (lang) params.set("lang", lang);
    if (remember) history.replaceState(null, "", `?${params}`);
    this.updateLangLink(params);

    const url = this.request();
    const link = document.getElementById("api-link");
    link.href = url.href;
    // shown as a reader types it: spaces, not the "+" of form encoding (a real "+" is %2B)
    document.getElementById("api-url").textContent = decodeURIComponent(url.href.replaceAll("+", " "));
    const csv = new URL(url);
    csv.searchParams.set("f", "csv");
    document.getElementById("api-csv").href = csv.href;
    if (this.refuse(asked || params)) return;
    this.status.textContent = this.msg.loading;
    this.error.hidden = true;
    try {
      const { features, matched } = await fetchAll(url.href);
      this.features = features;
      this.rows();
      this.map.show(features);
      this.status.textContent = this.msg.count(matched);
      this.empty.hidden = features.length > 0;
      this.table.parentElement.hidden = features.length === 0;
      this.downloadable(features.length > 0);
    } catch (err) {
      this.status.textContent = "";
      this.error.textContent = this.msg.failed(err.message);
      this.error.hidden = false;
    }
    document.body.dataset.ready = "true";  // for tests: the page has answered once
  }

  /** Say what cannot be read (at the field and in the alert) and search nothing: a query
   * without that condition would show offers the user excluded. True when refused. */
  refuse(params) {
    const found = problems(params);
    for (const name of Object.keys(NUMBERS)) {
      this.form[name].setCustomValidity("");
      this.form[name].removeAttribute("aria-invalid");
    }
    if (!found.length) return false;
    const lines = found.map((p) => this.problemText(p));
    for (const [k, p] of found.entries()) {
      if (p.kind === "number") {
        this.form[p.name].setCustomValidity(lines[k]);
        this.form[p.name].setAttribute("aria-invalid", "true");
      }
    }
    this.error.replaceChildren(this.msg.fix, ...lines.map((line) => {
      const item = document.createElement("span");
      item.className = "problem";
      item.textContent = line;
      return item;
    }));
    this.error.hidden = false;
    this.status.textContent = "";
    this.features = [];
    this.rows();
    this.map.show([]);
    this.table.parentElement.hidden = true;
    this.downloadable(false);
    document.body.dataset.ready = "true";
    return true;
  }

  problemText(problem) {
    // the group's legend names a box group ("Planungsrecht") and heads a field's label
    const field = this.form.querySelector(`[name=${problem.name}]`);
    const legend = field.closest("fieldset").querySelector("legend").textContent.trim();
    if (problem.kind === "choice") {
      return this.msg.notChoice(legend, problem.value, CHOICES[problem.name].join(", "));
    }
    const label = this.form.querySelector(`label[for=${problem.name}]`).textContent.trim();
    const say = NUMBERS[problem.name].integer ? this.msg.notWhole : this.msg.notNumber;
    return say(`${legend} ${label}`, problem.value);
  }

  updateLangLink(params) {
    const link = document.getElementById("lang-switch");
    const other = new URLSearchParams(params);
    other.delete("lang");
    const query = other.toString();
    link.href = `${this.lang === "en" ? "wirtschaft" : "economy"}${query ? `?${query}` : ""}`;
  }

  /** Column headers: one sort button each, with aria-sort on the sorted column. */
  header() {
    const row = this.table.tHead.rows[0];
    row.replaceChildren();
    for (const col of COLUMNS) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = col.key;
      const label = col.label[this.lang] + (col.unit ? ` (${col.unit})` : "");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = label;
      // the visible text is the accessible name (WCAG 2.5.3); the long title is a tooltip
      if (col.title) button.title = `${col.title[this.lang]} (${col.unit})`;
      button.addEventListener("click", () => this.sortBy(col.key));
      th.append(button);
      if (col.numeric) th.classList.add("num");
      row.append(th);
    }
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = this.msg.mapColumn;
    row.append(th);
    this.markSort();
  }

  markSort() {
    for (const th of this.table.tHead.rows[0].cells) {
      if (!th.dataset.key) continue;
      if (this.sort && this.sort.key === th.dataset.key) {
        th.setAttribute("aria-sort", this.sort.descending ? "descending" : "ascending");
      } else {
        th.removeAttribute("aria-sort");
      }
    }
  }

  sortBy(key) {
    const descending = this.sort && this.sort.key === key ? !this.sort.descending : false;
    this.sort = { key, descending };
    this.markSort();
    this.update(true);
  }

  rows() {
    const body = this.table.tBodies[0];
    body.replaceChildren();
    for (const f of this.features) {
      const tr = document.createElement("tr");
      tr.dataset.id = f.id;
      for (const col of COLUMNS) {
        const value = valueOf(col, f.properties);
        const td = document.createElement(col.key === "name" ? "th" : "td");
        if (col.key === "name") td.scope = "row";
        td.dataset.value = value ?? "";
        td.dataset.label = col.label[this.lang] + (col.unit ? ` (${col.unit})` : "");  // phone cards
        td.textContent = this.cell(col, value);
        if (col.numeric) td.className = "num";
        tr.append(td);
      }
      const td = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "show";
      button.textContent = this.msg.show;
      button.setAttribute("aria-label", this.msg.showFor(f.properties.name));
      button.addEventListener("click", () => {
        this.map.open(f);
        document.getElementById("map").scrollIntoView({ block: "nearest" });
      });
      td.append(button);
      tr.append(td);
      body.append(tr);
    }
  }

  cell(col, value) {
    if (value === null || value === undefined) return "–";
    if (col.numeric) return this.number.format(Number(value));
    if (col.values) return col.values[this.lang]?.[value] ?? value;
    return String(value);
  }

  /** The popup of one offer: key facts and all distance figures, straight line labelled. */
  details(f) {
    const p = f.properties;
    const d = this.msg.details;
    const root = document.createElement("div");
    root.className = "offer";
    const h = document.createElement("h3");
    h.textContent = p.name;
    root.append(h);
    const dl = document.createElement("dl");
    const add = (term, value) => {
      if (value === null || value === undefined || value === "") return;
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dl.append(dt, dd);
    };
    const byKey = Object.fromEntries(COLUMNS.map((c) => [c.key, c]));
    for (const key of ["offer_id", "kind", "area_m2", "rent", "purchase", "zoning"]) {
      const col = byKey[key];
      const value = valueOf(col, p);
      if (col.when && value === null) continue;  // a plot has no rent, an office no purchase price
      add((col.title || col.label)[this.lang] + (col.unit ? ` (${col.unit})` : ""), this.cell(col, value));
    }
    add(d.address, p.address);
    add(d.available_from, p.available_from);
    add(d.parcel_id, p.parcel_id);
    const n = (v, unit) => (v === null || v === undefined ? null : `${this.number.format(v)} ${unit}`);
    for (const target of ["motorway_junction", "airport", "sbahn_station", "bus_stop"]) {
      const name = p[`${target}_name`];
      add(`${d[target]}`, name);
      add(`${d[target]}: ${d.road}`, n(p[`${target}_network_distance_m`], "m"));
      add(`${d[target]}: ${d.time}`, n(p[`${target}_travel_time_min`], "min"));
      add(`${d[target]}: ${d.line}`, n(p[`${target}_straight_line_distance_m`], "m"));
    }
    const near = Object.entries(AMENITIES).map(([key, label]) => [label[this.lang], p[`${key}_within_walk`]])
      .filter(([, count]) => count !== null && count !== undefined);
    add(d.near, near.map(([label, count]) => `${label}: ${this.number.format(count)}`).join(", "));
    root.append(dl);
    return root;
  }

  /** Both CSV buttons, on when there is a result to download. */
  downloadable(on) {
    for (const id of ["csv", "csv-excel"]) document.getElementById(id).disabled = !on;
  }

  download(form) {
    const blob = new Blob([toCsv(this.features, this.lang, form)], { type: "text/csv;charset=utf-8" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    const name = this.lang === "en" ? "commercial_spaces" : "gewerbeflaechen";
    a.download = `${name}${form === CSV_FORMS.excel ? "_excel" : ""}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
}

const lang = pageLanguage();
translate(lang);
const page = new EconomyPage(lang);
window.economyPage = page;  // for the browser tests and the curious developer
page.start();
