// The climate theme of the layer tree: a scenario switch (rare / exceptional / extreme heavy
// rain) above the heavy-rain layers, and the popup card of a building or street rated by the
// heavy-rain model. The scenarios and which layer shows which come from the manifest
// (`manifest.climate.scenarios`, `layer.scenario`, `layer.family`; geoportal/app/climate.py).

import { formatNumber, getLang, pick } from "./i18n.js";
import { escapeHtml } from "./popup.js";

const TEXT = {
  de: {
    scenario: "Starkregen-Szenario",
    hint: "Gefahrenhinweis, keine Fachplanung: ohne Kanalnetz.",
    wall: "Wasser an der Hauswand bis",
    street: "Überflutet auf",
    speed: "Fließgeschwindigkeit bis",
    dry: "Kein Wasser über 5 cm an der Hauswand",
    of: "von",
    in: "bei",
    classes: ["unter 5 cm", "5–10 cm", "10–30 cm", "30–50 cm", "50 cm–1 m", "über 1 m"],
    cls: "Klasse",
  },
  en: {
    scenario: "Heavy-rain scenario",
    hint: "A hazard indication, not an engineering study: no sewer network.",
    wall: "Water at the wall up to",
    street: "Flooded along",
    speed: "Flow velocity up to",
    dry: "No water over 5 cm at the wall",
    of: "of",
    in: "in",
    classes: ["below 5 cm", "5–10 cm", "10–30 cm", "30–50 cm", "50 cm–1 m", "over 1 m"],
    cls: "class",
  },
};
const say = (key) => (TEXT[getLang()] || TEXT.de)[key];

/** The scenario whose layers the tree shows: that of the first visible climate layer. */
function current(manifest, layers) {
  const visible = layers.visibleIds().map((id) => manifest.layers[id]).find((l) => l.scenario);
  return visible ? visible.scenario : manifest.climate.scenarios[0].id;
}

/** Show only the chosen scenario's layers in the tree; swap visible ones to their twin. */
function choose(container, manifest, layers, scenario) {
  for (const id of layers.visibleIds()) {
    const layer = manifest.layers[id];
    if (!layer.scenario || layer.scenario === scenario) continue;
    const twin = Object.values(manifest.layers)
      .find((l) => l.family === layer.family && l.scenario === scenario);
    layers.setVisible(id, false);
    if (twin) layers.setVisible(twin.id, true);
  }
  for (const item of container.querySelectorAll("[data-layer-item]")) {
    const layer = manifest.layers[item.dataset.layerItem];
    if (layer && layer.scenario) item.hidden = layer.scenario !== scenario;
  }
}

/** Put the scenario switch into the climate group of the tree (rendered by tree.js); returns
 * what to call when a layer is switched on or off (a permalink, a search hit, a checkbox may
 * switch on a layer of another scenario: the switch follows it). */
export function initClimate(container, manifest, layers) {
  const group = container.querySelector("details[data-group=climate]");
  if (!group || !manifest.climate || !manifest.climate.scenarios.length) return () => {};
  const fieldset = document.createElement("fieldset");
  fieldset.className = "climate-scenarios";
  let chosen = current(manifest, layers);
  fieldset.innerHTML = `<legend>${escapeHtml(say("scenario"))}</legend>`
    + manifest.climate.scenarios.map((s) => `<label><input type="radio" name="climate-scenario" `
      + `value="${escapeHtml(s.id)}"${s.id === chosen ? " checked" : ""}> `
      + `<span>${escapeHtml(pick(s.title))}</span></label>`).join("")
    + `<p class="climate-hint">${escapeHtml(say("hint"))}</p>`;
  group.querySelector("summary").after(fieldset);
  const pickScenario = (scenario) => {
    chosen = scenario;
    fieldset.querySelector(`input[value="${scenario}"]`).checked = true;
    choose(container, manifest, layers, scenario);
  };
  fieldset.addEventListener("change", (event) => {
    if (event.target.name === "climate-scenario") pickScenario(event.target.value);
  });
  choose(container, manifest, layers, chosen);
  return (id) => {
    const layer = manifest.layers[id];
    if (layer && layer.scenario && layer.scenario !== chosen && layers.isVisible(id)) {
      pickScenario(layer.scenario);
    }
  };
}

/** Whether a popup shows the heavy-rain card: a building or street rated by the model. */
export function isExposureLayer(layer) {
  return Boolean(layer.scenario) && (layer.family === "heavy_rain_buildings"
    || layer.family === "heavy_rain_streets");
}

function metres(value) {
  return `${formatNumber(value, 2)} m`;
}

/** The popup card: how deep the water gets at this building (street), in which scenario. */
export function exposureCard(layer, p) {
  const scenario = escapeHtml(`${say("in")} ${pick(layer.scenario_title)}`);
  const title = escapeHtml(p.address || p.name || pick(layer.title));
  let body;
  if (layer.family === "heavy_rain_buildings") {
    const k = Number(p.depth_class) || 0;
    body = k === 0
      ? `<p data-depth="${p.max_depth_m}">${escapeHtml(say("dry"))} ${scenario}.</p>`
      : `<p data-depth="${p.max_depth_m}">${escapeHtml(say("wall"))} <strong>${metres(p.max_depth_m)}</strong>`
        + ` (${escapeHtml(say("cls"))} ${k}: ${escapeHtml(say("classes")[k])}) ${scenario}.</p>`
        + `<p>${escapeHtml(say("speed"))} ${escapeHtml(formatNumber(p.max_velocity_m_s, 1))} m/s.</p>`;
  } else {
    body = `<p data-flooded="${p.flooded_length_m}">${escapeHtml(say("street"))} `
      + `<strong>${escapeHtml(formatNumber(p.flooded_length_m, 0))} m</strong> ${escapeHtml(say("of"))} `
      + `${escapeHtml(formatNumber(p.length_m, 0))} m ${scenario} (max. ${metres(p.max_depth_m)}).</p>`;
  }
  return `<div class="feature-card heavy-rain-card" data-scenario="${escapeHtml(layer.scenario)}">`
    + `<h3>${title}</h3>${body}<p class="climate-hint">${escapeHtml(say("hint"))}</p></div>`;
}
