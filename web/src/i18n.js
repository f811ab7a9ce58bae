// Languages of the portal's pages: German by default, English on request.
//
// The language comes from `?lang=` (the same switch pygeoapi's pages use), else from the last
// choice (localStorage), else German — the city's language — whatever the browser prefers, so
// a permalink shows every reader the same page. Other pages (economy.js) add their own strings
// with addStrings(); dataset titles come translated in the web-map manifest as {de, en}.

const LANGS = ["de", "en"];
const listeners = new Set();
let current = "de";

const STRINGS = {
  de: {
    "app.title": "Geoportal Ratingen",
    "map.label": "Karte von Ratingen",
    "base.legend": "Hintergrundkarte",
    "base.map": "Stadtplan",
    "base.orthophoto": "Luftbild",
    "base.hillshade": "Relief",
    "base.none": "ohne Hintergrund",
    "layers.title": "Ebenen",
    "economy.link": "Gewerbeflächen-Finder für Unternehmen",
    "layers.toggle": "Ebenen ein- oder ausblenden",
    "layers.table": "Tabelle",
    "layers.tableOf": "Tabelle: {title}",
    "layers.catalogue": "Katalog",
    "layers.more": "Info und Download",
    "layers.moreOf": "Info und Download: {title}",
    "layers.download": "Download",
    "layers.noMap": "nur Download und API",
    "layers.asBase": "als Hintergrundkarte",
    "layers.loading": "lädt …",
    "layers.failed": "konnte nicht geladen werden",
    "layers.count": "{n} Objekte",
    "layers.count.one": "{n} Objekt",
    "layers.truncated": "die ersten {n} von {total} Objekten",
    "legend.title": "Legende",
    "legend.of": "Legende: {title}",
    "legend.range": "Höhen dieser Daten: {min} bis {max}",
    "value.title": "Wert an dieser Stelle",
    "tools.title": "Werkzeuge",
    "tools.distance": "Strecke messen",
    "tools.area": "Fläche messen",
    "tools.mark": "Ort markieren",
    "tools.print": "Drucken",
    "tools.copy": "Link kopieren",
    "tools.copied": "Link kopiert",
    "tools.copyFailed": "Kopieren nicht möglich, der Link: {url}",
    "tools.finish": "Fertig",
    "tools.hint": "Tippen oder klicken Sie Punkte in die Karte.",
    "tools.markHint": "Tippen oder klicken Sie auf den Ort.",
    "tools.length": "Strecke: {length}",
    "tools.areaResult": "Fläche: {area} (Umfang {length})",
    "tools.marked": "Markierter Ort",
    "tools.markShared": "Ort markiert; der Link enthält ihn.",
    "tools.scale": "Maßstab",
    "tools.scaleValue": "Maßstab 1:{n}",
    "coords.label": "Koordinaten der Kartenmitte oder des Mauszeigers",
    "print.sources": "Quellen",
    "print.printed": "Gedruckt am {date}",
    "search.label": "Suche nach Name oder Adresse",
    "search.placeholder": "Name oder Adresse",
    "search.button": "Suchen",
    "search.none": "Nichts gefunden.",
    "search.results": "{n} Treffer",
    "search.some": "{n} von {total}",
    "search.all": "{n}",
    "search.genus": "{n} Bäume",
    "search.filtered": "{layer}: nur {title}, {n} Bäume im Stadtgebiet.",
    "search.unfilter": "Alle Bäume zeigen",
    "near.button": "In meiner Nähe",
    "near.unavailable": "Ihr Browser bietet keinen Standort an.",
    "near.denied": "Der Standort ist nicht verfügbar.",
    "near.found": "Ihr Standort",
    "popup.close": "Schließen",
    "popup.layer": "Ebene",
    "tree.species": "Baumart",
    "tree.lidarTitle": "Vermessung aus dem Laserscan (LiDAR)",
    "tree.noLidar": "keine LiDAR-Daten",
    "tree.notFound": "im Laserscan {year} nicht gefunden",
    "tree.height": "Höhe",
    "tree.crown": "Kronendurchmesser",
    "tree.cadastre": "Kataster",
    "tree.lidar": "LiDAR {year}",
    "tree.agree": "Kataster und LiDAR stimmen überein",
    "tree.disagree": "Kataster und LiDAR weichen ab",
    "tree.distance": "Abstand Kataster–Laserscan",
    "tree.unknown": "unbekannt",
    "table.close": "Tabelle schließen",
    "table.caption": "{title}: {n} Objekte im geladenen Kartenausschnitt",
    "table.caption.one": "{title}: {n} Objekt im geladenen Kartenausschnitt",
    "table.show": "Auf der Karte zeigen",
    "table.empty": "Diese Ebene ist nicht eingeschaltet oder hat hier keine Objekte.",
    "yes": "ja",
    "no": "nein",
    "lang.switch": "English",
    "lang.switchLabel": "Switch to English",
    "panel.open": "Ebenen und Suche",
    "pages.nav": "Über dieses Portal",
    "panel.close": "Karte zeigen",
    "data.title": "Alle Daten und Schnittstellen",
    "skip.table": "Zur Datentabelle springen",
    "skip.panel": "Zu den Ebenen springen",
  },
  en: {
    "app.title": "Ratingen geoportal",
    "map.label": "Map of Ratingen",
    "base.legend": "Base map",
    "base.map": "City map",
    "base.orthophoto": "Aerial image",
    "base.hillshade": "Relief",
    "base.none": "no base map",
    "layers.title": "Layers",
    "economy.link": "Commercial space finder for businesses",
    "layers.toggle": "Show or hide layers",
    "layers.table": "Table",
    "layers.tableOf": "Table: {title}",
    "layers.catalogue": "Catalogue",
    "layers.more": "Info and download",
    "layers.moreOf": "Info and download: {title}",
    "layers.download": "Download",
    "layers.noMap": "download and API only",
    "layers.asBase": "as base map",
    "layers.loading": "loading …",
    "layers.failed": "could not be loaded",
    "layers.count": "{n} features",
    "layers.count.one": "{n} feature",
    "layers.truncated": "the first {n} of {total} features",
    "legend.title": "Legend",
    "legend.of": "Legend: {title}",
    "legend.range": "Heights in these data: {min} to {max}",
    "value.title": "Value at this point",
    "tools.title": "Tools",
    "tools.distance": "Measure distance",
    "tools.area": "Measure area",
    "tools.mark": "Mark a place",
    "tools.print": "Print",
    "tools.copy": "Copy link",
    "tools.copied": "Link copied",
    "tools.copyFailed": "Cannot copy; the link: {url}",
    "tools.finish": "Done",
    "tools.hint": "Tap or click points on the map.",
    "tools.markHint": "Tap or click the place.",
    "tools.length": "Distance: {length}",
    "tools.areaResult": "Area: {area} (perimeter {length})",
    "tools.marked": "Marked place",
    "tools.markShared": "Place marked; the link includes it.",
    "tools.scale": "Scale",
    "tools.scaleValue": "Scale 1:{n}",
    "coords.label": "Coordinates of the map centre or the pointer",
    "print.sources": "Sources",
    "print.printed": "Printed on {date}",
    "search.label": "Search by name or address",
    "search.placeholder": "Name or address",
    "search.button": "Search",
    "search.none": "Nothing found.",
    "search.results": "{n} results",
    "search.some": "{n} of {total}",
    "search.all": "{n}",
    "search.genus": "{n} trees",
    "search.filtered": "{layer}: only {title}, {n} trees in the city.",
    "search.unfilter": "Show all trees",
    "search.results.one": "{n} result",
    "near.button": "Near me",
    "near.unavailable": "Your browser offers no location.",
    "near.denied": "Your location is not available.",
    "near.found": "Your location",
    "popup.close": "Close",
    "popup.layer": "Layer",
    "tree.species": "Species",
    "tree.lidarTitle": "Measured in the laser scan (LiDAR)",
    "tree.noLidar": "no LiDAR data",
    "tree.notFound": "not found in the {year} laser scan",
    "tree.height": "Height",
    "tree.crown": "Crown diameter",
    "tree.cadastre": "Cadastre",
    "tree.lidar": "LiDAR {year}",
    "tree.agree": "cadastre and LiDAR agree",
    "tree.disagree": "cadastre and LiDAR differ",
    "tree.distance": "Distance cadastre–laser scan",
    "tree.unknown": "unknown",
    "table.close": "Close table",
    "table.caption": "{title}: {n} features loaded in the map view",
    "table.caption.one": "{title}: {n} feature loaded in the map view",
    "table.show": "Show on the map",
    "table.empty": "This layer is switched off or has no features here.",
    "yes": "yes",
    "no": "no",
    "lang.switch": "Deutsch",
    "lang.switchLabel": "Auf Deutsch umschalten",
    "panel.open": "Layers and search",
    "pages.nav": "About this portal",
    "panel.close": "Show the map",
    "data.title": "All data and APIs",
    "skip.table": "Skip to the data table",
    "skip.panel": "Skip to the layers",
  },
};

