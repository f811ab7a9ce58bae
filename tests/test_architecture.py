"""The layers hold (an import-linter contract), and the documented way of adding a pipeline kind
works as written in docs/architecture.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from testkit import make_settings

from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT
from pipelines.build import build_all

DOC = PROJECT_ROOT / "docs" / "architecture.md"


def test_no_module_imports_against_the_layers() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_a_back_arrow_breaks_the_contract(tmp_path: Path) -> None:
    """The contract can fail: the same check on a copy whose core imports the shell."""
    copy = tmp_path / "tree"
    for part in ("geoportal", "pipelines", "catalog", "pyproject.toml"):
        source = PROJECT_ROOT / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / part)
    privacy = copy / "geoportal" / "core" / "privacy.py"
    privacy.write_text(privacy.read_text(encoding="utf-8") + "\nimport geoportal.app.cli\n",
                       encoding="utf-8")
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter), "--no-cache"], cwd=copy, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and "geoportal.core.privacy -> geoportal.app.cli" in done.stdout


@pytest.fixture
def example_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The example module from the architecture page, importable as ``example_grid``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if b.startswith('"""example_grid')]
    (tmp_path / "example_grid.py").write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "example_grid.GridPipeline"


def test_the_documented_pipeline_kind_builds_and_its_params_are_checked(
        tmp_path: Path, example_kind: str) -> None:
    settings = make_settings(tmp_path / "portal")
    folder = tmp_path / "datasets"  # a copy: the checkout's registry stays untouched
    shutil.copytree(PROJECT_ROOT / "datasets", folder)
    grid = yaml.safe_load((folder / "public_toilets.yml").read_text(encoding="utf-8"))
    grid.update(id="grid", outputs=["gpkg"], serve={"features": False},
                pipeline={"kind": example_kind,
                          "params": {"bbox": [350000, 5685000, 351000, 5686000], "cell_m": 250}})
    grid.pop("schema", None)
    (folder / "grid.yml").write_text(yaml.safe_dump(grid, allow_unicode=True), encoding="utf-8")
    summary = build_all(load_registry(folder), settings, ["grid"], echo=lambda _: None)
    assert summary.ok, summary.lines()
    assert len(gpd.read_file(settings.published_dir / "grid" / "grid.gpkg")) == 16

    grid["pipeline"]["params"]["cell"] = 100
    (folder / "grid.yml").write_text(yaml.safe_dump(grid, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match=r"pipeline\.params\.cell: unknown key; did you mean "
                                         r"'cell_m'\?"):
        load_registry(folder)
