"""The dataset registry: one YAML file per published dataset, the single source of truth.

``datasets/<id>.yml`` describes a dataset once: what it is (titles, licence, theme), where its raw
input lives and how to read it, which pipeline builds it, what it publishes (the schema) and how it
is served. The pipelines, the rendered ``pygeoapi-config.yml`` and the catalogue all read these
models; nothing else repeats a title, a licence or a CRS.

Portal-wide facts (publisher, contact, the municipality's geocoding) live once in
``datasets/_portal.yml`` and are merged under each dataset, which may override them.

Over 500 lines on purpose: this file *is* the schema of a ``datasets/*.yml`` file, the models
in the order a YAML author reads them, with the loader that turns a validation error into the one
line naming the file and key. Split, a reader would chase one description across modules.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema
from pyproj import CRS
from pyproj.exceptions import CRSError

from geoportal.core.errors import PluginError, RegistryError
from geoportal.core.plugin import load_plugin
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

    @property
    def title(self) -> dict[str, str]:
        """The licence's name as GovData writes it, in German and English (dataset pages)."""
        return LICENSE_TITLES[self]


LICENSE_TITLES: dict[License, dict[str, str]] = {
    License.DL_BY_DE_2_0: {"de": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
                           "en": "Data licence Germany – attribution – version 2.0"},
    License.DL_ZERO_DE_2_0: {"de": "Datenlizenz Deutschland – Zero – Version 2.0",
                             "en": "Data licence Germany – Zero – version 2.0"},
}


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

    @property
    def title(self) -> dict[str, str]:
        """How often the data is updated, in words (German, English) for the dataset pages."""
        return FREQUENCY_TITLES[self]


FREQUENCY_TITLES: dict[Frequency, dict[str, str]] = {
    Frequency.CONTINUOUS: {"de": "laufend", "en": "continuously"},
    Frequency.DAILY: {"de": "täglich", "en": "daily"},
    Frequency.WEEKLY: {"de": "wöchentlich", "en": "weekly"},
    Frequency.MONTHLY: {"de": "monatlich", "en": "monthly"},
    Frequency.QUARTERLY: {"de": "vierteljährlich", "en": "quarterly"},
    Frequency.ANNUAL: {"de": "jährlich", "en": "annually"},
    Frequency.IRREGULAR: {"de": "unregelmäßig", "en": "irregularly"},
    Frequency.NEVER: {"de": "nicht geplant", "en": "not planned"},
}


class Organisation(Strict):
    name: str = Field(min_length=1)
    url: str | None = None
    email: str | None = None
    #: Postal address, one line ("Minoritenstraße 2–6, 40878 Ratingen"): the portal's legal
    #: notice (Impressum) needs it for the publisher.
    address: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", value):
            raise ValueError(f"expected an e-mail address like gis@ratingen.de, got {value!r}")
        return value


class Contact(Organisation):
    phone: str | None = None


class Language(StrEnum):
    """Languages of a dataset's texts and contents (ISO 639-1, as a YAML author writes them);
    the catalogue maps each onto the EU language authority table (``catalog/vocab.py``)."""

    DE = "de"
    EN = "en"
    FR = "fr"
    NL = "nl"
    IT = "it"
    ES = "es"
    PL = "pl"
    TR = "tr"


class Period(Strict):
    """The time a dataset's contents cover (``dct:temporal``), e.g. the year of a survey flight.

    Either end may be open (a series still running has no ``end``), not both.
    """

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start is None and self.end is None:
            raise ValueError("give start, end or both (YYYY-MM-DD)")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} lies before start {self.start}")
        return self


class Geocoding(Strict):
    """DCAT-AP.de political geocoding of the publishing municipality."""

    level: str
    uri: str
    regional_key: str


def _known_crs(value: str) -> str:
    try:
        CRS.from_user_input(value)
    except CRSError as exc:
        raise ValueError(f"expected a CRS such as 'EPSG:25832', got {value!r}") from exc
    return value


def _map_crs(value: str) -> str:
    crs = CRS.from_user_input(_known_crs(value))
    if not (crs.is_projected or crs.is_geographic):  # geocentric X/Y/Z has no map extent
        raise ValueError(f"{value!r} is a {crs.type_name}; expected a projected or "
                         "geographic one such as 'EPSG:25832'")
    return value


