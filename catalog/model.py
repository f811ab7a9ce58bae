"""What the catalogue says about one dataset, independent of how it is written down.

:func:`describe` combines the three sources of truth — the registry entry (what the dataset is),
the layer's ``metadata.json`` (what the last build produced: files, sizes, checksums, extent,
``modified``) and the portal's public URL — into a :class:`Record`. The RDF writer
(:mod:`catalog.dcat`) and the CKAN mapper (:mod:`catalog.ckan`) both render a ``Record``; neither
decides on URLs, vocabularies or distributions itself, so the static catalogue and CKAN cannot
drift apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from catalog import vocab
from geoportal.core.formats import Format
from geoportal.core.publish import LayerMetadata, read_metadata
from geoportal.core.registry import Dataset, Period

#: Key of the distribution that points at the OGC API Features collection (not a file).


@dataclass(frozen=True)
class Service:
    """The OGC API through which a distribution is accessed (a dcat:DataService)."""

    uri: str
    title_de: str
    title_en: str
    endpoint_url: str
    endpoint_description: str
    conforms_to: str


@dataclass(frozen=True)
class Distribution:
    """One way to get the data: a downloadable file or an API collection."""

    key: str  # the file's format ("gpkg"), its name, or the API kind; stable across builds
    uri: str
    title_de: str
    title_en: str
    access_url: str
    download_url: str | None
    format_uri: str
    format_label: str
    media_type: str
    media_type_uri: str
    byte_size: int | None = None
    sha256: str | None = None
    modified: str | None = None
    service: Service | None = None
    description_de: str | None = None
    description_en: str | None = None
    issued: date | None = None
    language_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """A dataset as the catalogue publishes it."""

    dataset: Dataset
    uri: str
    landing_page: str
    license_uri: str
    theme_uri: str
    frequency_uri: str
    issued: date | None
    modified: str | None
    bbox_wgs84: tuple[float, float, float, float] | None
    distributions: list[Distribution] = field(default_factory=list)
    language_uris: tuple[str, ...] = ()
    #: The CRS the build published the data in (None before the first build).
    crs: str | None = None
    #: The period the contents cover (dct:temporal): the YAML's, else what the build learned
    #: (``LayerMetadata.period``: the LiDAR flight days, a heavy-rain map's terrain's).
    temporal: Period | None = None

    @property
    def id(self) -> str:
        return self.dataset.id


def dataset_uri(base_url: str, dataset_id: str) -> str:
    """The dataset's IRI: stable, under the portal's own domain."""
    return f"{base_url.rstrip('/')}/datasets/{dataset_id}"


def catalog_uri(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/catalog"


def describe(dataset: Dataset, metadata: LayerMetadata | None, base_url: str) -> Record:
    """Map one registry entry and its build metadata onto the catalogue's terms.

    ``metadata`` is None for a dataset that has not been built yet: it is still described (it is
    in the registry), with one distribution per registry output named ``<id>.<format>`` and
    without size, checksum, extent or modification date, which only a build can know.
    """
    base_url = base_url.rstrip("/")
    uri = dataset_uri(base_url, dataset.id)
    languages = tuple(vocab.language_uri(lang) for lang in dataset.language)
    distributions = _file_distributions(dataset, metadata, base_url, uri, languages)
    distributions += [_service_distribution(dataset, metadata, base_url, uri, api)
                      for api in _api_kinds(dataset)]
    bbox = metadata.bbox_wgs84 if metadata else None
    return Record(
        dataset=dataset,
        uri=uri,
        landing_page=f"{base_url}/collections/{dataset.id}",
        license_uri=vocab.license_uri(dataset.license),
        theme_uri=vocab.theme_uri(dataset.theme),
        frequency_uri=vocab.frequency_uri(dataset.update_frequency),
        issued=dataset.issued,
        modified=metadata.modified if metadata else None,
        bbox_wgs84=tuple(bbox) if bbox and len(bbox) == 4 else None,  # type: ignore[arg-type]
        distributions=distributions,
        language_uris=languages,
        crs=metadata.crs_native if metadata else None,
        temporal=dataset.temporal or _built_period(metadata),
    )


def _built_period(metadata: LayerMetadata | None) -> Period | None:
    if metadata is None or not metadata.period:
        return None
    first, last = metadata.period
    return Period(start=date.fromisoformat(first), end=date.fromisoformat(last))


def describe_all(
    datasets: Iterable[Dataset], published_dir: Path | None, base_url: str,
    *, built_only: bool = False,
) -> list[Record]:
    """Describe every dataset, reading each one's ``metadata.json`` where it has been built.

    ``built_only`` leaves out the datasets without one: a catalogue entry whose download and
    API links do not answer (a first build that failed) misleads every harvester.
    """
    records = []
    for dataset in datasets:
        metadata = read_metadata(Path(published_dir), dataset.id) if published_dir else None
        if built_only and metadata is None:
            continue
        records.append(describe(dataset, metadata, base_url))
    return records


def _file_distributions(
    dataset: Dataset, metadata: LayerMetadata | None, base_url: str, uri: str,
    languages: tuple[str, ...],
) -> list[Distribution]:
    if metadata is not None:
        files = [(f.format, f.path, f.media_type, f.bytes, f.sha256) for f in metadata.files]
    else:
        files = [
            (fmt, f"{dataset.id}.{fmt}", vocab.file_type(fmt).media_type, None, None)
            for fmt in dataset.outputs if fmt not in vocab.SERVED_ONLY
        ]
    per_format = Counter(fmt for fmt, *_ in files)
    distributions = []
    for fmt, name, media_type, size, sha256 in files:
        kind = vocab.file_type(fmt)
        url = f"{base_url}/downloads/{dataset.id}/{name}"
        # One distribution per file: keyed by format where that is unique (trees.csv → csv),
        # by file name where a layer has several files of a format (per-tile COGs).
        key = fmt if per_format[fmt] == 1 else name
        distributions.append(
            Distribution(
                key=key,
                uri=f"{uri}/distributions/{key}",
                title_de=f"{dataset.title.de} ({kind.catalogue_label})",
                title_en=f"{dataset.title.get('en')} ({kind.catalogue_label})",
                access_url=url,
                download_url=url,
                format_uri=vocab.file_type_uri(fmt),
                format_label=kind.catalogue_label,
                media_type=media_type.split(";", 1)[0].strip(),
                media_type_uri=vocab.media_type_uri(media_type),
                byte_size=size,
                sha256=sha256,
                modified=metadata.modified if metadata else None,
                description_de=_file_description_de(dataset, kind, name),
                description_en=_file_description_en(dataset, kind, name),
                issued=dataset.issued,
                language_uris=languages,
            )
        )
    return distributions


def _file_description_de(dataset: Dataset, kind: Format, name: str) -> str:
    """What a download holds, from the formats table (with the CRS the portal writes it in)."""
    return f"Download {name}: {dataset.title.de} als {kind.download_title or kind.title}."


def _file_description_en(dataset: Dataset, kind: Format, name: str) -> str:
    return f"Download {name}: {dataset.title.get('en')} as {kind.download_title or kind.title}."


def _api_kinds(dataset: Dataset) -> list[vocab.ApiKind]:
    """The OGC APIs the layer is served through (the registry's ``serve`` block)."""
    served = {"features": dataset.serve.features,
              "raster_tiles": dataset.serve.tiles == "raster",
              "coverage": dataset.serve.coverage}
    return [vocab.API_KINDS[name] for name, on in served.items() if on]


def _service_distribution(
    dataset: Dataset, metadata: LayerMetadata | None, base_url: str, uri: str,
    api: vocab.ApiKind,
) -> Distribution:
    kind = api.file_type
    if api.key == "ogcapi-tiles":  # map tiles come as the layer's default format (jpeg or png)
        fmt = dataset.pipeline.params.raster_tiles().format
        kind = vocab.FILE_TYPES.get(fmt, kind)
    service = Service(
        uri=f"{uri}/services/{api.key}",
        title_de=f"{api.label}: {dataset.title.de}",
        title_en=f"{api.label}: {dataset.title.get('en')}",
        endpoint_url=base_url,
        endpoint_description=f"{base_url}/openapi",
        conforms_to=api.conforms_to,
    )
    return Distribution(
        key=api.key,
        uri=f"{uri}/distributions/{api.key}",
        title_de=f"{dataset.title.de} ({api.label})",
        title_en=f"{dataset.title.get('en')} ({api.label})",
        access_url=f"{base_url}/collections/{dataset.id}{api.path}",
        download_url=None,
        format_uri=vocab.file_type_uri(kind.name),
        format_label=api.label,
        media_type=kind.plain_media_type,
        media_type_uri=vocab.media_type_uri(kind.media_type),
        modified=metadata.modified if metadata else None,
        service=service,
    )
