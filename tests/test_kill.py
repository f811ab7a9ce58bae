"""A build killed outright — SIGKILL, the OOM killer, a power cut — at any moment of its run.

Nothing of the killed build may be served: the published layer stays the previous version,
complete, every file with the checksum its metadata gives (no truncated GeoPackage or 0-byte
PMTiles), and the next build completes and leaves no debris behind that pruning would count
as a version. The build runs as the real command line in a child process; it is killed each
time its unfinished version folder has grown by one more file, and once when that folder is
complete but not yet published.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testkit import make_settings

from geoportal.core.publish import (
    BUILDING,
    KEEP_VERSIONS,
    METADATA_FILE,
    VERSIONS,
    read_metadata,
    sha256_file,
)
from geoportal.core.settings import Settings

pytestmark = pytest.mark.slow

DATASET = "parcels"  # GeoPackage, GeoJSON, CSV, GeoParquet and PMTiles from tippecanoe


def start_build(settings: Settings) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from geoportal.app.cli import main; main()",
               "build", DATASET]
    return subprocess.Popen(command, env={**os.environ, **settings.as_env()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def building_files(versions: Path) -> tuple[int, bool]:
    """Files in the unfinished version folder so far, and whether its metadata is written."""
    count, complete = 0, False
    for folder in versions.glob(f"{BUILDING}*"):
        for path in folder.rglob("*"):
            count += path.is_file()
            complete |= path.name == METADATA_FILE
    return count, complete


def kill_when(settings: Settings, files: int | None) -> bool:
    """Start a build and SIGKILL it once its folder holds ``files`` files (None: once it is
    complete). Returns whether the kill came before the build ended by itself."""
    versions = settings.published_dir / VERSIONS / DATASET
    build = start_build(settings)
    while build.poll() is None:
        count, complete = building_files(versions)
        if (complete if files is None else count >= files):
            build.send_signal(signal.SIGKILL)
            build.wait()
            return True
        time.sleep(0.002)
    return False


def assert_served_intact(settings: Settings, version: Path) -> None:
    link = settings.published_dir / DATASET
    assert link.resolve() == version, "a killed build changed what is served"
    metadata = read_metadata(settings.published_dir, DATASET)
    assert metadata is not None
    for record in metadata.files:
        path = link / record.path
        assert path.stat().st_size == record.bytes, record.path
        assert sha256_file(path) == record.sha256, record.path


@pytest.fixture
def built(tmp_path: Path, sample_raw: Path) -> Settings:
    (tmp_path / "raw").symlink_to(sample_raw)
    settings = make_settings(tmp_path)
    first = start_build(settings)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err.decode()
    return settings


def test_a_build_killed_at_any_point_leaves_the_published_layer_and_the_next_completes(
        built: Settings) -> None:
    version = (built.published_dir / DATASET).resolve()
    outputs = sum(p.is_file() for p in version.rglob("*"))
    versions = built.published_dir / VERSIONS / DATASET
    killed = []
    for files in [*range(1, outputs), None]:
        killed.append(kill_when(built, files))
        assert_served_intact(built, version)
        assert any(versions.glob(f"{BUILDING}*")) == killed[-1]  # what the kill left behind
    assert all(killed[:-1]), f"builds ended before their kill: {killed}"
    # the last kill waits for a window of a few milliseconds; it may miss it on a busy machine
    again = start_build(built)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()
    left = sorted(p.name for p in versions.iterdir())
    assert not [name for name in left if name.startswith(".")], left  # no debris
    assert len(left) <= KEEP_VERSIONS and version.name in left
    assert all((versions / name / METADATA_FILE).is_file() for name in left)
    new = (built.published_dir / DATASET).resolve()
    assert new != version and new.name == left[-1]
    assert not [p for p in built.published_dir.iterdir() if ".tmp-" in p.name]
    assert_served_intact(built, new)
