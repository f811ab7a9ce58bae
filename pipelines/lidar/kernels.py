"""The LiDAR tile pass's per-point loops, compiled with numba: one pass over the points each.

Why compiled: a city tile has ~15 million points, and after decoding them everything the tile
pass does per point — gridding, building the COPC octree, ordering the records node by node —
was numpy made of many whole-array passes (masks, index arrays, a 64-bit sort of Morton codes).
Those passes cost as much CPU as decoding the LAZ itself, and decoding is the floor of the
whole pipeline. A compiled loop reads each point once, keeps no per-point temporaries and needs
no sort; the results are the same (the tests compare them with plain numpy).

The kernels take plain arrays (the integer coordinates straight from the LAS records, with
their scale and offset), so nothing here knows about laspy or files. ``cache=True`` keeps the
machine code under ``__pycache__``: a pool worker loads it in milliseconds instead of compiling.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)

#: How far outside a frame a point still counts as on its edge: the usual precision of the
#: coordinates (LAS scale 0.01 m), which a reprojection or a foot-to-metre conversion moves
#: a point on the edge by.
EDGE_TOLERANCE_M = 0.01


@_jit
def _cell(X: int, Y: int, scale: np.ndarray, offset: np.ndarray, x0: float, y_top: float,
          resolution: float, size: int) -> int:
    """The row-major cell (from the upper-left corner) of a point's integer coordinates, or
    -1 for a point outside the frame. The frame is closed: points on its edges, or within
    :data:`EDGE_TOLERANCE_M` of them, fall into the edge cells; a point farther out is not
    moved into one."""
    fc = (X * scale[0] + offset[0] - x0) / resolution
    fr = (y_top - (Y * scale[1] + offset[1])) / resolution
    slack = EDGE_TOLERANCE_M / resolution
    if not (-slack <= fc <= size + slack and -slack <= fr <= size + slack):
        return -1
    return min(max(int(fr), 0), size - 1) * size + min(max(int(fc), 0), size - 1)


@_jit
def count_outside(X: np.ndarray, Y: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                  x0: float, y_top: float, resolution: float, size: int) -> int:
    """How many points lie outside the frame (see :func:`_cell`)."""
    outside = 0
    for i in range(len(X)):
        if _cell(X[i], Y[i], scale, offset, x0, y_top, resolution, size) < 0:
            outside += 1
    return outside


@_jit
def bin_cells(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, classes: np.ndarray,
              returns: np.ndarray, scale: np.ndarray, offset: np.ndarray, x0: float,
              y_top: float, resolution: float, size: int, is_ground: np.ndarray,
              is_noise: np.ndarray) -> tuple:
    """Per cell: highest return, ground height sum and count, points, multi-return points.

    ``is_ground``/``is_noise`` are 256-entry lookup tables by class code. Cells are indexed
    row-major from the upper-left corner; points on the far edges fall into the last cell,
    points outside the frame count for nothing (the tile pass refuses them before).
    Also returns the lowest and highest ground height (the tile's terrain range).
    """
    cells = size * size
    dsm = np.full(cells, -np.inf)
    g_sum = np.zeros(cells)
    g_count = np.zeros(cells, np.int32)
    count = np.zeros(cells, np.int32)
    multi = np.zeros(cells, np.int32)
    g_lo, g_hi = np.inf, -np.inf
    for i in range(len(X)):
        c = classes[i]
        if is_noise[c]:
            continue
        cell = _cell(X[i], Y[i], scale, offset, x0, y_top, resolution, size)
        if cell < 0:
            continue
        z = Z[i] * scale[2] + offset[2]
        if z > dsm[cell]:
            dsm[cell] = z
        count[cell] += 1
        if is_ground[c]:
            g_sum[cell] += z
            g_count[cell] += 1
            g_lo = min(g_lo, z)
            g_hi = max(g_hi, z)
        elif returns[i] > 1:
            multi[cell] += 1
    return dsm, g_sum, g_count, count, multi, g_lo, g_hi


@_jit
def quantise(values: np.ndarray, scale: float, offset: float, origin: float, factor: float,
             top: int) -> np.ndarray:
    """Integer cube coordinates ``(values * scale + offset - origin) * factor``, clipped to
    ``0..top``: straight from the records' integer coordinates, no float array in between.
    The cube is the points' own bounding box (:func:`pipelines.lidar.copc.build_octree`), so
    the clip only catches the rounding of the points on its far faces, never a point outside.
    """
    out = np.empty(len(values), np.int32)
    for i in range(len(values)):
        out[i] = min(max(int((values[i] * scale + offset - origin) * factor), 0), top)
    return out


@_jit
def octree_nodes(qx: np.ndarray, qy: np.ndarray, qz: np.ndarray, bits: int, gbits: int,
                 leaf_max: int, max_depth: int) -> tuple:
    """Assign every point to one octree node, level by level, in file order.

    ``q*`` are the points' cube coordinates with ``bits`` bits per axis; a node at depth ``d``
    is ``q >> (bits - d)``. A node keeps the first point (in file order) of each occupied cell
    of its ``2**gbits``-cube grid and passes the others to its children; a node with at most
    ``leaf_max`` points, or at ``max_depth``, keeps them all. A child's slot is its parent's
    index among the splitting nodes times 8 plus the child's octant, so a level needs neither a
    sort nor a hash of node keys. Returns each point's node number and the nodes' (depth, x, y,
    z), listed by depth.
    """
    n = len(qx)
    grid = 1 << gbits
    mask = grid - 1
    node_of = np.empty(n, np.int32)
    remaining = np.arange(n).astype(np.int32)
    slot = np.zeros(n, np.int32)
    slot_keys = np.zeros((1, 3), np.int64)
    counts = np.full(1, n, np.int64)  # points per slot, counted while the level above placed
    keys = np.empty((16, 4), np.int64)
    n_nodes = 0
    for depth in range(max_depth + 1):
        m = len(remaining)
        if m == 0:
            break
        node_id = np.full(len(slot_keys), -1, np.int64)
        split_id = np.full(len(slot_keys), -1, np.int64)
        n_split = 0
        for s in range(len(slot_keys)):
            if counts[s] == 0:
                continue
            if n_nodes == len(keys):
                grown = np.empty((2 * len(keys), 4), np.int64)
                grown[:n_nodes] = keys
                keys = grown
            keys[n_nodes, 0] = depth
            keys[n_nodes, 1:] = slot_keys[s]
            node_id[s] = n_nodes
            n_nodes += 1
            if counts[s] > leaf_max and depth < max_depth:
                split_id[s] = n_split
                n_split += 1
        occupied = np.zeros((max(n_split, 1), (grid * grid * grid + 7) // 8), np.uint8)
        parents = np.empty((max(n_split, 1), 3), np.int64)
        for s in range(len(slot_keys)):
            if split_id[s] >= 0:
                parents[split_id[s]] = slot_keys[s]
        cell_shift = bits - depth - gbits
        child_shift = bits - depth - 1
        k = 0
        below = np.zeros(8 * n_split, np.int64)
        for j in range(m):
            i = remaining[j]
            s = slot[j]
            p = split_id[s]
            if p < 0:
                node_of[i] = node_id[s]
                continue
            cell = ((((qx[i] >> cell_shift) & mask) * grid + ((qy[i] >> cell_shift) & mask))
                    * grid + ((qz[i] >> cell_shift) & mask))
            byte, bit = cell >> 3, np.uint8(1 << (cell & 7))
            if (occupied[p, byte] & bit) == 0:
                occupied[p, byte] |= bit
                node_of[i] = node_id[s]
                continue
            octant = ((((qx[i] >> child_shift) & 1) << 2) | (((qy[i] >> child_shift) & 1) << 1)
                      | ((qz[i] >> child_shift) & 1))
            remaining[k] = i
            slot[k] = p * 8 + octant
            below[p * 8 + octant] += 1
            k += 1
        remaining = remaining[:k]
        slot = slot[:k]
        counts = below
        slot_keys = np.empty((8 * n_split, 3), np.int64)
        for p in range(n_split):
            for octant in range(8):
                slot_keys[p * 8 + octant, 0] = 2 * parents[p, 0] + ((octant >> 2) & 1)
                slot_keys[p * 8 + octant, 1] = 2 * parents[p, 1] + ((octant >> 1) & 1)
                slot_keys[p * 8 + octant, 2] = 2 * parents[p, 2] + (octant & 1)
    return node_of, keys[:n_nodes]


@_jit
def group_by_node(node_of: np.ndarray, n_nodes: int) -> tuple:
    """Point indices grouped node by node, file order kept within a node (a counting sort),
    and where each node's run starts."""
    counts = np.zeros(n_nodes, np.int64)
    for i in range(len(node_of)):
        counts[node_of[i]] += 1
    starts = np.zeros(n_nodes, np.int64)
    for j in range(1, n_nodes):
        starts[j] = starts[j - 1] + counts[j - 1]
    position = starts.copy()
    order = np.empty(len(node_of), np.int64)
    for i in range(len(node_of)):
        node = node_of[i]
        order[position[node]] = i
        position[node] += 1
    return order, starts


@_jit
def gather_records(src: np.ndarray, order: np.ndarray, dst: np.ndarray, plan: np.ndarray,
                   legacy: np.ndarray, scan_angle: np.ndarray) -> None:
    """Copy the point records ``src[order]`` into ``dst`` (both as bytes, one row a record).

    ``plan`` rows (source offset, target offset, bytes) copy the fields both formats share.
    ``legacy`` holds the source offsets of the legacy bit fields, classification byte and scan
    angle rank, then the target offsets of the LAS 1.4 return byte, flags byte, class byte and
    scan angle (all -1 when the source is LAS 1.4 already); ``scan_angle`` maps the rank's byte
    to 1.4's 0.006° units. See :func:`pipelines.lidar.copc.to_las14` for the bit layout.
    """
    for j in range(len(order)):
        s = src[order[j]]
        d = dst[j]
        for f in range(len(plan)):
            so, do = plan[f, 0], plan[f, 1]
            for b in range(plan[f, 2]):
                d[do + b] = s[so + b]
        if legacy[0] < 0:
            continue
        bits, raw = s[legacy[0]], s[legacy[1]]
        d[legacy[3]] = (bits & 0b111) | (((bits >> 3) & 0b111) << 4)
        d[legacy[4]] = (raw >> 5) | (bits & 0b11000000)
        d[legacy[5]] = raw & 0b11111
        angle = scan_angle[s[legacy[2]]]
        d[legacy[6]] = angle & 0xFF
        d[legacy[6] + 1] = (angle >> 8) & 0xFF


@_jit
def _lower_envelope(f: np.ndarray, v: np.ndarray, z: np.ndarray) -> int:
    """One row of Felzenszwalb & Huttenlocher's transform: the lower envelope of the parabolas
    ``(x - q)² + f[q]`` of the columns with a finite ``f``. Fills ``v`` (the parabolas' columns)
    and ``z`` (where each takes over) and returns the index of the last one, -1 if none."""
    k = -1
    for q in range(len(f)):
        if f[q] == np.inf:
            continue
        if k < 0:
            k = 0
            v[0], z[0], z[1] = q, -np.inf, np.inf
            continue
        s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * (q - v[k]))
        while s <= z[k]:
            k -= 1
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * (q - v[k]))
        k += 1
        v[k], z[k], z[k + 1] = q, s, np.inf
    return k