/** Add or override strings for a language (other pages call this with their own keys). */
export function addStrings(lang, table) {
  STRINGS[lang] = { ...(STRINGS[lang] || {}), ...table };
}

/** The string for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key, vars = {}) {
  // "1 Objekt", "2 Objekte": a key may have a ".one" form for a count of one
  const singular = Number(vars.n) === 1 ? STRINGS[current][`${key}.one`] : undefined;
  const text = singular ?? STRINGS[current][key] ?? STRINGS.de[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A manifest text ({de, en}) in the current language, German when no translation exists. */
export function pick(text) {
  if (text == null || typeof text === "string") return text ?? "";
  return (current === "en" && text.en) || text.de || "";
}

export function getLang() {
  return current;
}

/** Switch the language: updates <html lang>, every [data-i18n] element and the listeners. */
export function setLang(lang) {
  current = LANGS.includes(lang) ? lang : "de";
  document.documentElement.lang = current;
  try {
    localStorage.setItem("geoportal.lang", current);
  } catch {
    // private mode: the choice just is not remembered
  }
  translateDocument(document);
  for (const fn of listeners) fn(current);
}

/** Call `fn(lang)` after every language switch. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The language to start with: ?lang=, then the remembered choice, then German. */
export function initialLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGS.includes(asked)) return asked;
  try {
    const saved = localStorage.getItem("geoportal.lang");
    if (LANGS.includes(saved)) return saved;
  } catch {
    // no storage: German
  }
  return "de";
}

