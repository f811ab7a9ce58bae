"""The one atomic write every publisher and cache uses: readers see the old file or the new one,
a failed writer leaves the old one published and nothing of itself behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import laspy
import pytest

from geoportal.core.errors import PublishError
from geoportal.core.publish import (
    BUILDING,
    KEEP_VERSIONS,
    METADATA_FILE,
    VERSIONS,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    publish_version,
    staging,
    swap_link,
)


def test_a_failing_writer_leaves_the_published_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "layer.gpkg"
    target.write_text("old")
    seen: list[Path] = []
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        seen.append(tmp)
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".")


def test_success_replaces_and_the_temp_keeps_the_suffix(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "3dm_32_350_5685_1_nw.copc.laz"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".laz" and not tmp.exists()
        assert not tmp.name.endswith(target.name)  # no glob for the final name matches it
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert list(target.parent.iterdir()) == [target]


def test_laz_written_through_the_temp_is_compressed(tmp_path: Path) -> None:
    """laspy picks compression from the name: the temporary name must end in .laz too."""
    target = tmp_path / "tile.laz"
    header = laspy.LasHeader(point_format=1, version="1.2")
    points = laspy.ScaleAwarePointRecord.zeros(10, header=header)
    with atomic_path(target) as tmp, laspy.open(tmp, mode="w", header=header) as writer:
        writer.write_points(points)
    with laspy.open(target) as reader:
        assert reader.header.are_points_compressed
        assert reader.header.point_count == 10


def test_a_failed_folder_is_removed(tmp_path: Path) -> None:
    final = tmp_path / "entry"
    with pytest.raises(ValueError), atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "part.npy").write_bytes(b"x")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_of_one_file_both_succeed(tmp_path: Path) -> None:
    """Two server threads caching the same tile: each writes a whole file under its own name."""
    target = tmp_path / "7.png"
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(50):
                atomic_write_bytes(target, data)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(bytes([i]) * 4096,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    data = target.read_bytes()
    assert len(data) == 4096 and len(set(data)) == 1
    assert list(tmp_path.iterdir()) == [target]


def test_text_and_link_swaps(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.json", "ä")
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "ä"
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir(), v2.mkdir()
    link = tmp_path / "published"
    swap_link(link, v1)
    swap_link(link, v2)
    assert link.resolve() == v2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "published", "v1", "v2"]


def _dead_pid() -> int:
    """The id of a process that has ended (a build killed outright leaves such a name)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _complete(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / METADATA_FILE).write_text("{}")
    return folder


def test_a_killed_builds_folder_and_temp_files_are_swept_by_the_next_build(tmp_path) -> None:
    published = tmp_path / "published"
    versions = published / VERSIONS / "parcels"
    dead = _dead_pid()
    abandoned = versions / f"{BUILDING}20261207T050000-{dead}-abcd1234"
    abandoned.mkdir(parents=True)
    (abandoned / "tiles.pmtiles").write_bytes(b"")  # what a kill mid-tippecanoe leaves
    torn_link = published / f".parcels.tmp-{dead}-0123456789ab"
    torn_link.symlink_to("nowhere")
    ours = versions / f"{BUILDING}20261207T050001-{os.getpid()}-live0000"
    ours.mkdir()  # a build of this very process, still running: left alone
    with staging(published, "parcels") as folder:
        assert not abandoned.exists() and not torn_link.is_symlink()
        assert ours.exists() and folder.name.startswith(BUILDING)
        (folder / METADATA_FILE).write_text("{}")
        link = publish_version(published, "parcels", folder)
    assert link.resolve().name == folder.name.removeprefix(BUILDING)
    assert ours.exists()


def test_pruning_counts_complete_versions_only_and_keeps_the_linked_one(tmp_path) -> None:
    published = tmp_path / "published"
    versions = published / VERSIONS / "trees"
    served = _complete(versions / "20261201T000000-served00")
    swap_link(published / "trees", served.relative_to(published))
    older = _complete(versions / "20261130T000000-older000")
    unfinished = versions / "20261205T000000-nometa00"  # no metadata: never a version
    unfinished.mkdir()
    (unfinished / "tiles.pmtiles").write_bytes(b"")
    folder = versions / f"{BUILDING}20261206T000000-{os.getpid()}-new00000"
    _complete(folder)
    publish_version(published, "trees", folder)
    kept = sorted(p.name for p in versions.iterdir())
    assert kept == ["20261201T000000-served00", folder.name.removeprefix(BUILDING)]
    assert not older.exists() and not unfinished.exists()
    assert len(kept) == KEEP_VERSIONS


def test_a_folder_without_metadata_is_never_published(tmp_path) -> None:
    published = tmp_path / "published"
    with pytest.raises(PublishError, match=r"no metadata\.json"), \
            staging(published, "schools") as folder:
        publish_version(published, "schools", folder)
    assert not (published / "schools").exists()
    assert list((published / VERSIONS / "schools").iterdir()) == []
