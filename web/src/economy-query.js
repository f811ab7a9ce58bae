// The economy page's query logic, free of the DOM: form fields -> CQL2 text, the API request,
// and the CSV export. Field names are those of datasets/commercial_spaces.yml.

/** The table's columns (and the CSV's): property, short label, long title, unit, numeric. */
export const COLUMNS = [
  { key: "offer_id", label: { de: "Nr.", en: "No." } },
  { key: "name", label: { de: "Bezeichnung", en: "Name" } },
  {
    key: "kind", label: { de: "Art", en: "Type" },
    values: { en: { "Büro": "Office", "Halle": "Hall", "Grundstück": "Plot" } },
  },
  { key: "area_m2", label: { de: "Fläche", en: "Area" }, unit: "m²", numeric: true },
  // the data has one price per offer (price_eur_m2); an office or a hall is rented (per m² and
  // month), a plot bought (per m²): two columns, so that no one compares a rent with a price
  {
    key: "rent", source: "price_eur_m2", when: (p) => !PURCHASED.includes(p.kind), unit: "€/m²",
    numeric: true, label: { de: "Miete mtl.", en: "Rent/month" },
    title: { de: "Miete je m² und Monat", en: "Rent per m² and month" },
  },
  {
    key: "purchase", source: "price_eur_m2", when: (p) => PURCHASED.includes(p.kind), unit: "€/m²",
    numeric: true, label: { de: "Kaufpreis", en: "Purchase" },
    title: { de: "Kaufpreis je m²", en: "Purchase price per m²" },
  },
  { key: "zoning", label: { de: "Planungsrecht", en: "Zoning" } },
  {
    key: "motorway_junction_network_distance_m", unit: "m", numeric: true,
    label: { de: "Autobahn", en: "Motorway" }, title: { de: "Wegstrecke zum nächsten Autobahnanschluss", en: "Road distance to the nearest motorway junction" },
  },
  {
    key: "airport_network_distance_m", unit: "m", numeric: true,
    label: { de: "Flughafen", en: "Airport" }, title: { de: "Wegstrecke zum Flughafen Düsseldorf", en: "Road distance to Düsseldorf airport" },
  },
  {
    key: "sbahn_station_network_distance_m", unit: "m", numeric: true,
    label: { de: "S-Bahn", en: "S-Bahn" }, title: { de: "Wegstrecke zur nächsten S-Bahn-Haltestelle", en: "Road distance to the nearest S-Bahn station" },
  },
];

/** The kinds that are bought; every other kind is rented (datasets/commercial_spaces.yml). */
export const PURCHASED = ["Grundstück"];

/** A column's value for an offer: its property, or for a price column the price when the
 * offer is of that column's sort (a plot has no rent), else null. */
export function valueOf(col, properties) {
  if (!col.when) return properties[col.key];
  return col.when(properties) ? properties[col.source] : null;
}

/** The property the API sorts a column by. */
export function sortKey(col) {
  return col.source ?? col.key;
}

/** Form field (km) -> the network-distance property it limits (m). */
const DISTANCES = {
  junction_km: "motorway_junction_network_distance_m",
  airport_km: "airport_network_distance_m",
  sbahn_km: "sbahn_station_network_distance_m",
};

/** The number fields: an area is whole square metres; prices and distances may have decimals. */
export const NUMBERS = {
  area_min: { integer: true }, area_max: { integer: true }, rent_max: {}, purchase_max: {},
  junction_km: {}, airport_km: {}, sbahn_km: {},
};
/** The everyday amenities counted within an 800 m walk along the streets (the
 * ``<key>_within_walk`` fields of datasets/commercial_spaces.yml) that the finder filters on. */
export const AMENITIES = {
  bus_stops: { de: "Bushaltestelle", en: "Bus stop" },
  childcare: { de: "Kita", en: "Day-care centre" },
  schools: { de: "Schule", en: "School" },
  shops: { de: "Geschäft", en: "Shop" },
  restaurants: { de: "Restaurant", en: "Restaurant" },
  cafes: { de: "Café", en: "Café" },
  pharmacies: { de: "Apotheke", en: "Pharmacy" },
  green_spaces: { de: "Grünfläche", en: "Green space" },
};

/** The choices a box group offers (datasets/commercial_spaces.yml). */
export const CHOICES = {
  kind: ["Büro", "Halle", "Grundstück"],
  zoning: ["GE", "GI", "MI", "MK", "SO"],
  near: Object.keys(AMENITIES),
};

/**
 * A number as a German or an English reader types it: "2,5" and "2.5" are two and a half;
 * in a whole-number field "1.500" and "1,500" are fifteen hundred. NaN for anything else
 * (letters, a sign, two decimal marks): the page says so instead of guessing.
 */
export function parseNumber(raw, { integer = false } = {}) {
  const text = String(raw).replace(/\s/g, "");
  if (integer && /^\d{1,3}([.,])\d{3}(\1\d{3})*$/.test(text)) return Number(text.replace(/[.,]/g, ""));
  if (!/^\d+([.,]\d+)?$/.test(text)) return NaN;
  const value = Number(text.replace(",", "."));
  return integer && !Number.isInteger(value) ? NaN : value;
}

