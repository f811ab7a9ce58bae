"""The one atomic write every publisher and cache uses: readers see the old file or the new one,
a failed writer leaves the old one published and nothing of itself behind."""

from __future__ import annotations

import threading
from pathlib import Path

import laspy
import pytest

from geoportal.core.publish import atomic_path, atomic_write_bytes, atomic_write_text, swap_link


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
