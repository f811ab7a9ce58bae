"""The orthophoto pipeline on a real two-tile delivery: COGs, mosaic, resume, bad tiles."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from testkit import make_settings, missing
from testkit.imagery import TILES, YEAR

from geoportal.core.publish import read_metadata, sha256_file
from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings
from pipelines.build import build_all, build_dataset
from pipelines.imagery.encoders import (
    CogSpec,
    GdalTranslateEncoder,
    RasterioEncoder,
)
from pipelines.imagery.pipeline import ARCHIVE, MOSAIC


def _build(settings: Settings, dataset_id: str):
    return build_dataset(load_registry(settings.datasets_dir)[dataset_id], settings)


def test_one_valid_cog_per_tile_and_a_mosaic(imagery_settings: Settings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    imagery_settings = replace(imagery_settings, workers=2)  # the process pool, as in production
    result = _build(imagery_settings, "orthophoto")
    out = imagery_settings.published_dir / "orthophoto"
    cogs = sorted(out.glob("dop10rgb_32_*.tif"))
    assert [c.name for c in cogs] == [f"dop10rgb_32_{e}_{n}_1_nw_{YEAR}.tif" for e, n in TILES]
    for cog in cogs:
        valid, errors, _ = cog_validate(str(cog), quiet=True)
        assert valid, errors
        with rasterio.open(cog) as src:
            assert src.crs.to_epsg() == 25832 and src.count == 3
            assert src.compression.name == "jpeg" and src.photometric.name == "ycbcr"
            assert src.block_shapes[0] == (512, 512) and src.overviews(1)
    with rasterio.open(out / MOSAIC) as mosaic:
        assert tuple(mosaic.bounds) == (350000.0, 5685000.0, 352000.0, 5686000.0)
        # the mosaic shows the delivered pixels (JPEG q85 tolerance) on both sides of the seam
        for e, n in TILES:
            src_path = imagery_settings.raw_dir / "dop" / f"dop10rgb_32_{e}_{n}_1_nw_{YEAR}.tif"
            with rasterio.open(src_path) as src:
                window = mosaic.window(*src.bounds)
                got = mosaic.read(window=window).astype(int)
                assert np.abs(got - src.read().astype(int)).mean() < 6
    assert (out / ARCHIVE).stat().st_size > 0
    assert result.metadata.feature_count == 2
    assert [f.path for f in result.metadata.files] == [c.name for c in cogs]


def test_cir_shows_near_infrared_as_red(imagery_settings: Settings) -> None:
    _build(imagery_settings, "orthophoto_cir")
    out = imagery_settings.published_dir / "orthophoto_cir"
    cog = out / f"dop10cir_32_350_5685_1_nw_{YEAR}.tif"
    jp2 = imagery_settings.raw_dir / "dop" / f"dop10rgbi_32_350_5685_1_nw_{YEAR}.jp2"
    with rasterio.open(cog) as cir, rasterio.open(jp2) as rgbi:
        assert cog_validate(str(cog), quiet=True)[0]
        got, source = cir.read().astype(int), rgbi.read().astype(int)
    # red shows NIR, green shows red, blue shows green (JPEG's chroma loss allowed for)
    for out_band, src_band in enumerate((4, 1, 2)):
        errors = [np.abs(got[out_band] - source[b]).mean() for b in range(4)]
        assert int(np.argmin(errors)) == src_band - 1 and min(errors) < 12, errors


@pytest.mark.parametrize("encoder", [RasterioEncoder(), GdalTranslateEncoder()],
                         ids=lambda e: e.name)
def test_encoders_are_interchangeable(encoder, dop_delivery: Path, tmp_path: Path) -> None:
    """rasterio alone is enough; Debian's gdal_translate is only the faster path."""
    if encoder.name == "gdal_translate" and not GdalTranslateEncoder.available():
        missing("gdal_translate (Debian gdal-bin) is not installed")
    src = dop_delivery / "dop" / f"dop10rgbi_32_351_5685_1_nw_{YEAR}.jp2"
    dst = tmp_path / "out.tif"
    encoder.encode(src, dst, CogSpec(bands=(4, 1, 2)))
    assert cog_validate(str(dst), quiet=True)[0]
    with rasterio.open(dst) as out, rasterio.open(src) as source:
        assert [c.name for c in out.colorinterp] == ["red", "green", "blue"]
        assert np.abs(out.read(1).astype(int) - source.read(4).astype(int)).mean() < 12


