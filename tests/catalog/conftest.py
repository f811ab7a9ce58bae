"""Fixtures of the catalogue tests: the real registry, a realistic published folder, a real CKAN."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from testkit.catalog import build_layer

from catalog.vocab import SERVED_ONLY
from geoportal.core.registry import Registry, load_registry
from geoportal.core.settings import PROJECT_ROOT


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(PROJECT_ROOT / "datasets")


@pytest.fixture
def published(tmp_path: Path, registry: Registry) -> Path:
    """A published folder in which every registry dataset has been built."""
    root = tmp_path / "published"
    for dataset in registry:
        files = [fmt for fmt in dataset.outputs if fmt not in SERVED_ONLY]  # tiles are no files
        build_layer(root, dataset.id, files, "2026-11-20T08:00:00+00:00")
    return root


@pytest.fixture
def run_id() -> str:
    """A short unique id, so that reruns against the same CKAN never collide."""
    return uuid.uuid4().hex[:8]