@_jit
def _nearest_rows(measured: np.ndarray) -> np.ndarray:
    """Per cell, the nearest ``measured`` row of its own column (-1 where the column has none):
    the first pass of Felzenszwalb & Huttenlocher's transform (a tie goes to the row above)."""
    h, w = measured.shape
    near_row = np.full((h, w), -1, np.int64)
    for c in range(w):
        last = -1
        for r in range(h):
            if measured[r, c]:
                last = r
            near_row[r, c] = last
        following = -1
        for r in range(h - 1, -1, -1):
            if measured[r, c]:
                following = r
            if following >= 0 and (near_row[r, c] < 0 or following - r < r - near_row[r, c]):
                near_row[r, c] = following
    return near_row


@_jit
def _row_envelope(near_row: np.ndarray, r: int, f: np.ndarray, v: np.ndarray,
                  z: np.ndarray) -> int:
    """The second pass for row ``r``: each column's squared distance to its nearest measured
    row into ``f``, then the lower envelope (:func:`_lower_envelope`) of their parabolas."""
    for q in range(len(f)):
        f[q] = np.inf if near_row[r, q] < 0 else float((r - near_row[r, q]) ** 2)
    return _lower_envelope(f, v, z)


@_jit
def nearest_fill(grid: np.ndarray) -> np.ndarray:
    """Each empty (NaN) cell takes the value of the nearest measured cell (Euclidean).

    Felzenszwalb & Huttenlocher's exact distance transform, keeping the nearest cell instead
    of the distance: per column the nearest measured row, then per row the lower envelope of
    the columns' parabolas. Linear in the cells, and no index arrays the size of the grid as
    ``scipy.ndimage.distance_transform_edt(return_indices=True)`` builds them. A grid without
    a single measured cell is returned as it is.
    """
    h, w = grid.shape
    out = grid.copy()
    near_row = _nearest_rows(~np.isnan(grid))
    f = np.empty(w)
    v = np.empty(w, np.int64)
    z = np.empty(w + 1)
    for r in range(h):
        if _row_envelope(near_row, r, f, v, z) < 0:
            return out  # no measured cell anywhere
        k = 0
        for q in range(w):
            while z[k + 1] < q:
                k += 1
            if np.isnan(grid[r, q]):
                out[r, q] = grid[near_row[r, v[k]], v[k]]
    return out