/** What of the form's state (or a URL's) cannot be read: [{name, value, kind}], kind "number"
 * or "choice". A query with any of them would silently drop a condition and show too much. */
export function problems(params) {
  const found = [];
  for (const [name, spec] of Object.entries(NUMBERS)) {
    const raw = params.get(name);
    if (raw !== null && raw.trim() !== "" && Number.isNaN(parseNumber(raw, spec))) {
      found.push({ name, value: raw, kind: "number" });
    }
  }
  for (const [name, allowed] of Object.entries(CHOICES)) {
    for (const value of params.getAll(name)) {
      if (!allowed.includes(value)) found.push({ name, value, kind: "choice" });
    }
  }
  return found;
}

function number(params, name) {
  const raw = params.get(name);
  if (raw === null || raw.trim() === "") return null;
  const value = parseNumber(raw, NUMBERS[name]);
  return Number.isNaN(value) ? null : value;
}

function quote(text) {
  return `'${String(text).replaceAll("'", "''")}'`;
}

function list(values) {
  return values.map(quote).join(", ");
}

/**
 * The CQL2 text filter for the form's state (URLSearchParams or FormData), or "" for none.
 *
 * Empty fields add no condition; ticking no box of a group means "any", like ticking all.
 */
export function buildFilter(params) {
  const parts = [];
  const low = number(params, "area_min");
  const high = number(params, "area_max");
  if (low !== null && high !== null) parts.push(`area_m2 BETWEEN ${low} AND ${high}`);
  else if (low !== null) parts.push(`area_m2 >= ${low}`);
  else if (high !== null) parts.push(`area_m2 <= ${high}`);
  const prices = priceFilter(number(params, "rent_max"), number(params, "purchase_max"));
  if (prices) parts.push(prices);
  const kinds = params.getAll("kind");
  if (kinds.length) parts.push(kinds.length === 1 ? `kind = ${quote(kinds[0])}` : `kind IN (${list(kinds)})`);
  const zonings = params.getAll("zoning");
  if (zonings.length) {
    parts.push(zonings.length === 1 ? `zoning = ${quote(zonings[0])}` : `zoning IN (${list(zonings)})`);
  }
  // each ticked amenity: at least one within the walk (all ticked ones, not any of them)
  for (const amenity of params.getAll("near")) {
    if (amenity in AMENITIES) parts.push(`${amenity}_within_walk >= 1`);
  }
  for (const [field, property] of Object.entries(DISTANCES)) {
    const km = number(params, field);
    if (km !== null) parts.push(`${property} <= ${Math.round(km * 1000)}`);
  }
  return parts.join(" AND ");
}

/** A rent limit keeps rented offers up to it, a purchase limit plots up to it; with both, an
 * offer passes by the one of its sort. A plot has no rent, so a rent limit alone leaves out
 * the plots (and a purchase limit the rented offers). */
function priceFilter(rent, purchase) {
  const bought = list(PURCHASED);
  const sides = [];
  if (rent !== null) sides.push(`(kind NOT IN (${bought}) AND price_eur_m2 <= ${rent})`);
  if (purchase !== null) sides.push(`(kind IN (${bought}) AND price_eur_m2 <= ${purchase})`);
  return sides.length > 1 ? `(${sides.join(" OR ")})` : sides[0] ?? "";
}

/** The query string of the items request: JSON, the filter, the sort, one large page. */
export function apiQuery(filter, sortby, limit) {
  const q = new URLSearchParams({ f: "json", limit: String(limit) });
  if (filter) {
    q.set("filter", filter);
    q.set("filter-lang", "cql2-text");
  }
  if (sortby) q.set("sortby", sortby);
  return q.toString();
}

/** The two CSV forms: the standard one (RFC 4180: commas, decimal points, as the API's own
 * CSV), and the one German Excel opens without an import dialog (semicolons, decimal commas). */
export const CSV_FORMS = {
  standard: { separator: ",", decimal: "." },
  excel: { separator: ";", decimal: "," },
};

function csvField(value, form) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "number" ? String(value).replace(".", form.decimal) : String(value);
  return text.includes(form.separator) || /["\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The result as CSV: the table's columns with the API's values (metres, no rounding), plus
 * longitude/latitude; UTF-8 with a byte-order mark so that Excel reads the umlauts.
 */
export function toCsv(features, lang, form = CSV_FORMS.standard) {
  const header = [
    ...COLUMNS.map((c) => (c.title || c.label)[lang] + (c.unit ? ` (${c.unit})` : "")),
    lang === "en" ? "Longitude" : "Längengrad", lang === "en" ? "Latitude" : "Breitengrad",
  ];
  const line = (values) => values.map((v) => csvField(v, form)).join(form.separator);
  const lines = [line(header)];
  for (const f of features) {
    const [lon, lat] = f.geometry ? f.geometry.coordinates : [null, null];
    lines.push(line([...COLUMNS.map((c) => valueOf(c, f.properties)), lon, lat]));
  }
  return `\uFEFF${lines.join("\r\n")}\r\n`;
}
