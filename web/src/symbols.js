// Point symbols: one shape per layer (circle, square, triangle, diamond, the toilets' "WC" sign),
// drawn once on a canvas for the map (MapLibre icon images) and as inline SVG for the legend,
// from the same description in the manifest (`legend.symbol`, `size`, class colours), so the
// legend shows exactly what the map draws. No sprite files and no glyphs are needed.

const RATIO = 2; // icons are drawn at twice their size: sharp on high-density screens

/** The outline of a shape in a box of `s` pixels, as an SVG path (also used on the canvas). */
function path(shape, s) {
  const m = s / 2;
  const i = s * 0.08; // inset: room for the white outline
  if (shape === "triangle") return `M${m} ${i} L${s - i} ${s - i} L${i} ${s - i} Z`;
  if (shape === "diamond") return `M${m} ${i} L${s - i} ${m} L${m} ${s - i} L${i} ${m} Z`;
  if (shape === "square" || shape === "toilet") {
    const r = shape === "toilet" ? s * 0.18 : 0;
    return `M${i + r} ${i} H${s - i - r} Q${s - i} ${i} ${s - i} ${i + r} V${s - i - r} `
      + `Q${s - i} ${s - i} ${s - i - r} ${s - i} H${i + r} Q${i} ${s - i} ${i} ${s - i - r} `
      + `V${i + r} Q${i} ${i} ${i + r} ${i} Z`;
  }
  const r = m - i;
  return `M${m - r} ${m} A${r} ${r} 0 1 0 ${m + r} ${m} A${r} ${r} 0 1 0 ${m - r} ${m} Z`;
}

/** The symbol as inline SVG (decorative: the legend text says what it is). */
export function symbolSvg(shape, colour, size = 16) {
  const s = 24;
  const text = shape === "toilet"
    ? `<text x="12" y="16" text-anchor="middle" font-size="10" font-weight="700" fill="#fff" `
      + `font-family="system-ui, sans-serif">WC</text>` : "";
  return `<svg class="symbol" width="${size}" height="${size}" viewBox="0 0 ${s} ${s}" aria-hidden="true" `
    + `focusable="false"><path d="${path(shape, s)}" fill="${colour}" stroke="#fff" stroke-width="1.6"/>`
    + `${text}</svg>`;
}

/** The symbol as a MapLibre image ({width, height, data}) of `size` CSS pixels. */
export function symbolImage(shape, colour, size) {
  const px = size * RATIO;
  const canvas = document.createElement("canvas");
  canvas.width = px;
  canvas.height = px;
  const ctx = canvas.getContext("2d");
  const outline = new Path2D(path(shape, px));
  ctx.fillStyle = colour;
  ctx.fill(outline);
  ctx.lineWidth = 1.4 * RATIO;
  ctx.strokeStyle = "#ffffff";
  ctx.stroke(outline);
  if (shape === "toilet") {
    ctx.fillStyle = "#ffffff";
    ctx.font = `700 ${Math.round(px * 0.42)}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("WC", px / 2, px / 2 + px * 0.03);
  }
  return { image: ctx.getImageData(0, 0, px, px), pixelRatio: RATIO };
}

/** The image name of a layer's class `index`. */
export function imageName(layerId, index) {
  return `sym-${layerId}-${index}`;
}

/** Register a point layer's symbols with the map; returns the `icon-image` expression that picks
 * each feature's class by `legend.field` (the last class without a value takes the rest). */
export function addSymbols(map, layer) {
  const legend = layer.legend;
  legend.classes.forEach((c, index) => {
    const name = imageName(layer.id, index);
    if (map.hasImage(name)) return;
    const { image, pixelRatio } = symbolImage(legend.symbol, c.colour, legend.size);
    map.addImage(name, image, { pixelRatio });
  });
  const fallback = Math.max(0, legend.classes.findIndex((c) => c.value == null));
  const valued = legend.classes.map((c, i) => [c, i]).filter(([c]) => c.value != null);
  if (!legend.field || !valued.length) return imageName(layer.id, fallback);
  return ["match", ["to-string", ["get", legend.field]],
    ...valued.flatMap(([c, i]) => [String(c.value), imageName(layer.id, i)]),
    imageName(layer.id, fallback)];
}
