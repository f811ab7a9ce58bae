"""The dataset registry: one YAML file per published dataset, the single source of truth.

``datasets/<id>.yml`` describes a dataset once: what it is (titles, licence, theme), where its raw
input lives and how to read it, which pipeline builds it, what it publishes (the schema) and how it
is served. The pipelines, the rendered ``pygeoapi-config.yml`` and the catalogue all read these
models; nothing else repeats a title, a licence or a CRS.

Portal-wide facts (publisher, contact, the municipality's geocoding) live once in
``datasets/_portal.yml`` and are merged under each dataset, which may override them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pyproj import CRS
from pyproj.exceptions import CRSError

from geoportal.core.errors import RegistryError
from geoportal.core.privacy import is_personal_field

PORTAL_FILE = "_portal.yml"
DATASET_ID = r"^[a-z][a-z0-9_]{1,62}$"
PROPERTY_NAME = r"^[a-z][a-z0-9_]{0,62}$"


class Strict(BaseModel):
    """Base for registry models: unknown keys are typos, and typos must be reported."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    """A text in German (the city's language, required) with an English translation."""

    de: str = Field(min_length=1)
    en: str | None = None

    def get(self, lang: str) -> str:
        return self.en if lang == "en" and self.en else self.de


class Keywords(Strict):
    de: list[str] = Field(min_length=1)
    en: list[str] = Field(default_factory=list)


class License(StrEnum):
    """The two licences of the Datenlizenz Deutschland family the city publishes under."""

    DL_BY_DE_2_0 = "dl-de/by-2-0"
    DL_ZERO_DE_2_0 = "dl-de/zero-2-0"

    @property
    def requires_attribution(self) -> bool:
        return self is License.DL_BY_DE_2_0

    @property
    def page(self) -> str:
        """The licence text on GovData, for people."""
        return f"https://www.govdata.de/{self.value}"


class Theme(StrEnum):
    """Portal themes: they group the web map's layer tree and map to EU data themes."""

    EVERYDAY = "everyday"
    EDUCATION = "education"
    LEISURE = "leisure"
    ENVIRONMENT = "environment"
    ECONOMY = "economy"
    CADASTRE = "cadastre"
    TERRAIN = "terrain"
    IMAGERY = "imagery"
    MOBILITY = "mobility"


class Frequency(StrEnum):
    """Update frequencies, named as in the EU frequency vocabulary."""

    CONTINUOUS = "continuous"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    IRREGULAR = "irregular"
    NEVER = "never"


class Organisation(Strict):
    name: str = Field(min_length=1)
    url: str | None = None
    email: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", value):
            raise ValueError(f"expected an e-mail address like gis@ratingen.de, got {value!r}")
        return value


class Contact(Organisation):
    phone: str | None = None


class Geocoding(Strict):
    """DCAT-AP.de political geocoding of the publishing municipality."""

    level: str
    uri: str
    regional_key: str


SourceFormat = Literal["csv", "geojson", "gpkg", "shp", "gml", "laz", "tif", "jp2"]
SUFFIX_FORMATS: dict[str, SourceFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".shp": "shp",
    ".gml": "gml",
    ".xml": "gml",
    ".laz": "laz",
    ".las": "laz",
    ".tif": "tif",
    ".tiff": "tif",
    ".jp2": "jp2",
}


class PointColumns(Strict):
    """How a table without a geometry column carries its points: x/y columns or a WKT column."""

    x: str | None = None
    y: str | None = None
    wkt: str | None = None

    @model_validator(mode="after")
    def _one_encoding(self) -> PointColumns:
        if self.wkt is None and (self.x is None or self.y is None):
            raise ValueError("expected either both 'x' and 'y' columns or a 'wkt' column")
        if self.wkt is not None and (self.x is not None or self.y is not None):
            raise ValueError("give either 'x'/'y' or 'wkt', not both")
        return self


class Source(Strict):
    """The raw input as the city receives it. ``path`` is relative to the raw-data folder."""

    path: str = Field(min_length=1)
    format: SourceFormat | None = None
    crs: str = "EPSG:25832"
    layer: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    geometry: PointColumns | None = None

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        try:
            CRS.from_user_input(value)
        except CRSError as exc:
            raise ValueError(f"expected a CRS such as 'EPSG:25832', got {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _format_known(self) -> Source:
        if self.format is None:
            suffix = Path(self.path).suffix.lower()
            if suffix not in SUFFIX_FORMATS:
                known = ", ".join(sorted(SUFFIX_FORMATS))
                raise ValueError(
                    f"cannot tell the format of {self.path!r}; give 'format' or use one of {known}"
                )
            object.__setattr__(self, "format", SUFFIX_FORMATS[suffix])
        if self.format == "csv" and self.geometry is None:
            raise ValueError("a CSV source needs 'geometry' (x/y or wkt columns)")
        return self


PropertyType = Literal["string", "integer", "number", "boolean", "date"]


class Property(Strict):
    """One published attribute. Only attributes listed in a schema ever reach an output."""

    name: Annotated[str, Field(pattern=PROPERTY_NAME)]
    source: str | None = None
    type: PropertyType = "string"
    title: Text
    description: Text | None = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    enum: list[str] | None = None
    unit: str | None = None
    values: dict[str, str] | None = None
    # For sources without an identifier column (most POI lists): the value is not read but made
    # from the feature's position (to the metre) and its title, so it stays the same across
    # deliveries as long as the feature neither moves nor is renamed (see pipelines/conform.py).
    generated: bool = False
    # Computed by the dataset's pipeline (a plausibility flag, a network distance), not read from
    # the source; listed here so that it has titles, a type and a place in the API's queryables.
    computed: bool = False

    @property
    def source_column(self) -> str:
        return self.source or self.name


GeometryType = Literal[
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"
]


class Schema(Strict):
    geometry: GeometryType
    id_field: str
    title_field: str | None = None
    properties: list[Property] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        names = [p.name for p in self.properties]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"property names must be unique, repeated: {duplicates}")
        for field in ("id_field", "title_field"):
            value = getattr(self, field)
            if value is not None and value not in names:
                raise ValueError(f"{field} {value!r} is not one of the properties {names}")
        personal = [p.source_column for p in self.properties if is_personal_field(p.source_column)]
        if personal:
            raise ValueError(
                f"personal data must never be published; remove the properties reading {personal}"
            )
        return self

    def property(self, name: str) -> Property:
        return next(p for p in self.properties if p.name == name)


class PipelineRef(Strict):
    """Which pipeline builds the dataset (a plugin key or a dotted path) and its parameters."""

    kind: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    # Datasets whose *published* output this pipeline reads (the tree conflation reads the
    # detected trees): a build runs them first, whatever the file names' order.
    depends_on: list[Annotated[str, Field(pattern=DATASET_ID)]] = Field(default_factory=list)


# Vector outputs (gpkg, csv, geojson, parquet), rasters (cog), point clouds (copc), tiles
# (pmtiles, mvt). Which pipeline writes which is the pipeline's business; the catalogue describes
# every file a build actually wrote (metadata.json), not this list.
OutputFormat = Literal["gpkg", "csv", "geojson", "parquet", "cog", "copc", "pmtiles", "mvt"]


class Serve(Strict):
    """How the layer is served through OGC API (each part becomes a pygeoapi provider)."""

    features: bool = True
    tiles: Literal["vector", "raster"] | None = None
    coverage: bool = False
    limit_default: int = Field(default=100, ge=1, le=10000)
    limit_max: int = Field(default=10000, ge=1, le=100000)


class Dataset(Strict):
    """A published dataset, validated when the registry is loaded."""

    id: Annotated[str, Field(pattern=DATASET_ID)]
    title: Text
    description: Text
    theme: Theme
    keywords: Keywords
    license: License
    attribution: str | None = None
    publisher: Organisation
    contact: Contact
    geocoding: Geocoding
    update_frequency: Frequency
    issued: date | None = None
    source: Source
    pipeline: PipelineRef
    outputs: list[OutputFormat] = Field(default_factory=lambda: ["gpkg", "csv", "geojson"])
    schema_: Schema | None = Field(default=None, alias="schema")
    serve: Serve = Field(default_factory=Serve)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _attribution(self) -> Dataset:
        if self.license.requires_attribution and not self.attribution:
            object.__setattr__(self, "attribution", self.publisher.name)
        return self

    @model_validator(mode="after")
    def _features_need_a_schema(self) -> Dataset:
        if self.serve.features and self.schema_ is None:
            raise ValueError("schema: a layer served as features needs a schema of its "
                             "published properties (or set serve.features: false)")
        return self

    @property
    def schema(self) -> Schema:
        """The published schema; only vector layers have one (checked when loading)."""
        if self.schema_ is None:
            raise AttributeError(f"dataset {self.id!r} has no attribute schema")
        return self.schema_


class Registry:
    """All datasets of the portal, in file-name order, looked up by id."""

    def __init__(self, datasets: list[Dataset], root: Path | None = None) -> None:
        self.root = root
        self._by_id = {d.id: d for d in datasets}

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __getitem__(self, dataset_id: str) -> Dataset:
        try:
            return self._by_id[dataset_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none"
            raise KeyError(f"no dataset {dataset_id!r} in the registry (known: {known})") from None

    def select(self, ids: list[str] | None) -> list[Dataset]:
        """The datasets to build, each after the ones it ``depends_on`` (if also selected)."""
        chosen = list(self) if not ids else [self[i] for i in ids]
        return build_order(chosen)


def load_registry(folder: Path) -> Registry:
    """Load and validate every ``*.yml`` in ``folder``; report every broken file at once."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RegistryError(folder, ["expected a folder of dataset descriptions (datasets/)"])
    portal = _read_yaml(folder / PORTAL_FILE) if (folder / PORTAL_FILE).exists() else {}
    datasets: list[Dataset] = []
    errors: list[RegistryError] = []
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        try:
            datasets.append(load_dataset(path, portal))
        except RegistryError as exc:
            errors.append(exc)
    _check_unique_ids(datasets, errors)
    _check_dependencies(datasets, errors)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise RegistryError(folder, [str(e) for e in errors])
    return Registry(datasets, root=folder)


def load_dataset(path: Path, portal: dict[str, Any] | None = None) -> Dataset:
    """Validate one dataset file, with the portal-wide defaults merged underneath it."""
    raw = _read_yaml(path)
    merged = {**(portal or {}), **raw}
    try:
        dataset = Dataset.model_validate(merged)
    except ValidationError as exc:
        raise RegistryError(path, [_describe(err) for err in exc.errors()]) from None
    if dataset.id != path.stem:
        problem = f"id: expected the file name's stem {path.stem!r}, got {dataset.id!r}"
        raise RegistryError(path, [problem])
    object.__setattr__(dataset, "path", path)
    return dataset


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(path, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RegistryError(path, [f"{where}not valid YAML ({problem})"]) from None
    if not isinstance(data, dict):
        raise RegistryError(path, [f"expected a mapping of fields, got {type(data).__name__}"])
    return data


def _describe(error: dict[str, Any]) -> str:
    """Turn one pydantic error into 'field.path: what was expected (got X)'."""
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown field (check the spelling)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{where}: {message}{shown}"


def _check_unique_ids(datasets: list[Dataset], errors: list[RegistryError]) -> None:
    seen: dict[str, Path | None] = {}
    for d in datasets:
        if d.id in seen:
            problem = f"id {d.id!r} is also used by {seen[d.id]}"
            errors.append(RegistryError(d.path or "?", [problem]))
        seen[d.id] = d.path


def build_order(datasets: list[Dataset]) -> list[Dataset]:
    """Keep the given order, but move each dataset after the datasets it depends on."""
    by_id = {d.id: d for d in datasets}
    ordered: list[Dataset] = []
    placed: set[str] = set()

    def place(d: Dataset) -> None:
        if d.id in placed:
            return
        placed.add(d.id)
        for dep in d.pipeline.depends_on:
            if dep in by_id:
                place(by_id[dep])
        ordered.append(d)

    for d in datasets:
        place(d)
    return ordered


def _check_dependencies(datasets: list[Dataset], errors: list[RegistryError]) -> None:
    """Every ``depends_on`` names a dataset of the registry, and no dataset needs itself."""
    known = {d.id: d for d in datasets}
    for d in datasets:
        unknown = [i for i in d.pipeline.depends_on if i not in known]
        if unknown:
            errors.append(RegistryError(d.path or d.id, [
                f"pipeline.depends_on: {unknown} are not datasets of the registry"]))
            continue
        seen, todo = set(), list(d.pipeline.depends_on)
        while todo:
            i = todo.pop()
            if i == d.id:
                errors.append(RegistryError(d.path or d.id, [
                    "pipeline.depends_on: a dependency cycle leads back to this dataset"]))
                break
            if i not in seen and i in known:
                seen.add(i)
                todo += known[i].pipeline.depends_on