@_jit
def gap_distance2(measured: np.ndarray) -> np.ndarray:
    """Per cell, the squared Euclidean distance (in cells) to the nearest ``measured`` cell;
    ``inf`` everywhere when no cell is measured.

    The transform of :func:`nearest_fill` (Felzenszwalb & Huttenlocher), keeping the distance:
    ``scipy.ndimage.distance_transform_edt`` takes 1-2 s on a buffered 0.5 m tile, this a few
    tens of milliseconds.
    """
    h, w = measured.shape
    out = np.full((h, w), np.inf)
    near_row = _nearest_rows(measured)
    f = np.empty(w)
    v = np.empty(w, np.int64)
    z = np.empty(w + 1)
    for r in range(h):
        if _row_envelope(near_row, r, f, v, z) < 0:
            return out  # no measured cell anywhere
        k = 0
        for q in range(w):
            while z[k + 1] < q:
                k += 1
            out[r, q] = (q - v[k]) ** 2 + f[v[k]]
    return out


@_jit
def relax(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray, passes: int,
          half: int) -> None:
    """Replace the cells ``rows``, ``cols`` by the mean of their ``2 * half + 1`` square
    window (clamped at the edges), ``passes`` times, each pass from the previous one's values
    (as ``scipy.ndimage.uniform_filter`` over the grid, but computed only where it is kept)."""
    h, w = grid.shape
    size = 2 * half + 1
    values = np.empty(len(rows))
    for _ in range(passes):
        for k in range(len(rows)):
            total = 0.0
            for dr in range(-half, half + 1):
                rr = min(max(rows[k] + dr, 0), h - 1)
                for dc in range(-half, half + 1):
                    total += grid[rr, min(max(cols[k] + dc, 0), w - 1)]
            values[k] = total / (size * size)
        for k in range(len(rows)):
            grid[rows[k], cols[k]] = values[k]