def test_rebuild_skips_unchanged_tiles_and_redoes_changed_ones(
        imagery_settings: Settings) -> None:
    first = _build(imagery_settings, "orthophoto")
    assert "(0 unchanged" in first.headline
    again = _build(imagery_settings, "orthophoto")
    assert "(2 unchanged" in again.headline
    assert again.metadata.content_key() == first.metadata.content_key()
    touched = imagery_settings.raw_dir / "dop" / f"dop10rgbi_32_351_5685_1_nw_{YEAR}.jp2"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    third = _build(imagery_settings, "orthophoto")
    assert "(1 unchanged" in third.headline


def _spoil(settings: Settings) -> dict[str, str]:
    """Break the delivery three ways; return file name → the reason the report must give."""
    dop = settings.raw_dir / "dop"
    for tif in dop.glob("*.tif"):
        tif.unlink()  # the JP2 deliveries only
    truncated = dop / f"dop10rgbi_32_351_5685_1_nw_{YEAR}.jp2"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    good = dop / f"dop10rgbi_32_350_5685_1_nw_{YEAR}.jp2"
    wrong_crs = dop / f"dop10rgbi_32_350_5686_1_nw_{YEAR}.jp2"
    _rewrite(good, wrong_crs, crs="EPSG:3857", shift_n=1000)
    coarse = dop / f"dop10rgbi_32_349_5685_1_nw_{YEAR}.jp2"
    _rewrite(good, coarse, shift_e=-1000, factor=2)
    return {truncated.name: "corrupt or truncated", wrong_crs.name: "expected EPSG:25832",
            coarse.name: "pixel size 4 m, expected 2 m"}


def _rewrite(src: Path, dst: Path, crs: str | None = None, shift_e: float = 0,
             shift_n: float = 0, factor: int = 1) -> None:
    with rasterio.open(src) as s:
        data = s.read()[:, ::factor, ::factor]
        t = s.transform
        profile = {"driver": "GTiff", "count": s.count, "dtype": "uint8",
                   "width": data.shape[2], "height": data.shape[1], "crs": crs or s.crs,
                   "transform": rasterio.Affine(t.a * factor, 0, t.c + shift_e, 0,
                                                t.e * factor, t.f + shift_n)}
    tmp = dst.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as d:
        d.write(data)
    rasterio.shutil.copy(tmp, dst, driver="JP2OpenJPEG", QUALITY=50, REVERSIBLE="NO")
    tmp.unlink()


