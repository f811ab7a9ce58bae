"""Synchronise the catalogue to a CKAN portal (ckanapi), idempotently and without collateral damage.

Mapping: each :class:`~catalog.model.Record` becomes one CKAN package whose core fields and extras
are the ones ckanext-dcat's ``euro_dcat_ap_2``/``euro_dcat_ap_3`` profiles read, so CKAN's own
``/dataset/<name>.ttl`` shows the same DCAT description as the static catalogue (title,
description, licence, contact, keywords, theme, dates, distributions with formats and services).
DCAT-AP.de-only properties (contributor, geocoding, attribution text) travel as extras under the
names GovData's ckanext-dcatde uses, for a DCAT-AP.de profile to pick up.

Safety rules, each tested:

* Ownership: only packages carrying ``geoportal_publisher=ratingen-geoportal`` and a
  ``geoportal_registry_id`` are ever updated or deleted; anything else in the organisation is
  someone else's and is left alone, even when its name collides with ours.
* Idempotency: a fingerprint of the mapped package is stored as an extra; an unchanged dataset
  costs one read and no write. A changed one is replaced by a single ``package_update`` carrying
  all resources, so CKAN never shows a half-written dataset.
* Failure isolation: a dataset CKAN rejects (409) is reported with CKAN's field messages and the
  rest still syncs. Connection errors and 5xx answers are retried with exponential backoff.
* The API token is never logged, printed or put into an exception message.

One module of somewhat over 500 lines on purpose: the mapping and the safety rules above act on
the same package dict in one synchronisation pass, and reading them together is how a reviewer
checks that no rule is bypassed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests
from ckanapi import CKANAPIError, NotAuthorized, NotFound, RemoteCKAN, ValidationError

from catalog import vocab
from catalog.errors import CatalogMappingError, CkanError, CkanUnavailableError
from catalog.model import Record
from geoportal.core.registry import Organisation

log = logging.getLogger(__name__)

PUBLISHER_MARK = "ratingen-geoportal"
EXTRA_PUBLISHER = "geoportal_publisher"
EXTRA_REGISTRY_ID = "geoportal_registry_id"
EXTRA_FINGERPRINT = "geoportal_fingerprint"
DEFAULT_ORG = "stadt-ratingen"
DEFAULT_PREFIX = "ratingen"

# CKAN 2.12's own limits (ckan/model/package.py, ckan/model/tag.py, ckan/logic/validators.py).
# CKAN does not limit a package *title* (free text column); the URL name is what is bounded.
NAME_MAX_LENGTH = 100
NAME_PATTERN = re.compile(r"^[a-z0-9_-]{2,100}$")
TAG_MIN_LENGTH, TAG_MAX_LENGTH = 2, 100
TAG_PATTERN = re.compile(r"^[\w \-.]+$", re.UNICODE)

#: Package fields this publisher sets; only these are compared for a dry-run diff.
SHA256_ALGORITHM = str(vocab.SPDX.checksumAlgorithm_sha256)


@dataclass(frozen=True)
class CkanTarget:
    """Where and as whom to publish. ``token`` is excluded from ``repr`` so it cannot leak."""

    url: str
    token: str | None = field(default=None, repr=False)
    org: str = DEFAULT_ORG
    prefix: str = DEFAULT_PREFIX
    purge: bool = False  # purge (irrevocable) instead of delete (CKAN keeps a 'deleted' state)
    retries: int = 4
    backoff: float = 0.5  # seconds; doubled after each failed attempt
    timeout: float = 30.0


@dataclass(frozen=True)
class Change:
    """One planned or executed operation on one dataset."""

    action: str  # "create" | "update" | "delete" | "unchanged"
    dataset_id: str
    name: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        changed = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.action:<9} {self.name} [{self.dataset_id}]{changed}"


@dataclass
class SyncReport:
    """What a sync did (or, in a dry run, would do), and which datasets failed."""

    changes: list[Change] = field(default_factory=list)
    errors: list[CkanError] = field(default_factory=list)
    write_calls: int = 0
    seconds: float = 0.0

    def by_action(self, action: str) -> list[str]:
        return [c.dataset_id for c in self.changes if c.action == action]

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------------------------
# Mapping


def package_name(dataset_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The CKAN URL name of a dataset: ``<prefix>-<id with '-' for '_'>``, within CKAN's rules."""
    name = f"{prefix}-{dataset_id}".replace("_", "-").lower()
    if len(name) > NAME_MAX_LENGTH:
        raise CatalogMappingError(
            f"{dataset_id}: CKAN name {name!r} has {len(name)} characters; CKAN allows at most "
            f"{NAME_MAX_LENGTH} (shorten the dataset id or the prefix)"
        )
    if not NAME_PATTERN.fullmatch(name):
        raise CatalogMappingError(
            f"{dataset_id}: CKAN name {name!r} may only contain a-z, 0-9, '-' and '_'"
        )
    return name


