"""``geoportal publish``: validate the catalogue, write it statically and sync it to CKAN;
``geoportal catalog validate FILE``: validate any DCAT-AP.de file.

The commands are plain :class:`click.Command` objects; the project's CLI adds them to its group
with ``main.add_command(catalog.cli.publish)`` and ``main.add_command(catalog.cli.catalog)``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from catalog.check import check_file, format_report, report_json
from catalog.ckan import DEFAULT_ORG, DEFAULT_PREFIX, CkanTarget, SyncReport, sync
from catalog.dcat import PROFILES
from catalog.errors import CatalogError, CatalogParseError
from catalog.model import describe_all
from catalog.static import write_static_catalog
from catalog.validate import validate_records
from geoportal.core.registry import load_registry
from geoportal.core.settings import Settings

log = logging.getLogger(__name__)


def read_token(token_file: Path | None, env: dict[str, str] | None = None) -> str | None:
    """The CKAN API token: from ``token_file`` if given, else from ``$CKAN_API_TOKEN``."""
    if token_file is not None:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise click.UsageError(f"the token file {token_file} is empty")
        return token
    env = os.environ if env is None else env
    return env.get("CKAN_API_TOKEN") or None


@click.command("publish")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--ckan-url", envvar="CKAN_URL", help="CKAN base URL (env CKAN_URL).")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the CKAN API token (default: env CKAN_API_TOKEN).",
)
@click.option("--org", default=DEFAULT_ORG, show_default=True, help="CKAN organisation slug.")
@click.option("--prefix", default=DEFAULT_PREFIX, show_default=True,
              help="Prefix of the CKAN package names.")
@click.option("--only", "only", multiple=True, metavar="ID",
              help="Publish only this dataset (repeatable); never deletes others.")
@click.option("--static-only", is_flag=True, help="Write catalog.ttl/.jsonld, skip CKAN.")
@click.option("--purge", is_flag=True, help="Purge datasets removed from the registry.")
@click.option("--profile", type=click.Choice(PROFILES), default="3.0", show_default=True,
              help="DCAT-AP.de version of the static catalogue and its validation.")
def publish(
    dry_run: bool,
    ckan_url: str | None,
    token_file: Path | None,
    org: str,
    prefix: str,
    only: tuple[str, ...],
    static_only: bool,
    purge: bool,
    profile: str,
) -> None:
    """Publish the DCAT-AP.de catalogue: validate, write catalog.ttl/.jsonld, sync to CKAN."""
    settings = Settings.from_env()
    registry = load_registry(settings.datasets_dir)
    try:
        selected = registry.select(list(only) or None)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--only") from None
    failed = False
    if dry_run:
        records = describe_all(selected, settings.published_dir, settings.url)
        report = validate_records(records, settings.url, profile=profile)  # type: ignore[arg-type]
        valid = report.valid
    else:
        static = write_static_catalog(
            registry, settings.published_dir, settings.url, profile=profile  # type: ignore[arg-type]
        )
        for path in static.paths:
            click.echo(f"wrote {path}")
        report = static.report
        valid = [r for r in report.valid if r.id in {d.id for d in selected}]
    for violation in report.violations:
        click.echo(f"refused {violation}", err=True)
        failed = True
    click.echo(f"validated {len(report.valid)} dataset(s) in {report.seconds:.2f} s")
    if static_only:
        sys.exit(1 if failed else 0)
    if not ckan_url:
        raise click.UsageError("give --ckan-url or set CKAN_URL (or use --static-only)")
    target = CkanTarget(
        url=ckan_url, token=read_token(token_file), org=org, prefix=prefix, purge=purge
    )
    try:
        result = sync(
            valid, target, dry_run=dry_run, delete_missing=not only,
            registry_ids=[d.id for d in registry],
        )
    except CatalogError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    _echo(result, dry_run)
    sys.exit(1 if failed or not result.ok else 0)


def _echo(result: SyncReport, dry_run: bool) -> None:
    verb = "would " if dry_run else ""
    for change in result.changes:
        click.echo(f"{verb}{change}")
    for error in result.errors:
        click.echo(f"error: {error}", err=True)
    click.echo(
        f"CKAN: {len(result.by_action('create'))} created, {len(result.by_action('update'))} "
        f"updated, {len(result.by_action('delete'))} deleted, "
        f"{len(result.by_action('unchanged'))} unchanged, {len(result.errors)} failed, "
        f"{result.write_calls} write call(s) in {result.seconds:.2f} s"
    )


@click.group("catalog")
def catalog() -> None:
    """Work with DCAT-AP.de catalogue files."""


@catalog.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--profile", type=click.Choice(PROFILES), default=None,
              help="DCAT-AP.de version to check against (default: detected from the file).")
@click.option("--rules", type=click.Choice(["all", "official", "project"]), default="all",
              show_default=True, help="Official DCAT-AP.de shapes, the project's rules, or both.")
@click.option("--fail-on", type=click.Choice(["Violation", "Warning"]), default="Violation",
              show_default=True, help="Lowest severity that makes the file invalid (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate_file(
    file: Path, profile: str | None, rules: str, fail_on: str, as_json: bool
) -> None:
    """Validate a DCAT-AP.de FILE (Turtle, RDF/XML or JSON-LD), also one the portal did not write.

    Exit 0: valid; 1: violations (official or project rules); 2: the file cannot be read or parsed.
    """
    try:
        report = check_file(file, profile=profile, rules=rules)  # type: ignore[arg-type]
    except CatalogParseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(report_json(report, fail_on) if as_json else format_report(report))  # type: ignore[arg-type]
    sys.exit(1 if report.failures(fail_on) else 0)  # type: ignore[arg-type]
