"""OGC API Records from the catalogue's TinyDB file: pygeoapi's TinyDBCatalogue, with ``q`` read
as words.

pygeoapi's provider hands each ``q`` term to a regular-expression search: ``q=(`` or ``q=*``
raised ``re.error`` and answered 500. A harvester or a person types words, so each term is
matched literally (case-insensitive, as before).
"""

from __future__ import annotations

import re
from typing import Any

from pygeoapi.provider.tinydb_ import TinyDBCatalogueProvider

from geoportal.app.providers.errors import translate_errors


@translate_errors
class RecordsProvider(TinyDBCatalogueProvider):
    """The records of :mod:`catalog.records`, searched by literal words."""

    def _prepare_q_param_with_spaces(self, Q: Any, s: str) -> Any:
        return Q.properties["_metadata-anytext"].search(
            " +".join(re.escape(word) for word in s.split()), flags=re.IGNORECASE)
