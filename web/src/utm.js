// WGS84 longitude/latitude to UTM zone 32 north (EPSG:25832, the coordinates of every German
// cadastre and of our coverages): Snyder's transverse Mercator series ("Map Projections — A
// Working Manual", 1987, p. 61), within a millimetre of PROJ inside the zone. ETRS89 and WGS84
// are taken as equal (they differ by under a metre, far below a click's accuracy).

const A = 6378137;
const F = 1 / 298.257222101; // GRS80
const K0 = 0.9996;
const E2 = F * (2 - F);
const EP2 = E2 / (1 - E2);

/** [easting, northing] in metres of a point [lon, lat] in degrees (zone 32: 9° E meridian). */
export function toUtm32([lon, lat]) {
  const phi = (lat * Math.PI) / 180;
  const lam = ((lon - 9) * Math.PI) / 180;
  const sin = Math.sin(phi);
  const cos = Math.cos(phi);
  const n = A / Math.sqrt(1 - E2 * sin * sin);
  const t = Math.tan(phi) ** 2;
  const c = EP2 * cos * cos;
  const a = lam * cos;
  const e4 = E2 * E2;
  const e6 = e4 * E2;
  const m = A * ((1 - E2 / 4 - (3 * e4) / 64 - (5 * e6) / 256) * phi
    - ((3 * E2) / 8 + (3 * e4) / 32 + (45 * e6) / 1024) * Math.sin(2 * phi)
    + ((15 * e4) / 256 + (45 * e6) / 1024) * Math.sin(4 * phi)
    - ((35 * e6) / 3072) * Math.sin(6 * phi));
  const x = K0 * n * (a + ((1 - t + c) * a ** 3) / 6
    + ((5 - 18 * t + t * t + 72 * c - 58 * EP2) * a ** 5) / 120);
  const y = K0 * (m + n * Math.tan(phi) * (a * a / 2 + ((5 - t + 9 * c + 4 * c * c) * a ** 4) / 24
    + ((61 - 58 * t + t * t + 600 * c - 330 * EP2) * a ** 6) / 720));
  return [x + 500000, y];
}
