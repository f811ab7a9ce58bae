"""The Ratingen geoportal: build the city's open geodata and serve it as OGC API.

\b
Typical use:
  geoportal sample     generate the sample city's raw inputs (stand-in for real data)
  geoportal build      turn raw inputs into published layers, as datasets/*.yml describe
  geoportal serve      serve the layers as OGC API and the portal page on 127.0.0.1:5000
  geoportal publish    write the DCAT-AP.de catalogue and sync it to CKAN
  geoportal catalog validate FILE   check any DCAT-AP.de file (official shapes + project rules)
  geoportal demo       sample + build + serve, in one go

\b
Folders come from environment variables: GEOPORTAL_DATA_DIR (default ./var),
GEOPORTAL_RAW_DIR (raw inputs), GEOPORTAL_PUBLISHED_DIR (published layers).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import click

from geoportal.core.errors import GeoportalError
from geoportal.core.registry import Registry, load_registry
from geoportal.core.settings import DEFAULT_HOST, DEFAULT_PORT, Settings


class InputProblem(click.ClickException):
    """A mistake in what the user gave (a dataset file, a dataset id): the message, exit 2.

    Exit 2 is the usage-error status, as for a wrong option, so a scheduler tells a broken
    configuration (fix the YAML) from a failed build (exit 1: look at the data or the logs).
    """

    exit_code = 2


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    """The settings from the environment; serving on ``host:port`` without ``GEOPORTAL_URL``
    makes that the public URL, so the API's links and the catalogue point where it answers
    (``serve --port 5077`` linked every download to :5000)."""
    settings = Settings.from_env()
    if host is not None and port is not None and "GEOPORTAL_URL" not in os.environ:
        settings = replace(settings, url=f"http://{host}:{port}")
    return settings


def _registry(settings: Settings) -> Registry:
    try:
        return load_registry(settings.datasets_dir)
    except GeoportalError as exc:
        raise InputProblem(str(exc)) from None


@click.group(help=__doc__)
@click.version_option(package_name="geoportal-ratingen")
def main() -> None:
    """The Ratingen geoportal's command line."""


@main.command()
@click.option("--district", type=click.Choice(["tiny", "default", "city"]), default="default",
              show_default=True,
              help="tiny: 1 km² for tests; default: 4 km² of the centre; city: all ~99 km².")
@click.option("--density", type=float, default=None,
              help="LiDAR points per m² (NRW delivers about 15; default 15, tiny 4).")
@click.option("--ortho-resolution", type=float, default=None,
              help="Orthophoto metres per pixel (NRW delivers 0.1; default 0.5, tiny 1.0).")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Same seed, same city: byte-identical files.")
@click.option("--workers", type=int, default=2, show_default=True,
              help="Processes generating LiDAR tiles in parallel.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write (default: the raw-data folder, $GEOPORTAL_RAW_DIR).")
@click.option("--force", is_flag=True, help="Regenerate even if the folder holds this city.")
def sample(district: str, density: float | None, ortho_resolution: float | None, seed: int,
           workers: int, out: Path | None, force: bool) -> None:
    """Generate the sample city: LiDAR, orthophoto, ALKIS, tree cadastre, POIs, ground truth."""
    from geoportal.app.sample_cli import run_sample

    settings = _settings()
    run_sample(out or settings.raw_dir, district, density, ortho_resolution, seed, workers,
               force, click.echo)


@main.command()
@click.argument("ids", nargs=-1)
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run tiles on a Dask cluster (tcp://host:8786, or 'local' for a "
                   "LocalCluster); default: a process pool on this machine.")
def build(ids: tuple[str, ...], scheduler: str | None) -> None:
    """Build the given datasets (default: all) and publish them atomically."""
    from pipelines.build import build_all

    settings = _settings()
    registry = _registry(settings)
    try:
        summary = build_all(registry, settings, list(ids) or None, echo=click.echo,
                            scheduler=scheduler)
    except KeyError as exc:
        raise InputProblem(str(exc.args[0])) from None
    _write_static_catalog(registry, settings)
    if not summary.ok:
        sys.exit(1)


@main.command()
@click.option("--check", is_flag=True,
              help="Fail if pygeoapi-config.yml differs from the registry.")
def config(check: bool) -> None:
    """Render pygeoapi-config.yml from datasets/*.yml."""
    from geoportal.app.pygeoapi_config import render_text, write_config
    from geoportal.app.server import CONFIG_FILE

    settings = _settings()
    registry = _registry(settings)
    path = settings.root / CONFIG_FILE
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != render_text(registry):
            raise click.ClickException(f"{path} is out of date; run `geoportal config`")
        click.echo(f"{path} matches the registry ({len(registry)} datasets)")
        return
    changed = write_config(registry, path)
    click.echo(f"{'wrote' if changed else 'unchanged:'} {path} ({len(registry)} datasets)")


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the published layers (OGC API Features, downloads, portal page)."""
    from geoportal.app.server import serve_forever

    settings = _settings(host, port)
    sys.exit(serve_forever(settings, host, port, workers, click.echo))


@main.command()
@click.option("--district", type=click.Choice(["tiny", "default", "city"]), default="default",
              show_default=True)
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.pass_context
def demo(ctx: click.Context, district: str, host: str, port: int) -> None:
    """Generate the sample city (if needed), build every layer and serve the portal."""
    started = time.perf_counter()
    ctx.invoke(sample, district=district)
    from pipelines.build import build_all

    settings = _settings(host, port)
    registry = _registry(settings)
    summary = build_all(registry, settings, echo=click.echo)
    _write_static_catalog(registry, settings)
    click.echo(f"ready in {time.perf_counter() - started:.0f} s")
    if not summary.ok:
        click.echo("some layers failed to build; serving the others")
    ctx.invoke(serve, host=host, port=port)


def _write_static_catalog(registry: Registry, settings: Settings) -> None:
    """The DCAT-AP.de catalogue next to the API (/downloads/catalog.ttl), validated first."""
    from catalog.static import write_static_catalog

    static = write_static_catalog(registry, settings.published_dir, settings.url)
    for violation in static.report.violations:
        click.echo(f"catalogue: refused {violation}", err=True)
    if static.not_built:
        click.echo(f"catalogue: left out, never built: {', '.join(static.not_built)}", err=True)
    click.echo(f"catalogue: {', '.join(p.name for p in static.paths)} "
               f"({len(static.report.valid)} datasets)")
    from geoportal.app.server import write_catalogues

    # the same records for OGC API Records and the CSW: a running server serves them at once
    write_catalogues(settings, registry)


@main.command()
def datasets() -> None:
    """List the registry's datasets (validating every file)."""
    settings = _settings()
    registry = _registry(settings)
    for d in registry:
        click.echo(f"{d.id:<24} {d.theme.value:<12} {d.license.value:<15} {d.title.de}")
    click.echo(f"{len(registry)} datasets in {settings.datasets_dir}")


def _add_catalog_command() -> None:
    from catalog.cli import catalog, publish

    main.add_command(publish)
    main.add_command(catalog)


_add_catalog_command()

if __name__ == "__main__":
    main()
