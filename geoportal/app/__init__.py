"""The application shell: the CLI, the server and its providers, the web map, the sample city.

It imports the core, the pipelines and the catalogue; nothing imports it."""
