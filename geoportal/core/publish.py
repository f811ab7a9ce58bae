"""Publishing a built layer atomically, and the metadata record every published layer carries.

A dataset is published as a folder ``published/<id>/`` holding its output files, a
``metadata.json`` (the facts the catalogue needs and the registry cannot know: extent, counts,
sizes, checksums, dates) and its rejects report. That folder is a *symbolic link* to an immutable
version folder under ``published/.versions/<id>/``. A new build is written into a fresh version
folder and then the link is replaced with ``os.replace`` — a single atomic rename — so a reader
(the server, a download) always sees either the complete old version or the complete new one,
never a mix, and a crash mid-build leaves the old version served.

A build writes into a hidden ``.building-<time>-<pid>-…`` folder beside the versions; only a
complete one (its ``metadata.json`` written last) is renamed to a version and linked. A build
killed outright (SIGKILL, power loss) cannot clean up after itself, so the next build of the
dataset removes what a dead process left: its building folders and temporary files. Pruning
counts complete versions only, and never removes the one the link points at.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geoportal.core import formats
from geoportal.core.errors import PublishError

VERSIONS = ".versions"
METADATA_FILE = "metadata.json"
KEEP_VERSIONS = 2
#: A version folder being built; its name carries the building process's id (see :func:`staging`).
BUILDING = ".building-"
_OWNER = re.compile(rf"^{re.escape(BUILDING)}\d{{8}}T\d{{6}}-(\d+)-|\.tmp-(\d+)-[0-9a-f]{{12}}")

@dataclass
class FileRecord:
    """One downloadable file of a published layer."""

    format: str
    path: str
    media_type: str
    bytes: int
    sha256: str
    #: The work unit (a tile's key) that produced the file, so that a later build whose unit
    #: fails can keep serving this file instead of dropping it (:func:`unit_files`).
    unit: str | None = None


@dataclass
class LayerMetadata:
    """What a build learned about its output; read by the server's landing page and the catalogue.

    ``modified`` changes only when the content changes (same checksums as the previous version →
    the previous ``modified`` is kept), so a no-change rebuild does not look like an update to the
    catalogue or to a harvester.
    """

    id: str
    built_at: str
    modified: str
    feature_count: int
    rejected_count: int
    bbox_wgs84: list[float] | None
    bbox_native: list[float] | None
    crs_native: str
    source_sha256: str | None
    files: list[FileRecord] = field(default_factory=list)
    #: What the build warned about (a less accurate CRS transformation, say): the layer is
    #: published, but a user of it should know (``BuildResult.warnings``, copied by the build).
    warnings: list[str] = field(default_factory=list)
    #: Units (tiles) whose new input failed, with the reason and what is served instead (the
    #: previous version's file, or nothing): the layer is published, the build reported failed.
    incomplete: dict[str, str] = field(default_factory=dict)
    #: When the contents were captured, first and last day (ISO dates): a LiDAR layer's flight
    #: days, a derived layer's those of its input; the catalogue's dct:temporal unless the
    #: dataset's YAML states one.
    period: list[str] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerMetadata:
        files = [FileRecord(**f) for f in data.get("files", [])]
        return cls(**{**data, "files": files})

    def content_key(self) -> list[tuple[str, str]]:
        return sorted((f.path, f.sha256) for f in self.files)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: Path, fmt: str, sha256: str | None = None) -> FileRecord:
    """The catalogue's record of a published file. ``sha256``: the digest when the step that
    wrote the file computed it already (LiDAR workers hash their tiles while the bytes are in
    memory, instead of the publishing process re-reading 10 GB of a city build one by one).
    An unknown ``fmt`` is an :class:`~geoportal.core.errors.UnknownFormatError`: the catalogue
    could not describe the file either."""
    return FileRecord(
        format=fmt,
        path=path.name,
        media_type=formats.get(fmt).media_type,
        bytes=path.stat().st_size,
        sha256=sha256 or sha256_file(path),
    )


def digest_path(path: Path) -> Path:
    """Where the digest of a cached file is kept, beside it (``<name>.sha256``)."""
    return path.with_name(f"{path.name}.sha256")


def keep_digest(path: Path, of: Path | None = None) -> str:
    """Hash the file ``of`` (default: ``path``) and keep the digest beside ``path``, written
    atomically; returns it."""
    digest = sha256_file(of or path)
    atomic_write_text(digest_path(path), digest)
    return digest


def cached_digest(path: Path) -> str | None:
    """The digest kept beside ``path``, if any (see :func:`digest_path`)."""
    try:
        return digest_path(path).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def link_or_copy(src: Path, dst: Path) -> None:
    """Put a cached file into a version folder: a hard link (no bytes copied, the cache and the
    published version share them), or a copy where the two lie on different file systems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def read_metadata(published_dir: Path, dataset_id: str) -> LayerMetadata | None:
    """The metadata of the currently published version, or None if nothing is published."""
    path = published_dir / dataset_id / METADATA_FILE
    if not path.exists():
        return None
    return LayerMetadata.from_dict(json.loads(path.read_text(encoding="utf-8")))


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@contextmanager
def staging(published_dir: Path, dataset_id: str) -> Iterator[Path]:
    """A fresh, private folder to build a version into; removed again if the build fails.

    Its hidden name carries this process's id: a build killed before it could remove the
    folder leaves it to the next build's :func:`sweep_abandoned`, and nothing serves it.
    """
    versions = published_dir / VERSIONS / dataset_id
    versions.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(versions)
    sweep_abandoned(published_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = Path(tempfile.mkdtemp(prefix=f"{BUILDING}{stamp}-{os.getpid()}-", dir=versions))
    folder.chmod(0o755)  # mkdtemp makes it private; the server may run as another user
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def publish_version(published_dir: Path, dataset_id: str, folder: Path) -> Path:
    """Make the built ``folder`` a version and point ``published/<id>`` at it in one atomic
    rename; prune old versions. ``folder`` must hold its ``metadata.json`` already."""
    link = published_dir / dataset_id
    if link.exists() and not link.is_symlink():
        raise PublishError(
            f"{link} exists and is not a published-version link; refusing to replace it"
        )
    if not (folder / METADATA_FILE).is_file():
        raise PublishError(f"{folder} has no {METADATA_FILE}: not a complete build")
    version = folder.with_name(folder.name.removeprefix(BUILDING))
    try:
        os.rename(folder, version)
        swap_link(link, version.relative_to(published_dir))
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        raise PublishError(f"could not publish {dataset_id}: {exc}") from exc
    _prune(version.parent, keep={version.name})
    return link


def _prune(versions: Path, keep: set[str]) -> None:
    """Keep the newest few complete versions: a server mid-request may still read the previous
    one. A folder without metadata never counts as a version; the linked one always stays."""
    link = versions.parent.parent / versions.name
    if link.is_symlink():
        keep = keep | {Path(os.readlink(link)).name}
    folders = sorted((p for p in versions.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")),
                     key=lambda p: p.name)
    complete = [p for p in folders if (p / METADATA_FILE).is_file()]
    keep = keep | {p.name for p in complete[-KEEP_VERSIONS:]}
    for old in folders:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def sweep_abandoned(folder: Path) -> list[Path]:
    """Remove what builds killed outright left in ``folder``: building folders and temporary
    files (:func:`atomic_path`) whose process is gone. Returns what was removed."""
    removed = []
    for path in folder.iterdir() if folder.is_dir() else []:
        pid = owner_pid(path.name)
        if pid is None or _alive(pid):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def owner_pid(name: str) -> int | None:
    """The id of the process writing the building folder or temporary file ``name``."""
    match = _OWNER.search(name)
    return int(match.group(1) or match.group(2)) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; renamed onto ``target`` when the block
    succeeds, removed when it fails. Readers of ``target`` see the old or the new file (or
    folder, or link), never a torn one, and a failed write leaves the old one in place.

    The name is hidden, unique per process and thread (two workers may write the same cache
    tile) and ends with ``target``'s suffix, because writers choose a format by the suffix
    (laspy compresses only ``.laz``, GDAL picks drivers). The path does not exist yet: some
    writers refuse an existing empty file. A folder written there is renamed as a whole too,
    but only onto a ``target`` that does not exist (or an empty folder).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(
        f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never a torn one."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def swap_link(link: Path, target: Path) -> None:
    """Point the symbolic link ``link`` at ``target`` in one atomic rename, so a reader
    following it finds the old target or the new one, never no link at all."""
    with atomic_path(link) as tmp:
        tmp.symlink_to(target)
