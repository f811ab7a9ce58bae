"""``geoportal sample``: generate the sample city, with progress, and only when needed.

Generating the default district takes a minute or two; the demo calls this every time, so a
folder whose manifest already records the same spec and generator version is left alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

Echo = Callable[[str], None]

# Per-district defaults for density (points/m²) and orthophoto resolution (m/px): the tiny
# district is for tests and must generate in seconds.
DEFAULTS = {"tiny": (4.0, 1.0), "default": (15.0, 0.5), "city": (15.0, 0.5)}


class ProgressPrinter:
    """Prints ``stage done/total`` with rate and ETA, at most once a second per stage."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo
        self.started: dict[str, float] = {}
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        start = self.started.setdefault(stage, now)
        if done < total and now - self.last < 1.0:
            return
        self.last = now
        elapsed = now - start
        eta = elapsed / done * (total - done) if done else float("nan")
        eta_text = f", ETA {eta:.0f} s" if done and done < total else ""
        self.echo(f"  {stage}: {done}/{total} ({elapsed:.1f} s{eta_text})")


def run_sample(out: Path, district: str, density: float | None, ortho_resolution: float | None,
               seed: int, workers: int, force: bool, echo: Echo) -> dict:
    """Generate ``district`` into ``out`` unless it is already there; return the manifest."""
    from geoportal.app.sample import DISTRICTS, GENERATOR_VERSION, SampleSpec, generate

    default_density, default_resolution = DEFAULTS[district]
    spec = SampleSpec(tiles=DISTRICTS[district], seed=seed,
                      lidar_density=density or default_density,
                      ortho_resolution=ortho_resolution or default_resolution)
    manifest_path = out / "manifest.json"
    if not force and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("spec") == spec.as_dict() and \
                manifest.get("generator_version") == GENERATOR_VERSION:
            echo(f"sample city '{district}' already in {out} (use --force to regenerate)")
            return manifest
    echo(f"generating the sample city '{district}' ({len(spec.tiles)} km², "
         f"{spec.lidar_density:g} pts/m², orthophoto {spec.ortho_resolution:g} m) into {out}")
    started = time.perf_counter()
    manifest = generate(spec, out, progress=ProgressPrinter(echo), workers=workers)
    seconds = time.perf_counter() - started
    points = manifest.get("total_points", 0)
    echo(f"sample city done in {seconds:.1f} s: {len(manifest.get('files', {}))} files, "
         f"{points:,} LiDAR points ({points / max(seconds, 1e-9) / 1e6:.1f} M points/s overall)")
    return manifest