#: A CRS as the YAML names it (``EPSG:25832``, a WKT, a PROJ string), checked to be one PROJ knows.
KnownCRS = Annotated[str, AfterValidator(_known_crs)]
#: A :data:`KnownCRS` that a map can be drawn in: projected or geographic, not geocentric X/Y/Z.
MapCRS = Annotated[str, AfterValidator(_map_crs)]


#: ``ckan-datastore``: a CKAN ``datastore_search`` answer saved as JSON (``result.records``), the
#: form many German city portals (Düsseldorf, …) offer their tables in.
SourceFormat = Literal["csv", "ckan-datastore", "geojson", "gpkg", "shp", "gml", "laz", "tif",
                       "jp2"]
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
    crs: MapCRS = "EPSG:25832"
    layer: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    geometry: PointColumns | None = None
    # Only the rows whose column holds one of the values are read (``where: {STATUS: lebend}``,
    # only living trees). Filtered rows are not errors: counted in the report, not rejected.
    where: dict[str, str | int | list[str | int]] = Field(default_factory=dict)
    # A source CRS whose accurate transformation to EPSG:25832 needs a datum grid that is not
    # installed (BETA2007 for Gauss-Krüger) is refused; true publishes with the less accurate
    # one and says so in the build summary and the layer's metadata.
    allow_approximate_transformation: bool = False

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
        if self.format in ("csv", "ckan-datastore") and self.geometry is None:
            raise ValueError(f"a {self.format} source needs 'geometry' (x/y or wkt columns)")
        return self


PropertyType = Literal["string", "integer", "number", "boolean", "date"]


class Split(Strict):
    """Take one part of a column that holds several (``"Acer platanoides, Spitz-Ahorn"``)."""

    separator: str = Field(min_length=1)
    # 1 is the text before the first separator; parts are stripped of spaces.
    part: int = Field(ge=1)
    # The column holds at most this many parts, the last keeping the rest, separators and all
    # ("Betula pendula, Hänge-Birke, Weiß-Birke" in 2 parts: the German name keeps its comma).
    parts: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _part_exists(self) -> Split:
        if self.parts is not None and self.part > self.parts:
            raise ValueError(f"part {self.part} of {self.parts} parts does not exist")
        return self


class Property(Strict):
    """One published attribute. Only attributes listed in a schema ever reach an output.

    Its value is read from ``source`` (default: a column of the same name), or from several
    columns joined with ``separator`` (a composite id: ``source: [STRASSE_NR, BAUM_NR]``; a row
    missing one of them has no value). ``split`` then takes one part of it, and ``codes`` maps
    the source's codes to the published labels (a code not listed is emptied and reported);
    the result is typed and checked like any value.
    """

    name: Annotated[str, Field(pattern=PROPERTY_NAME)]
    source: str | Annotated[list[str], Field(min_length=2)] | None = None
    separator: str | None = None
    split: Split | None = None
    codes: dict[str | int, str] | None = None
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

    @field_validator("codes")
    @classmethod
    def _codes_as_text(cls, value: dict[str | int, str] | None) -> dict[str | int, str] | None:
        """``codes: {1: gut}`` as YAML reads it has integer keys; the source's codes are
        compared as text."""
        return None if value is None else {str(k).strip(): v for k, v in value.items()}

    @model_validator(mode="after")
    def _derivation(self) -> Property:
        joined = isinstance(self.source, list)
        if self.separator is not None and not joined:
            raise ValueError("'separator' joins several source columns; give 'source' a list")
        if joined and self.split is not None:
            raise ValueError("give either several source columns (joined) or 'split', not both")
        if (self.generated or self.computed) and (self.source or self.split or self.codes):
            raise ValueError("a generated or computed property reads no source column")
        return self

    @property
    def source_columns(self) -> list[str]:
        """The source columns the value is made from (one, or several joined)."""
        if isinstance(self.source, list):
            return list(self.source)
        return [self.source or self.name]

    @property
    def source_column(self) -> str:
        """The source column(s) as a message names them (``STRASSE_NR+BAUM_NR``)."""
        return "+".join(self.source_columns)


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
        personal = [c for p in self.properties for c in p.source_columns if is_personal_field(c)]
        if personal:
            raise ValueError(
                f"personal data must never be published; remove the properties reading {personal}"
            )
        return self

    def property(self, name: str) -> Property:
        return next(p for p in self.properties if p.name == name)


