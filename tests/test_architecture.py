"""The layers hold (an import-linter contract), and the documented way of adding a pipeline kind
works as written in docs/architecture.md."""

from __future__ import annotations

import ast
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
TESTS = PROJECT_ROOT / "tests"


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


def test_modules_import_helpers_from_testkit_only() -> None:
    """pygeoapi's wheel installs a top-level ``tests`` package: ``from tests.x import …`` (and
    ``from .conftest import …``, which resolves through the same package) then imports
    pygeoapi's tests or nothing outside pytest's default import mode. Shared helpers are
    ``testkit``'s, fixtures conftest's; a test module never imports another one."""
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{line}: {name}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for line, name in foreign_test_imports(path.read_text(encoding="utf-8"))]
    assert offenders == [], "\n".join(offenders)


def test_the_import_check_finds_each_kind_of_cross_import() -> None:
    code = ("import tests.conftest\nfrom tests.test_build import GOOD_TOILETS\n"
            "from .conftest import BASE_URL\nfrom conftest import x\nfrom test_webtiles import y\n"
            "from testkit.raw import GOOD_TREES\nfrom catalog.ckan import sync\n")
    assert [line for line, _ in foreign_test_imports(code)] == [1, 2, 3, 4, 5]


def foreign_test_imports(code: str) -> list[tuple[int, str]]:
    """The imports of ``tests``, of a conftest or test module, or relative ones, with their line."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = ["." * node.level + (node.module or "")]
        else:
            continue
        found += [(node.lineno, name) for name in names if _names_a_test_module(name)]
    return found


def _names_a_test_module(name: str) -> bool:
    first = name.split(".")[0]
    return name.startswith(".") or first in ("tests", "conftest") or first.startswith("test_")
