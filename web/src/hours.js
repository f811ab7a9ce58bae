// Opening hours in words: OpenStreetMap's `opening_hours` syntax, which the city's POI lists
// use ("Mo-Fr 10:00-18:00; Sa 10:00-14:00", "24/7"), as a reader expects it on a German or an
// English page: "Mo–Fr 10:00–18:00 Uhr; Sa 10:00–14:00 Uhr".
//
// Only the common rules are read: day ranges and lists, time ranges, "off" and "24/7". Anything
// else (holidays, weeks, months, comments) is shown as delivered: a reader can still decode the
// raw text, but not a wrong translation of it.

import { getLang } from "./i18n.js";

const DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];
const NAMES = {
  de: ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"],
  en: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
};
const WORDS = {
  de: { always: "rund um die Uhr", daily: "täglich", closed: "geschlossen", clock: " Uhr" },
  en: { always: "open 24 hours", daily: "daily", closed: "closed", clock: "" },
};
const TIME = /^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

function days(text, lang) {
  const parts = text.split(",").map((part) => {
    const [from, to] = part.split("-");
    if (!DAYS.includes(from) || (to !== undefined && !DAYS.includes(to))) return null;
    if (to === undefined) return NAMES[lang][DAYS.indexOf(from)];
    if (from === "Mo" && to === "Su") return WORDS[lang].daily;
    return `${NAMES[lang][DAYS.indexOf(from)]}–${NAMES[lang][DAYS.indexOf(to)]}`;
  });
  return parts.includes(null) ? null : parts.join(", ");
}

function times(text, lang) {
  if (text === "off" || text === "closed") return WORDS[lang].closed;
  const spans = text.split(",").map((span) => (TIME.test(span) ? span.replace("-", "–") : null));
  return spans.includes(null) ? null : `${spans.join(", ")}${WORDS[lang].clock}`;
}

function rule(text, lang) {
  const match = /^([A-Za-z,-]+)\s+(.+)$/.exec(text);
  if (!match) {
    const only = times(text, lang); // "10:00-18:00": every day
    return only && `${WORDS[lang].daily} ${only}`;
  }
  const [d, h] = [days(match[1], lang), times(match[2].replace(/\s+/g, ""), lang)];
  return d && h ? `${d} ${h}` : null;
}

/** `value` in words of the page's language; the delivered text when it is not understood. */
export function formatOpeningHours(value) {
  const lang = getLang() === "en" ? "en" : "de";
  const text = String(value).trim();
  if (text === "24/7") return WORDS[lang].always;
  const rules = text.split(";").map((part) => part.trim()).filter(Boolean)
    .map((part) => rule(part, lang));
  return rules.length && !rules.includes(null) ? rules.join("; ") : text;
}
