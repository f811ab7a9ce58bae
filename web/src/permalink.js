// The permalink: the URL's hash holds the view and the visible layers, e.g.
//   #map=16/51.30100/6.85500&base=orthophoto&layers=trees,public_toilets&mark=51.30120/6.85410
// and for a rotated or tilted map its bearing and pitch, with view=3d for the 3D view:
//   #map=17/51.30100/6.85500/-20/60&view=3d
// so a copied address opens the same map (with the place its sender marked). Read once at start, rewritten (without adding
// history entries) whenever the view or the layers change.

/** The state in the hash: {zoom, lat, lon, base, layers} (missing parts are undefined). */
export function readHash(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const state = {};
  const view = (params.get("map") || "").split("/").map(Number);
  if ((view.length === 3 || view.length === 5) && view.every(Number.isFinite)) {
    [state.zoom, state.lat, state.lon, state.bearing, state.pitch] = view;
  }
  if (params.get("view") === "3d") state.view = "3d";
  if (params.has("base")) state.base = params.get("base");
  if (params.has("layers")) {
    state.layers = params.get("layers").split(",").filter((id) => /^[a-z][a-z0-9_]*$/.test(id));
  }
  const mark = (params.get("mark") || "").split("/").map(Number);
  if (mark.length === 2 && mark.every(Number.isFinite) && Math.abs(mark[0]) <= 90) {
    state.mark = [mark[1], mark[0]]; // [lon, lat], as MapLibre takes it
  }
  return state;
}

/** The hash for a state (lat/lon to 5 decimals: about a metre). */
export function formatHash({ zoom, lat, lon, bearing = 0, pitch = 0, view, base, layers, mark }) {
  const turned = Math.round(bearing) !== 0 || Math.round(pitch) !== 0;
  const angles = turned ? `/${Math.round(bearing)}/${Math.round(pitch)}` : "";
  const parts = [`map=${zoom.toFixed(2)}/${lat.toFixed(5)}/${lon.toFixed(5)}${angles}`];
  if (view) parts.push(`view=${view}`);
  if (base) parts.push(`base=${base}`);
  parts.push(`layers=${(layers || []).join(",")}`);
  if (mark) parts.push(`mark=${mark[1].toFixed(5)}/${mark[0].toFixed(5)}`);
  return `#${parts.join("&")}`;
}

/** Keep the hash in step with the map: call `update()` whenever layers or the base change. */
export function trackHash(map, getState) {
  const update = () => {
    const c = map.getCenter();
    const hash = formatHash({ zoom: map.getZoom(), lat: c.lat, lon: c.lng, bearing: map.getBearing(),
      pitch: map.getPitch(), ...getState() });
    if (hash !== location.hash) history.replaceState(null, "", hash);
    window.dispatchEvent(new CustomEvent("permalink", { detail: hash }));
  };
  map.on("moveend", update);
  return update;
}