@_jit
def shade(dtm: np.ndarray, resolution: float, azimuth_rad: float, altitude_rad: float
          ) -> np.ndarray:
    """Shaded relief (1–255; 0, nodata, at a NaN cell or next to one) of ``dtm``, with
    ``numpy.gradient``'s differences (central inside, one-sided on the edges); see
    :func:`pipelines.lidar.grid.hillshade`.

    The usual ``sin(alt) cos(slope) + cos(alt) sin(slope) cos(az - aspect)`` with slope and
    aspect written out through the gradient: ``(sin(alt) + cos(alt) (cos(az) dy - sin(az) dx))
    / sqrt(1 + dx² + dy²)``, a square root per cell instead of six trigonometric functions.
    """
    h, w = dtm.shape
    out = np.empty((h, w), np.uint8)
    sin_alt, cos_alt = np.sin(altitude_rad), np.cos(altitude_rad)
    cos_az, sin_az = np.cos(azimuth_rad), np.sin(azimuth_rad)
    for r in range(h):
        r0, r1 = max(r - 1, 0), min(r + 1, h - 1)
        for c in range(w):
            c0, c1 = max(c - 1, 0), min(c + 1, w - 1)
            dy = (float(dtm[r1, c]) - float(dtm[r0, c])) / ((r1 - r0) * resolution)
            dx = (float(dtm[r, c1]) - float(dtm[r, c0])) / ((c1 - c0) * resolution)
            value = ((sin_alt + cos_alt * (cos_az * dy - sin_az * dx))
                     / np.sqrt(1.0 + dx * dx + dy * dy))
            if np.isnan(value) or np.isnan(dtm[r, c]):  # no terrain here or next to it: nodata
                out[r, c] = 0
                continue
            out[r, c] = np.uint8(1.0 + 254.0 * min(max(value, 0.0), 1.0))
    return out


