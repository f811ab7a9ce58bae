"""The core: the dataset registry, settings, errors, atomic publishing, privacy, formats and
the plugin table. It imports nothing of the project but itself; everything else builds on it."""

# PROJ finds the system's datum grids (BETA2007 for Gauss-Krüger) and never downloads: set once,
# here, so every process that imports any of the core (a build worker, the server) has it.
from geoportal.core import crs as _crs  # noqa: F401
