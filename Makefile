# The two commands a newcomer needs (see README.md), plus a few for developers.
.PHONY: demo test lint config bench clean

demo:  ## set up, generate the sample city, build every layer, serve on http://127.0.0.1:5000
	@scripts/bootstrap.sh
	.venv/bin/geoportal demo

test:  ## set up with dev tools, then lint, check the rendered config and run the test suite
	@scripts/bootstrap.sh dev
	.venv/bin/ruff check .
	.venv/bin/geoportal config --check
	.venv/bin/pytest

lint:
	.venv/bin/ruff check .

config:  ## re-render pygeoapi-config.yml after editing datasets/*.yml
	.venv/bin/geoportal config

clean:  ## remove generated data (the sample city, published layers, tiles)
	rm -rf var tiles/*/ test-artifacts
