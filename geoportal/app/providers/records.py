"""OGC API Records from the catalogue's TinyDB file: pygeoapi's TinyDBCatalogue, with the
queries it fails on made to work.

Found by fuzzing ``/collections/catalogue`` (schemathesis), each a 500 in pygeoapi 0.24:

- ``q=(`` or ``q=*``: each term went into a regular-expression search (``re.error``); a person
  or harvester types words, so each term is matched literally (case-insensitive, as before);
- ``datetime=2024-05-01`` (an instant): ``getattr(Q, <Query>)``, a TypeError; an instant now
  matches the records updated on that day or at that moment, and ``datetime=`` (empty) is none;
- ``queryables?properties=q&profile=actual-domain``: a KeyError for the search pseudo-field
  ``q`` (and for any property a record lacks).
"""

from __future__ import annotations

import re
from typing import Any

from pygeoapi.provider.tinydb_ import TinyDBCatalogueProvider

from geoportal.app.providers.errors import translate_errors

#: Sorts after every character an RFC 3339 time-stamp holds: ``d/d + LAST`` spans all of ``d``.
LAST = "\uffff"


@translate_errors
class RecordsProvider(TinyDBCatalogueProvider):
    """The records of :mod:`catalog.records`, searched by literal words."""

    def query(self, *args: Any, datetime_: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """pygeoapi's query, with an instant ``datetime`` as the interval it stands for."""
        if not datetime_:
            datetime_ = None
        elif "/" not in datetime_:
            datetime_ = f"{datetime_}/{datetime_}{LAST}"
        return super().query(*args, datetime_=datetime_, **kwargs)

    def get_domains(self, properties: list[str] | None = None,
                    current: bool = False) -> tuple[dict[str, list[Any]], bool]:
        """The values each property takes, over the records that have it (not ``q``)."""
        features = super().query(limit=100000)["features"]
        keys = [p for p in properties or [] if p != "q"] or (
            [] if properties else list(features[0]["properties"]) if features else [])
        domains: dict[str, list[Any]] = {}
        for key in keys:
            values = {f["properties"].get(key) for f in features
                      if isinstance(f["properties"].get(key), (float, int, str))}
            if values:
                domains[key] = sorted(values, key=str)
        return domains, True

    def _prepare_q_param_with_spaces(self, Q: Any, s: str) -> Any:
        return Q.properties["_metadata-anytext"].search(
            " +".join(re.escape(word) for word in s.split()), flags=re.IGNORECASE)