class DatasetRef(str):
    """A dataset id inside a pipeline's parameters (``conflation: trees``).

    The registry checks, when it loads, that the id names one of its datasets; a pipeline that
    only reads the other dataset's *description* (its raw source, its schema) uses this type.
    """

    #: Whether the pipeline reads the other dataset's *published* output, so that a build must
    #: publish that one first (see :class:`OutputRef`).
    reads_output: ClassVar[bool] = False

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(pattern=DATASET_ID))


class OutputRef(DatasetRef):
    """A dataset whose published output the pipeline reads: a dependency of the build, which
    counts like an entry of ``depends_on`` (built first, and a failure there stops this one)."""

    reads_output = True


class Params(Strict):
    """Base of every pipeline kind's parameter model (``pipeline.params`` in a dataset's YAML).

    A pipeline class names its model as ``Params``; the registry validates each dataset's
    parameters against it when it loads, so an unknown key, a wrong type or a wrong value is
    refused naming the file and the key before anything is built (``extra="forbid"``: a typo
    such as ``band`` for ``bands`` would otherwise be ignored and publish a wrong product).

    The serving layer and the catalogue ask a kind's parameters how its layer is tiled through
    :meth:`vector_tiles` and :meth:`raster_tiles`, so neither reads parameter names itself.
    """

    @model_validator(mode="after")
    def _tiles_consistent(self) -> Params:
        """A kind that derives its tiles from keys of its own (an orthophoto's ``min_zoom`` and
        ``max_zoom``) has them checked when the registry loads, not when the config renders."""
        try:
            self.vector_tiles()
            self.raster_tiles()
        except ValidationError as err:
            raise ValueError(str(err.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return self

    def vector_tiles(self) -> VectorTiles:
        """The zoom range of the layer's vector tiles (when the dataset serves them)."""
        return VectorTiles()

    def raster_tiles(self) -> RasterTiles:
        """How the layer's map tiles are rendered (when the dataset serves raster tiles)."""
        return RasterTiles()


class VectorTiles(Strict):
    """Zoom range of a layer's vector tiles (tippecanoe's ``-Z``/``-z``)."""

    minzoom: int = Field(default=10, ge=0, le=24)
    maxzoom: int = Field(default=16, ge=0, le=24)

    @model_validator(mode="after")
    def _ordered(self) -> VectorTiles:
        return _zooms_in_order(self, "minzoom", "maxzoom")


class RasterTiles(Strict):
    """How a raster layer's map tiles are rendered: style, encoding, zoom range, quality."""

    style: str = "photo"
    format: Literal["jpeg", "png"] = "jpeg"
    min_zoom: int = Field(default=10, ge=0, le=24)
    max_zoom: int = Field(default=21, ge=0, le=24)
    quality: int = Field(default=85, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> RasterTiles:
        return _zooms_in_order(self, "min_zoom", "max_zoom")


def _zooms_in_order[M: BaseModel](model: M, low: str, high: str) -> M:
    """The zoom range check of both tile models (their keys follow tippecanoe and our style)."""
    lo, hi = getattr(model, low), getattr(model, high)
    if lo > hi:
        raise ValueError(f"{low} {lo} is above {high} {hi}")
    return model


class PipelineRef(Strict):
    """Which pipeline builds the dataset (a plugin key or a dotted path) and its parameters.

    ``params`` is the mapping as written in the YAML until :func:`load_registry` replaces it
    with an instance of the pipeline kind's :class:`Params` model.
    """

    kind: str = Field(min_length=1)
    params: Any = Field(default_factory=dict)
    # Datasets whose *published* output this pipeline reads (the tree conflation reads the
    # detected trees): a build runs them first, whatever the file names' order.
    depends_on: list[Annotated[str, Field(pattern=DATASET_ID)]] = Field(default_factory=list)

    @field_validator("params")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if isinstance(value, dict | BaseModel):
            return value
        raise ValueError(f"expected a mapping of parameters, got {type(value).__name__}")

    def references(self) -> list[tuple[str, DatasetRef]]:
        """Every dataset id in the parameters, with its key path (``params.conflation``)."""
        return list(_walk_refs(self.params, "pipeline.params"))

    @property
    def dependencies(self) -> list[str]:
        """The datasets whose published output this one reads: ``depends_on`` and every
        :class:`OutputRef` in the parameters, each once, in that order."""
        found = [*self.depends_on, *(r for _, r in self.references() if r.reads_output)]
        return list(dict.fromkeys(str(i) for i in found))


def _walk_refs(value: Any, where: str) -> Iterator[tuple[str, DatasetRef]]:
    if isinstance(value, DatasetRef):
        yield where, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk_refs(getattr(value, name), f"{where}.{name}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk_refs(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_refs(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from _walk_refs(item, f"{where}.{n}")


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


COLOUR = r"^#[0-9a-fA-F]{6}$"


class LegendClass(Strict):
    """One line of a layer's legend: a colour and what it stands for.

    For a feature layer with ``style.field`` the ``value`` is the attribute value drawn in this
    colour (no ``value``: every other value, and empty ones); for a raster it is a colour of the
    image (the CIR image's red vegetation), so legend and picture cannot drift apart.
    """

    label: Text
    colour: Annotated[str, Field(pattern=COLOUR)]
    value: str | None = None


class Style(Strict):
    """How the web map draws the layer, and so what its legend shows: one source for both.

    ``symbol`` tells the point layers apart by shape as well as colour (three tree layers in
    similar greens were indistinguishable, issue 21); ``size`` is the symbol's width in pixels
    at zoom 16, ``order`` the draw order among point layers (higher on top: toilets are not
    buried under trees). ``value_from`` names the coverage whose value a click on this raster
    shows (the hillshade shows the terrain height of ``terrain_dtm``).
    """

    colour: Annotated[str, Field(pattern=COLOUR)] | None = None
    symbol: Literal["circle", "square", "triangle", "diamond", "toilet"] = "circle"
    size: int = Field(default=12, ge=6, le=40)
    order: int = Field(default=0, ge=0, le=100)
    field: str | None = None
    classes: list[LegendClass] = Field(default_factory=list)
    value_from: Annotated[str, Field(pattern=DATASET_ID)] | None = None


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
    #: Period the contents cover (dct:temporal).
    temporal: Period | None = None
    #: Who keeps the data up to date (dcatde:maintainer; GeoDCAT-AP custodian in DCAT-AP.de 3.0).
    maintainer: Organisation | None = None
    #: Who produced the data, e.g. the state survey for orthophotos (dcatde:originator).
    originator: Organisation | None = None
    #: Languages of the texts and contents, dataset and downloads alike (dct:language).
    language: list[Language] = Field(default_factory=lambda: [Language.DE], min_length=1)
    source: Source
    pipeline: PipelineRef
    outputs: list[OutputFormat] = Field(default_factory=lambda: ["gpkg", "csv", "geojson"])
    schema_: Schema | None = Field(default=None, alias="schema")
    serve: Serve = Field(default_factory=Serve)
    style: Style = Field(default_factory=Style)
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

    @model_validator(mode="after")
    def _style_field_is_published(self) -> Dataset:
        field = self.style.field
        names = {p.name for p in self.schema_.properties} if self.schema_ else set()
        if field and field not in names:
            raise ValueError(f"style.field: {field!r} is no property of the schema")
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
    """Load and validate every ``*.yml`` in ``folder``; report every broken file at once.

    Validation goes as far as a build would look: the structure of each file, then each
    dataset's pipeline parameters against its kind's :class:`Params` model, then the dataset
    ids named in ``depends_on`` and in the parameters.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RegistryError(folder, ["expected a folder of dataset descriptions (datasets/)"])
    portal = _read_yaml(folder / PORTAL_FILE) if (folder / PORTAL_FILE).exists() else {}
    datasets: list[Dataset] = []
    errors: list[RegistryError] = []
    broken: set[str] = set()  # files reported already: a reference to one is not a 2nd error
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        try:
            datasets.append(type_params(load_dataset(path, portal)))
        except RegistryError as exc:
            errors.append(exc)
            broken.add(path.stem)
    _check_unique_ids(datasets, errors)
    _check_references(datasets, errors, broken)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise RegistryError(folder, [str(e) for e in errors])
    return Registry(datasets, root=folder)


class Portal(BaseModel):
    """What ``_portal.yml`` says of the portal itself: who runs it (its legal notice, privacy
    and accessibility pages name them). The dataset defaults in the same file are not read."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    publisher: Organisation
    contact: Contact


def load_portal(folder: Path) -> Portal:
    """The portal's own facts from ``<folder>/_portal.yml``."""
    path = Path(folder) / PORTAL_FILE
    try:
        return Portal.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise RegistryError(path, [_describe(err, Portal) for err in exc.errors()]) from None


def load_dataset(path: Path, portal: dict[str, Any] | None = None) -> Dataset:
    """Validate one dataset file, with the portal-wide defaults merged underneath it."""
    raw = _read_yaml(path)
    merged = {**(portal or {}), **raw}
    try:
        dataset = Dataset.model_validate(merged)
    except ValidationError as exc:
        raise RegistryError(path, [_describe(err, Dataset) for err in exc.errors()]) from None
    if dataset.id != path.stem:
        problem = f"id: expected the file name's stem {path.stem!r}, got {dataset.id!r}"
        raise RegistryError(path, [problem])
    object.__setattr__(dataset, "path", path)
    return dataset


def type_params(dataset: Dataset) -> Dataset:
    """Replace the dataset's raw ``pipeline.params`` by its pipeline kind's typed model.

    The kind is resolved through the plugin table (:mod:`geoportal.core.plugin`), so a kind of
    one's own (a dotted path) brings its own parameter model. A pipeline class without one
    accepts no parameters at all.
    """
    where = dataset.path or dataset.id
    try:
        pipeline_class = load_plugin("pipeline", dataset.pipeline.kind)
    except PluginError as exc:
        raise RegistryError(where, [f"pipeline.kind: {exc}"]) from None
    model: type[Params] = getattr(pipeline_class, "Params", Params)
    raw = dataset.pipeline.params
    if isinstance(raw, model):
        return dataset
    try:
        typed = model.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(err, model, "pipeline.params") for err in exc.errors()]
        raise RegistryError(where, problems) from None
    object.__setattr__(dataset.pipeline, "params", typed)
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


_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def _describe(error: Any, model: type, prefix: str = "") -> str:
    """Turn one pydantic error into 'key.path: what was expected (got X)'.

    For an unknown key, the closest key the model does know is offered ("did you mean
    'bands'?"): the reader is a GIS officer editing YAML, and a near miss is the usual cause.
    """
    loc = [str(part) for part in error["loc"]]
    where = ".".join([prefix, *loc] if prefix else loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    if error["type"] in _UNKNOWN_KEY:
        known = _keys_at(model, loc[:-1])
        near = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else (
            f"; expected one of {sorted(known)}" if known else "; this takes no keys")
        return f"{where}: unknown key{hint}"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{where}: {message}{shown}"


def _keys_at(model: Any, path: list[str]) -> list[str]:
    """The keys a model (pydantic model or dataclass, nested) accepts at ``path``."""
    current: Any = model
    for part in [*path, None]:
        current = _unwrap(current)
        fields = _field_types(current)
        if part is None:
            return list(fields)
        if part in fields:
            current = fields[part]
        elif typing.get_origin(current) in (dict, list, tuple):
            current = typing.get_args(current)[-1]
        else:
            return []
    return []


def _field_types(tp: Any) -> dict[str, Any]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {(f.alias or name): (f.annotation if name != "schema_" else Schema)
                for name, f in tp.model_fields.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return typing.get_type_hints(tp)
    return {}


def _unwrap(tp: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` to ``X``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


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
        for dep in d.pipeline.dependencies:
            if dep in by_id:
                place(by_id[dep])
        ordered.append(d)

    for d in datasets:
        place(d)
    return ordered


def _check_references(datasets: list[Dataset], errors: list[RegistryError],
                      broken: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Every dataset id named in ``depends_on`` or in the parameters is one of the registry's,
    and no dataset needs itself."""
    known = {d.id: d for d in datasets}
    for d in datasets:
        named = [("pipeline.depends_on", i) for i in d.pipeline.depends_on]
        named += d.pipeline.references()
        unknown = [f"{where}: {i!r} is not a dataset of the registry"
                   + _suggest(i, list(known)) for where, i in named
                   if i not in known and i not in broken]
        if unknown:
            errors.append(RegistryError(d.path or d.id, unknown))
            continue
        seen, todo = set(), list(d.pipeline.dependencies)
        while todo:
            i = todo.pop()
            if i == d.id:
                errors.append(RegistryError(d.path or d.id, [
                    "pipeline: a dependency cycle leads back to this dataset"]))
                break
            if i not in seen and i in known:
                seen.add(i)
                todo += known[i].pipeline.dependencies


def _suggest(name: str, known: list[str]) -> str:
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""
