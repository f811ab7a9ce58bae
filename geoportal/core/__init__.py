"""The core: the dataset registry, settings, errors, atomic publishing, privacy, formats and
the plugin table. It imports nothing of the project but itself; everything else builds on it."""
