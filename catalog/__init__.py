"""The DCAT-AP.de catalogue of the Ratingen geoportal.

The registry (``datasets/*.yml``) and each layer's ``metadata.json`` are described as DCAT-AP.de
(:mod:`catalog.model`, :mod:`catalog.dcat`), validated offline against the official SHACL shapes
(:mod:`catalog.validate`), written as a static catalogue (:mod:`catalog.static`) and synchronised
to a CKAN portal (:mod:`catalog.ckan`). :mod:`catalog.cli` holds the ``publish`` command.
"""
