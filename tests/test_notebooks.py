"""The developer notebooks run, top to bottom, against the live portal and a real CKAN.

A notebook that no longer runs is documentation that lies; executing them in the suite keeps
them true. Each notebook reads its endpoints from the environment (GEOPORTAL_URL, CKAN_URL).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from catalog.ckan import CkanTarget, sync
from catalog.model import describe_all
from geoportal.core.registry import load_registry
from geoportal.core.settings import PROJECT_ROOT, Settings, temporary_environment

pytestmark = [pytest.mark.server, pytest.mark.slow]
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def ckan_catalogue(ckan: dict[str, str], portal: Settings) -> dict[str, str]:
    """The portal's catalogue published to the real CKAN under an organisation of its own."""
    run = uuid.uuid4().hex[:8]
    target = CkanTarget(url=ckan["CKAN_URL"], token=ckan["CKAN_API_TOKEN"],
                        org=f"ratingen-nb-{run}", prefix=f"nb{run}")
    records = describe_all(load_registry(portal.datasets_dir), portal.published_dir, portal.url)
    report = sync(records, target)
    assert report.ok, report.errors
    return {"CKAN_URL": target.url, "CKAN_ORGANIZATION": target.org}


def run_notebook(path: Path, env: dict[str, str], workdir: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    with temporary_environment(env):  # the kernel process inherits the environment
        NotebookClient(notebook, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3


def uses_ckan(path: Path) -> bool:
    """Whether a notebook talks to the catalogue (reads ``CKAN_URL``)."""
    return "CKAN_URL" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_against_the_live_portal(path: Path, server: str, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    """Only a notebook that uses CKAN asks for it: the others run when CKAN is down."""
    env = {"GEOPORTAL_URL": server}
    if uses_ckan(path):
        env |= request.getfixturevalue("ckan_catalogue")
    notebook = run_notebook(path, env, tmp_path)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in code_cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert all(c.execution_count for c in code_cells), "every cell ran"


def test_the_catalogue_notebook_is_the_one_that_needs_ckan() -> None:
    assert [p.stem for p in NOTEBOOKS if uses_ckan(p)] == ["03_catalogue"]
