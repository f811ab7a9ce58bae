"""pygeoapi provider plugins of the geoportal.

They are referenced from the pygeoapi configuration by dotted path, e.g.
``name: geoportal.app.providers.geopackage.GeoPackageProvider``; nothing here is imported eagerly so
that loading one plugin never pays for another.
"""