def package_dict(record: Record, target: CkanTarget) -> dict[str, Any]:
    """The CKAN package for a record, fingerprint included (see :func:`fingerprint`)."""
    d = record.dataset
    package: dict[str, Any] = {
        "name": package_name(d.id, target.prefix),
        "title": d.title.de,
        "notes": d.description.de,
        "owner_org": target.org,
        "license_id": _license_id(record),
        "url": record.landing_page,
        # core fields; ckanext-dcatde reads them as dcatde:maintainer, ckanext-dcat only falls
        # back to them for the contact point, which the contact_* extras give
        "maintainer": (d.maintainer or d.contact).name,
        "maintainer_email": (d.maintainer or d.contact).email,
        "tags": [{"name": _tag(d.id, k)} for k in _unique([*d.keywords.de, *d.keywords.en])],
        "extras": _extras(record),
        "resources": [_resource(record, dist) for dist in record.distributions],
    }
    package["extras"].append({"key": EXTRA_FINGERPRINT, "value": fingerprint(package)})
    package["extras"].sort(key=lambda e: e["key"])
    return package


def fingerprint(package: dict[str, Any]) -> str:
    """A hash of everything this publisher sets, independent of CKAN's own bookkeeping fields."""
    content = {k: v for k, v in package.items() if k != "extras"}
    content["extras"] = sorted(
        (e["key"], e["value"]) for e in package.get("extras", []) if e["key"] != EXTRA_FINGERPRINT
    )
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _license_id(record: Record) -> str:
    """CKAN licence id: the DCAT-AP.de licence IRI, as GovData's CKAN uses it."""
    uri = vocab.license_uri(record.dataset.license)
    if not uri.startswith(vocab.DCATDE_LICENSES):
        raise CatalogMappingError(f"{record.id}: licence {uri!r} is not a DCAT-AP.de licence IRI")
    return uri


def _tag(dataset_id: str, keyword: str) -> str:
    if not TAG_MIN_LENGTH <= len(keyword) <= TAG_MAX_LENGTH:
        raise CatalogMappingError(
            f"{dataset_id}: keyword {keyword!r} must have {TAG_MIN_LENGTH}–{TAG_MAX_LENGTH} "
            "characters for CKAN"
        )
    if not TAG_PATTERN.fullmatch(keyword):
        raise CatalogMappingError(
            f"{dataset_id}: keyword {keyword!r} may only contain letters, digits, spaces, "
            "'-', '_' and '.' in CKAN"
        )
    return keyword


