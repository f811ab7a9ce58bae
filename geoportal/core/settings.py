"""Where things live on disk and on the network.

Every path the product uses is derived here from a handful of environment variables, so a test can
point a whole build at a temporary folder and the committed ``pygeoapi-config.yml`` can stay
free of machine-specific paths (it refers to the same variables with ``${VAR:-default}``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
#: Debian's PostgreSQL 15 server binaries (initdb, pg_ctl), used for the PostGIS back end.
DEFAULT_PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class Settings:
    """Resolved locations for one run (a build, a server, a test)."""

    root: Path
    data_dir: Path
    raw_dir: Path
    published_dir: Path
    tiles_dir: Path
    datasets_dir: Path
    url: str
    #: Local worker processes of the tile pipelines (``GEOPORTAL_WORKERS``; default the cores).
    workers: int | None = None
    #: The CKAN the catalogue is pushed to (``CKAN_URL``); None when the portal has none.
    ckan_url: str | None = None
    #: PostgreSQL server binaries (``GEOPORTAL_PG_BIN``) for a private PostGIS cluster.
    pg_bin: Path = DEFAULT_PG_BIN

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the ``GEOPORTAL_*`` variables, falling back to folders inside the checkout."""
        env = dict(os.environ if env is None else env)
        root = Path(env.get("GEOPORTAL_HOME", PROJECT_ROOT)).resolve()
        data_dir = Path(env.get("GEOPORTAL_DATA_DIR", root / "var")).resolve()
        return cls(
            root=root,
            data_dir=data_dir,
            raw_dir=Path(env.get("GEOPORTAL_RAW_DIR", data_dir / "raw")).resolve(),
            published_dir=Path(
                env.get("GEOPORTAL_PUBLISHED_DIR", data_dir / "published")
            ).resolve(),
            tiles_dir=Path(env.get("GEOPORTAL_TILES_DIR", root / "tiles")).resolve(),
            datasets_dir=Path(env.get("GEOPORTAL_DATASETS_DIR", root / "datasets")).resolve(),
            url=env.get("GEOPORTAL_URL", f"http://{DEFAULT_HOST}:{DEFAULT_PORT}").rstrip("/"),
            workers=_positive_int(env, "GEOPORTAL_WORKERS"),
            ckan_url=env.get("CKAN_URL", "").rstrip("/") or None,
            pg_bin=Path(env.get("GEOPORTAL_PG_BIN", DEFAULT_PG_BIN)),
        )

    def as_env(self) -> dict[str, str]:
        """The variables a child process (pygeoapi under gunicorn) needs to see the same paths."""
        return {
            "GEOPORTAL_HOME": str(self.root),
            "GEOPORTAL_DATA_DIR": str(self.data_dir),
            "GEOPORTAL_RAW_DIR": str(self.raw_dir),
            "GEOPORTAL_PUBLISHED_DIR": str(self.published_dir),
            "GEOPORTAL_TILES_DIR": str(self.tiles_dir),
            "GEOPORTAL_DATASETS_DIR": str(self.datasets_dir),
            "GEOPORTAL_URL": self.url,
            **({"GEOPORTAL_WORKERS": str(self.workers)} if self.workers else {}),
            **({"CKAN_URL": self.ckan_url} if self.ckan_url else {}),
            "GEOPORTAL_PG_BIN": str(self.pg_bin),
        }


def _positive_int(env: dict[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}: expected a whole number of 1 or more, got {value!r}")
    return int(value)


@contextmanager
def temporary_environment(values: dict[str, str]) -> Iterator[None]:
    """Temporarily set environment variables, for what reads them at start-up (pygeoapi's
    config loader, a fork server's glibc, a notebook kernel)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