def test_bad_tiles_are_reported_the_good_ones_published_and_the_old_tile_kept(
        imagery_settings: Settings) -> None:
    """A new delivery with one good tile, a truncated one and two wrong ones: the good tile is
    published, the truncated tile's earlier COG stays served (no hole in the map), the wrong
    new squares are left out, and the run says failed, naming each file and why."""
    registry = load_registry(imagery_settings.datasets_dir)
    assert build_all(registry, imagery_settings, ["orthophoto"], echo=lambda _: None).ok
    link = imagery_settings.published_dir / "orthophoto"
    before = read_metadata(imagery_settings.published_dir, "orthophoto")
    with rasterio.open(link / MOSAIC) as mosaic:
        extent = mosaic.bounds
    reasons = _spoil(imagery_settings)
    lines: list[str] = []
    summary = build_all(registry, imagery_settings, ["orthophoto"], echo=lines.append)
    assert not summary.ok
    report = summary.failed["orthophoto"]
    assert report.startswith("3 unit(s) failed, the others are published")
    for name, reason in reasons.items():
        assert re.search(rf"{re.escape(name)}[^;]*{re.escape(reason)}", report), (name, report)
    after = read_metadata(imagery_settings.published_dir, "orthophoto")
    assert after is not None and before is not None and after.built_at >= before.built_at
    key = f"32_{{}}_1_nw_{YEAR}".format
    assert set(after.incomplete) == {key("351_5685"), key("350_5686"), key("349_5685")}
    assert "previously published file is served" in after.incomplete[key("351_5685")]
    assert "not published" in after.incomplete[key("350_5686")]
    # what is served: the same two squares as before, the kept tile byte for byte the old one
    assert sorted(f.path for f in after.files) == sorted(f.path for f in before.files)
    old = {f.unit: f.sha256 for f in before.files}
    kept = next(f for f in after.files if f.unit == "351_5685")
    assert kept.sha256 == old["351_5685"] == sha256_file(link / kept.path)
    with rasterio.open(link / MOSAIC) as mosaic:
        assert mosaic.bounds == extent
        assert mosaic.read(1, window=((0, 10), (0, 10))).any()
    # the good tile was converted: the fixed delivery resumes from the cache
    for name in reasons:
        (imagery_settings.raw_dir / "dop" / name).unlink()
    fixed = build_all(registry, imagery_settings, ["orthophoto"], echo=lines.append)
    assert fixed.ok and "(1 unchanged" in fixed.built[0].headline


def test_dask_local_cluster_gives_the_same_cogs_as_the_local_run(
        imagery_settings: Settings, tmp_path: Path, dop_delivery: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One unit per tile through pipelines/executor.py: a Dask cluster is just another runner."""
    registry = load_registry(imagery_settings.datasets_dir)
    local = build_all(registry, imagery_settings, ["orthophoto"], echo=lambda _: None)
    assert local.ok, local.lines()
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask" / "raw").symlink_to(dop_delivery)
    other = make_settings(tmp_path / "dask", workers=2)
    lines: list[str] = []
    on_dask = build_all(registry, other, ["orthophoto"], echo=lines.append, scheduler="local")
    assert on_dask.ok, lines
    assert any("2/2" in line and "MP/s" in line and "ETA" in line for line in lines), lines
    ours, theirs = (s.published_dir / "orthophoto" for s in (imagery_settings, other))
    for name in [f"dop10rgb_32_{e}_{n}_1_nw_{YEAR}.tif" for e, n in TILES]:
        assert (theirs / name).read_bytes() == (ours / name).read_bytes(), name
    assert (theirs / MOSAIC).read_text() == (ours / MOSAIC).read_text()
    assert (theirs / ARCHIVE).read_bytes() == (ours / ARCHIVE).read_bytes()


def test_near_infrared_is_a_product_of_its_own(imagery_settings: Settings) -> None:
    """The issue's "NIR band kept in a separate product": one grey band, the delivery's 4th."""
    result = _build(imagery_settings, "orthophoto_nir")
    out = imagery_settings.published_dir / "orthophoto_nir"
    assert [f.path for f in result.metadata.files] == [
        f"dop10nir_32_{e}_{n}_1_nw_{YEAR}.tif" for e, n in TILES]
    for e, n in TILES:
        cog = out / f"dop10nir_32_{e}_{n}_1_nw_{YEAR}.tif"
        jp2 = imagery_settings.raw_dir / "dop" / f"dop10rgbi_32_{e}_{n}_1_nw_{YEAR}.jp2"
        assert cog_validate(str(cog), quiet=True)[0]
        with rasterio.open(cog) as nir, rasterio.open(jp2) as rgbi:
            assert nir.count == 1 and nir.colorinterp[0].name == "gray" and nir.overviews(1)
            got, source = nir.read(1).astype(int), rgbi.read().astype(int)
        errors = [np.abs(got - source[b]).mean() for b in range(4)]
        assert int(np.argmin(errors)) == 3 and min(errors) < 8, errors
    assert (out / ARCHIVE).stat().st_size > 0 and (out / MOSAIC).exists()
