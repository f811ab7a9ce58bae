"""The server's OpenAPI document made self-contained, for fuzzing it without the internet.

pygeoapi's ``/openapi`` points its shared parameters and responses at the OGC's published
schemas (``schemas.opengis.net``, ``raw.githubusercontent.com``, ``geojson.org``); a machine
without the internet cannot resolve them, and schemathesis then refuses every operation. The
stand-ins below are written from the standards' text: the parameters with the types the
standards give them (what the fuzzer needs to generate requests), the responses and schemas
permissive (we check server errors and status codes, not the OGC's full response schemas).
"""

from __future__ import annotations

import copy
from typing import Any

EXCEPTION = {"type": "object", "required": ["code"],
             "properties": {"code": {"type": "string"}, "description": {"type": "string"}}}
ANY_JSON: dict[str, Any] = {}


def _response(description: str, media_type: str = "application/json",
              schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {media_type: {"schema": ANY_JSON if schema is None else schema}}}


def _path_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}


#: The last part of an external ``$ref`` (after ``#/components/`` or the file name) → stand-in.
STAND_INS: dict[str, dict[str, Any]] = {
    # OGC API Features part 1: the shared responses and the feature id
    "responses/InvalidParameter": _response("invalid or unknown query parameters",
                                            schema=EXCEPTION),
    "responses/NotFound": _response("the requested resource does not exist", schema=EXCEPTION),
    "responses/ServerError": _response("a server error occurred", schema=EXCEPTION),
    "responses/Features": _response("the features (or the coverage) asked for",
                                    "application/geo+json"),
    "responses/Feature": _response("one feature (or record)", "application/geo+json"),
    "responses/Collection": _response("information about the collection"),
    "parameters/datetime": {"name": "datetime", "in": "query", "required": False,
                            "description": "an RFC 3339 date-time or interval",
                            "schema": {"type": "string"}},
    "responses/LandingPage": _response("the landing page"),
    "parameters/featureId": _path_parameter("featureId", {"type": "string"},
                                            "local identifier of a feature"),
    # OGC API Tiles part 1
    "parameters/tileMatrixSetId": _path_parameter("tileMatrixSetId", {"type": "string"},
                                                  "identifier of a tile matrix set"),
    "parameters/tileMatrix": _path_parameter("tileMatrix", {"type": "string"},
                                             "identifier of a tile matrix (zoom level)"),
    "parameters/tileRow": _path_parameter("tileRow", {"type": "integer", "minimum": 0},
                                          "row index of the tile"),
    "parameters/tileCol": _path_parameter("tileCol", {"type": "integer", "minimum": 0},
                                          "column index of the tile"),
    "schemas/link": {"type": "object", "required": ["href"],
                     "properties": {"href": {"type": "string"}, "rel": {"type": "string"}}},
    # OGC API Coverages part 1
    "parameters/subset": {"name": "subset", "in": "query", "required": False,
                          "style": "form", "explode": False,
                          "description": "axis(low:high) ranges, comma-separated",
                          "schema": {"type": "array", "items": {"type": "string"}}},
    # OGC API Records (the catalogue collection): q and sortby
    "q.yaml": {"name": "q", "in": "query", "required": False, "style": "form",
               "explode": False, "description": "search terms, comma-separated",
               "schema": {"type": "array", "items": {"type": "string"}}},
    "sortby.yaml": {"name": "sortby", "in": "query", "required": False, "style": "form",
                    "explode": False, "description": "properties to sort by, +asc or -desc",
                    "schema": {"type": "array", "minItems": 1, "items": {
                        "type": "string", "pattern": "[+|-]?[A-Za-z_].*"}}},
    # schemas used inside request and response bodies
    "cql2.json": {"type": "object"},
    "Geometry.json": {"type": "object", "nullable": True},  # skipGeometry: null
    "exception.yaml": EXCEPTION,
}


def stand_in(ref: str) -> dict[str, Any]:
    """The stand-in for one external ``$ref``; a KeyError names a reference not covered yet."""
    fragment = ref.split("#/components/", 1)[1] if "#/components/" in ref else \
        ref.rsplit("/", 1)[-1]
    return copy.deepcopy(STAND_INS[fragment])


def offline(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` whose external references are replaced by :data:`STAND_INS`."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(("http://", "https://")):
                return stand_in(ref)
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(spec)


def external_refs(spec: Any) -> set[str]:
    """Every external ``$ref`` in a document (to see which ones a new pygeoapi added)."""
    if isinstance(spec, dict):
        found = {spec["$ref"]} if str(spec.get("$ref", "")).startswith("http") else set()
        return found.union(*(external_refs(v) for v in spec.values()))
    if isinstance(spec, list):
        return set().union(*(external_refs(v) for v in spec))
    return set()


def main(argv: list[str]) -> None:
    """Print a running server's OpenAPI document made offline, for schemathesis' CLI::

        python tests/testkit/openapi.py http://127.0.0.1:5000 > openapi.json
        .venv/bin/schemathesis run openapi.json --url http://127.0.0.1:5000 ...
    """
    import json
    import urllib.request

    with urllib.request.urlopen(f"{argv[1].rstrip('/')}/openapi?f=json", timeout=60) as answer:
        print(json.dumps(offline(json.load(answer))))


if __name__ == "__main__":
    import sys

    main(sys.argv)