def _extras(record: Record) -> list[dict[str, str]]:
    d = record.dataset
    values: dict[str, str | None] = {
        # read by ckanext-dcat's euro_dcat_ap profiles
        "uri": record.uri,
        "identifier": record.uri,
        "theme": json.dumps([record.theme_uri]),
        "frequency": record.frequency_uri,
        "language": json.dumps(list(record.language_uris)),
        "issued": d.issued.isoformat() if d.issued else None,
        "temporal_start": _day(record.temporal.start if record.temporal else None),
        "temporal_end": _day(record.temporal.end if record.temporal else None),
        "modified": record.modified,
        "publisher_name": d.publisher.name,
        "publisher_url": d.publisher.url,
        "publisher_email": d.publisher.email,
        "contact_name": d.contact.name,
        "contact_email": d.contact.email,
        "contact_url": d.contact.url,
        "spatial_bbox": _bbox_wkt(record),
        # DCAT-AP.de properties, named as GovData's ckanext-dcatde names them
        "contributorID": json.dumps([vocab.CONTRIBUTOR_ID]),
        "politicalGeocodingLevelURI": d.geocoding.level,
        "politicalGeocodingURI": json.dumps([d.geocoding.uri]),
        "licenseAttributionByText": d.attribution if d.license.requires_attribution else None,
        "maintainer_url": d.maintainer.url if d.maintainer else None,
        **_agent_extras("originator", d.originator),
        "title_en": d.title.en,
        "notes_en": d.description.en,
        # ownership markers
        EXTRA_PUBLISHER: PUBLISHER_MARK,
        EXTRA_REGISTRY_ID: d.id,
    }
    return [{"key": k, "value": v} for k, v in values.items() if v]


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _agent_extras(role: str, org: Organisation | None) -> dict[str, str | None]:
    """``<role>_name``/``_email``/``_url``, the extras ckanext-dcatde maps onto dcatde:<role>
    (for the maintainer CKAN's core fields take name and e-mail: an extra may not repeat them)."""
    if org is None:
        return {}
    return {f"{role}_name": org.name, f"{role}_email": org.email, f"{role}_url": org.url}


def _bbox_wkt(record: Record) -> str | None:
    from catalog.dcat import bbox_wkt  # local: dcat imports rdflib, not needed for the rest

    return bbox_wkt(record.bbox_wgs84) if record.bbox_wgs84 else None


def _resource(record: Record, dist) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "name": dist.title_de,
        "url": dist.access_url,
        "access_url": dist.access_url,
        "format": dist.format_uri,
        "mimetype": dist.media_type_uri,
        "license": record.license_uri,
        "uri": dist.uri,
    }
    if dist.description_de:
        resource["description"] = dist.description_de
    if dist.language_uris:
        resource["language"] = json.dumps(list(dist.language_uris))
    if dist.issued:
        resource["issued"] = dist.issued.isoformat()
    if dist.download_url:
        resource["download_url"] = dist.download_url
    if dist.byte_size is not None:
        resource["size"] = dist.byte_size
    if dist.sha256:
        resource["hash"] = dist.sha256
        resource["hash_algorithm"] = SHA256_ALGORITHM
    if dist.modified:
        resource["modified"] = dist.modified
    if dist.service:
        service = dist.service
        resource["access_services"] = json.dumps(
            [
                {
                    "uri": service.uri,
                    "title": service.title_de,
                    "endpoint_url": [service.endpoint_url],
                    "endpoint_description": service.endpoint_description,
                    "conforms_to": [service.conforms_to],
                    "serves_dataset": [record.uri],
                    "license": record.license_uri,
                }
            ],
            sort_keys=True,
        )
    return resource


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# --------------------------------------------------------------------------------------------
# Talking to CKAN