/**
 * Fill elements marked up with data-i18n="key" (text), data-i18n-label (aria-label),
 * data-i18n-placeholder and data-i18n-title, so static HTML needs no per-language copies.
 */
export function translateDocument(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
  }
}

/** A number the way the current language writes it (12,5 m in German, 12.5 m in English). */
export function formatNumber(value, digits = 1) {
  const locale = current === "en" ? "en-GB" : "de-DE";
  return Number(value).toLocaleString(locale, { maximumFractionDigits: digits });
}

/** A date the way the current language writes it: 01.03.2026 in German, 1 Mar 2026 in English.
 * A value that is not an ISO date (2026-03-01, or a date-time) comes back as it is. */
export function formatDate(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:$|T)/.exec(String(value));
  if (!match) return String(value);
  const date = new Date(Date.UTC(+match[1], +match[2] - 1, +match[3]));
  const locale = current === "en" ? "en-GB" : "de-DE";
  const style = current === "en" ? { day: "numeric", month: "short", year: "numeric" }
    : { day: "2-digit", month: "2-digit", year: "numeric" };
  return date.toLocaleDateString(locale, { ...style, timeZone: "UTC" });
}

/** The links to the portal's own pages (a[data-page]: Impressum, …) in the current language:
 * their text from data-title-de/-en, their address with ?lang=en on the English page. */
export function localisePageLinks(root = document) {
  for (const link of root.querySelectorAll("a[data-page]")) {
    const url = new URL(link.href, document.baseURI);
    if (current === "en") url.searchParams.set("lang", "en");
    else url.searchParams.delete("lang");
    link.href = url.href;
    link.textContent = current === "en" ? link.dataset.titleEn : link.dataset.titleDe;
  }
}
