"""COPC writing throughput against merely decoding the same LAZ tiles, in the same run.

Single process, one tile after the other (the pipeline runs one tile per core):

1. ``decode``: laspy + lazrs read the whole tile (all fields) — the floor;
2. ``laz``: the same points re-encoded as plain LAZ by laspy + lazrs — the peer (PDAL's
   ``writers.copc`` is not installable here);
3. ``copc``: :func:`pipelines.lidar.copc.write_copc` — decode, octree, one LAZ chunk per node.

Reported: points/s of each, and the ratios copc/decode and copc/laz (wall time).

Run:  .venv/bin/python bench/bench_copc.py <tile.laz> [<tile.laz> ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import laspy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipelines.lidar.copc import write_copc


def timed(step, *args) -> float:
    started = time.perf_counter()
    step(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tiles", nargs="+", type=Path)
    parser.add_argument("--crs", default="EPSG:25832")
    args = parser.parse_args()
    totals = {"decode": 0.0, "laz": 0.0, "copc": 0.0}
    points = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, tile in enumerate(args.tiles, 1):
            n = laspy.open(tile).header.point_count
            las = laspy.read(tile)
            secs = {
                "decode": timed(laspy.read, tile),
                "laz": timed(las.write, Path(tmp) / "plain.laz", True,
                             laspy.LazBackend.Lazrs),
                "copc": timed(write_copc, tile, Path(tmp) / "tile.copc.laz", args.crs),
            }
            points += n
            for k, v in secs.items():
                totals[k] += v
            print(f"[{i}/{len(args.tiles)}] {tile.name}: {n:,} points, "
                  + ", ".join(f"{k} {n / v / 1e6:.2f} M/s" for k, v in secs.items()), flush=True)
    rate = {k: points / v for k, v in totals.items()}
    print(f"summary: {points:,} points in {len(args.tiles)} tile(s); "
          + ", ".join(f"{k} {r / 1e6:.2f} M points/s" for k, r in rate.items()))
    print(f"copc/decode time ratio {totals['copc'] / totals['decode']:.1f}x, "
          f"copc/laz-encode time ratio {totals['copc'] / totals['laz']:.1f}x")


if __name__ == "__main__":
    main()