class CkanClient:
    """A thin ckanapi wrapper: retries, counted writes, and error messages without the token."""

    WRITE_ACTIONS = frozenset(
        {"package_create", "package_update", "package_delete", "dataset_purge",
         "organization_create"}
    )

    def __init__(
        self, target: CkanTarget, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.target = target
        self.writes = 0
        self._sleep = sleep
        self._api = RemoteCKAN(
            target.url, apikey=target.token, user_agent="ratingen-geoportal-catalog/0.1"
        )

    def call(self, action: str, dataset_id: str = "catalogue", **data: Any) -> Any:
        """Call an action; retry connection errors and 5xx with exponential backoff."""
        delay = self.target.backoff
        for attempt in range(1, self.target.retries + 2):
            try:
                result = self._api.call_action(
                    action, data, requests_kwargs={"timeout": self.target.timeout}
                )
            except (NotFound, ValidationError, NotAuthorized):
                raise
            except requests.RequestException as exc:
                problem = f"cannot reach CKAN at {self.target.url} ({type(exc).__name__})"
            except CKANAPIError as exc:
                status = _status(exc)
                if status is not None and status < 500:
                    message = self._scrub(f"{action}: CKAN answered {status}")
                    raise CkanError(dataset_id, message) from None
                problem = f"CKAN answered {status or 'an unreadable response'} to {action}"
            else:
                if action in self.WRITE_ACTIONS:
                    self.writes += 1
                return result
            if attempt > self.target.retries:
                break
            log.warning("%s; retry %d/%d in %.1f s", problem, attempt,
                        self.target.retries, delay)
            self._sleep(delay)
            delay *= 2
        raise CkanUnavailableError(self._scrub(f"{problem}; gave up after {attempt} attempts"))

    def _scrub(self, text: str) -> str:
        token = self.target.token
        return text.replace(token, "***") if token else text


def _status(exc: CKANAPIError) -> int | None:
    """ckanapi reports unknown errors as repr([url, status, body]); dig the status out."""
    match = re.search(r"',\s*(\d{3}),", str(exc))
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------------------------
# Sync


def sync(
    records: Iterable[Record],
    target: CkanTarget,
    *,
    dry_run: bool = False,
    delete_missing: bool = True,
    registry_ids: Iterable[str] | None = None,
    client: CkanClient | None = None,
) -> SyncReport:
    """Make CKAN's packages of this publisher match ``records``.

    ``delete_missing`` removes owned packages whose dataset left the registry: ``registry_ids``
    (default: the ids of ``records``) lists what is still in it, so a dataset refused by
    validation is kept in CKAN as it was rather than deleted. Pass ``delete_missing=False`` when
    ``records`` is a selection (``--only``).
    """
    started = time.perf_counter()
    client = client or CkanClient(target)
    report = SyncReport()
    records = list(records)
    org_id = _ensure_org(client, target, records, dry_run)
    owned = _owned_packages(client, target, org_id) if org_id else {}
    for record in records:
        try:
            change = _sync_one(client, target, record, owned, dry_run)
        except CkanError as exc:
            report.errors.append(exc)
            log.error("%s", exc)
            continue
        report.changes.append(change)
    if delete_missing:
        wanted = set(registry_ids) if registry_ids is not None else {r.id for r in records}
        for dataset_id, package in sorted(owned.items()):
            if dataset_id in wanted:
                continue
            try:
                report.changes.append(_delete(client, target, dataset_id, package, dry_run))
            except CkanError as exc:
                report.errors.append(exc)
    report.write_calls = client.writes
    report.seconds = time.perf_counter() - started
    return report


def _ensure_org(
    client: CkanClient, target: CkanTarget, records: list[Record], dry_run: bool
) -> str | None:
    try:
        return client.call("organization_show", id=target.org)["id"]
    except NotFound:
        pass
    if dry_run:
        log.info("would create organization %s", target.org)
        return None
    title = records[0].dataset.publisher.name if records else target.org
    try:
        return client.call("organization_create", name=target.org, title=title)["id"]
    except ValidationError as exc:
        raise CkanError("catalogue", f"organization {target.org}: {_fields(exc)}") from None


def _owned_packages(client: CkanClient, target: CkanTarget, org_id: str) -> dict[str, dict]:
    """This publisher's packages in the organisation, by registry id. Others' are not listed."""
    owned: dict[str, dict] = {}
    start, rows = 0, 500
    while True:
        page = client.call(
            "package_search", fq=f"owner_org:{org_id}", rows=rows, start=start,
            include_private=True,
        )
        for package in page["results"]:
            extras = _extras_of(package)
            if extras.get(EXTRA_PUBLISHER) == PUBLISHER_MARK and extras.get(EXTRA_REGISTRY_ID):
                owned[extras[EXTRA_REGISTRY_ID]] = package
        start += rows
        if start >= page["count"] or not page["results"]:
            return owned


def _sync_one(
    client: CkanClient, target: CkanTarget, record: Record, owned: dict[str, dict], dry_run: bool
) -> Change:
    try:
        desired = package_dict(record, target)
    except CatalogMappingError as exc:
        raise CkanError(record.id, str(exc).removeprefix(f"{record.id}: ")) from None
    name = desired["name"]
    current = owned.get(record.id) or _ours_by_name(client, record.id, name)
    if current is None:
        if not dry_run:
            _write(client, record.id, "package_create", desired)
        return Change("create", record.id, name)
    revive = current.get("state") == "deleted"
    if not revive and _fingerprint_of(current) == _fingerprint_of(desired):
        return Change("unchanged", record.id, name)
    fields = ("state",) if revive else tuple(_changed_fields(current, desired))
    if not dry_run:
        update = {**desired, "id": current["id"], "state": "active"}
        update["resources"] = _keep_resource_ids(current, desired["resources"])
        _write(client, record.id, "package_update", update)
    return Change("update", record.id, name, fields)


def _ours_by_name(client: CkanClient, dataset_id: str, name: str) -> dict | None:
    """Our package under ``name`` that the search did not list (deleted state), or None if free.

    A package with our name that this publisher does not own (another organisation, or no
    marker) is never taken over: that is an error for this dataset only.
    """
    try:
        existing = client.call("package_show", dataset_id, id=name)
    except NotFound:
        return None
    if _extras_of(existing).get(EXTRA_PUBLISHER) == PUBLISHER_MARK and _extras_of(
        existing
    ).get(EXTRA_REGISTRY_ID) == dataset_id:
        return existing
    raise CkanError(
        dataset_id,
        f"CKAN name {name!r} is already used by a package this publisher does not own; "
        "it is left untouched — rename one of them",
    )


def _fingerprint_of(package: dict[str, Any]) -> str | None:
    return _extras_of(package).get(EXTRA_FINGERPRINT)


def _delete(
    client: CkanClient, target: CkanTarget, dataset_id: str, package: dict, dry_run: bool
) -> Change:
    name = package["name"]
    if not dry_run:
        action = "dataset_purge" if target.purge else "package_delete"
        _write(client, dataset_id, action, {"id": package["id"]})
    return Change("delete", dataset_id, name)


def _write(client: CkanClient, dataset_id: str, action: str, data: dict[str, Any]) -> None:
    try:
        client.call(action, dataset_id, **data)
    except ValidationError as exc:
        raise CkanError(dataset_id, f"CKAN rejected {action}: {_fields(exc)}") from None
    except NotAuthorized:
        raise CkanError(
            dataset_id, f"{action}: not authorised — check the API token's user"
        ) from None
    log.info("%s %s", action, dataset_id)


def _fields(exc: ValidationError) -> str:
    """CKAN's field messages, e.g. "name: That URL is already in use."."""
    error = exc.error_dict if isinstance(exc.error_dict, dict) else {}
    parts = []
    for key, messages in sorted(error.items()):
        if key.startswith("__"):
            continue
        if isinstance(messages, list):
            text = "; ".join(json.dumps(m, ensure_ascii=False) if not isinstance(m, str) else m
                             for m in messages)
        else:
            text = str(messages)
        parts.append(f"{key}: {text}")
    return ", ".join(parts) or "validation error"


def _extras_of(package: dict[str, Any]) -> dict[str, str]:
    return {e["key"]: e["value"] for e in package.get("extras", [])}


def _changed_fields(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """Names of the fields a package_update would change, for the dry-run listing."""
    changed = []
    for key, value in desired.items():
        if key in ("extras", "resources", "tags", "owner_org"):
            continue
        if current.get(key) != value:
            changed.append(key)
    if sorted(t["name"] for t in current.get("tags", [])) != sorted(
        t["name"] for t in desired["tags"]
    ):
        changed.append("tags")
    have, want = _extras_of(current), _extras_of(desired)
    changed += [
        f"extras.{k}"
        for k in sorted(set(have) | set(want))
        if k != EXTRA_FINGERPRINT and have.get(k) != want.get(k)
    ]
    if _resource_view(current["resources"]) != _resource_view(desired["resources"]):
        changed.append("resources")
    return changed


def _resource_view(resources: list[dict[str, Any]]) -> list[tuple]:
    keys = ("url", "format", "mimetype", "size", "hash", "modified", "name")
    return [tuple(str(r.get(k) or "") for k in keys) for r in resources]


def _keep_resource_ids(current: dict, resources: list[dict]) -> list[dict]:
    """Reuse the ids of resources whose URL is unchanged, so links to them stay valid."""
    by_url = {r.get("url"): r["id"] for r in current.get("resources", [])}
    return [{**r, "id": by_url[r["url"]]} if r["url"] in by_url else r for r in resources]