@_jit
def lowest_cells(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, classes: np.ndarray,
                 scale: np.ndarray, offset: np.ndarray, x0: float, y_top: float,
                 resolution: float, size: int, is_noise: np.ndarray) -> np.ndarray:
    """Per cell the lowest point's height (NaN where a cell has none), noise classes left out:
    the minimum surface a morphological ground filter starts from."""
    low = np.full(size * size, np.inf)
    for i in range(len(X)):
        if is_noise[classes[i]]:
            continue
        cell = _cell(X[i], Y[i], scale, offset, x0, y_top, resolution, size)
        if cell < 0:
            continue
        z = Z[i] * scale[2] + offset[2]
        if z < low[cell]:
            low[cell] = z
    for cell in range(size * size):
        if low[cell] == np.inf:
            low[cell] = np.nan
    return low.reshape((size, size))


@_jit
def near_surface(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, classes: np.ndarray,
                 scale: np.ndarray, offset: np.ndarray, x0: float, y_top: float,
                 resolution: float, surface: np.ndarray, tolerance: np.ndarray,
                 is_noise: np.ndarray) -> np.ndarray:
    """Whether each point lies within ``tolerance`` (per cell) of ``surface``, interpolated
    bilinearly between cell centres at the point; noise points never do."""
    h, w = surface.shape
    out = np.zeros(len(X), np.bool_)
    for i in range(len(X)):
        if is_noise[classes[i]]:
            continue
        x = X[i] * scale[0] + offset[0]
        y = Y[i] * scale[1] + offset[1]
        z = Z[i] * scale[2] + offset[2]
        fc = min(max((x - x0) / resolution - 0.5, 0.0), w - 1.0)
        fr = min(max((y_top - y) / resolution - 0.5, 0.0), h - 1.0)
        c0, r0 = min(int(fc), w - 2), min(int(fr), h - 2)
        tc, tr = fc - c0, fr - r0
        top = surface[r0, c0] * (1 - tc) + surface[r0, c0 + 1] * tc
        bottom = surface[r0 + 1, c0] * (1 - tc) + surface[r0 + 1, c0 + 1] * tc
        ground = top * (1 - tr) + bottom * tr
        cell_r, cell_c = min(int(fr + 0.5), h - 1), min(int(fc + 0.5), w - 1)
        out[i] = abs(z - ground) <= tolerance[cell_r, cell_c]
    return out
