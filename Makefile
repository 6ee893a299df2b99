# Stemlab. `make run` serves the embedded default; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest pytest-sqlite pytest-postgresql chromium bench bench-quick vendor clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/stemlab serve

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests bench

typecheck: $(STAMP)
	$(BIN)/mypy app

# The browser tests drive the system Chromium; install it when we can, fail clearly when we cannot.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)"; exit 1; fi; }

# The whole suite on SQLite, then again on PostgreSQL without the browser tests (they drive
# the pages; what they store is the same code path the rest of the suite checks on both
# databases) and without the files that check nothing of the database (`any_database`:
# catalogs, text rules, the proxy's headers); the second run fails at once when the server
# (STEMLAB_TEST_POSTGRES_URL, by default the local one as user postgres) is not there. Each pass runs most files in two
# processes (pytest-xdist, a file per process: much of the suite waits on servers and
# browsers), then the real-server load tests one at a time (`serial`, tests/conftest.py), so
# their timing never shares the cores. The slowest tests are listed at the end.
PYTEST_PARALLEL := -q -n 2 --dist loadfile --durations=15
NOT_ON_POSTGRESQL := not browser and not any_database
PYTEST_SERIAL := -q --durations=10
pytest: pytest-sqlite pytest-postgresql

pytest-sqlite: $(STAMP) chromium
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not serial"
	$(BIN)/pytest $(PYTEST_SERIAL) -m serial

pytest-postgresql: $(STAMP)
	STEMLAB_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_PARALLEL) -m "$(NOT_ON_POSTGRESQL) and not serial"
	STEMLAB_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_SERIAL) -m "$(NOT_ON_POSTGRESQL) and serial"

test: lint typecheck pytest

# Issue 6: N phones against the server and the floors; prints a table, writes
# bench/results/latest.json, asserts nothing. bench-quick is a tenth of the size (< 2 min).
bench: $(STAMP)
	$(BIN)/python -m bench.harness --phones 10000

bench-quick: $(STAMP)
	$(BIN)/python -m bench.harness --quick

# Issue 5: the same scenarios against two server processes sharing a new PostgreSQL database
# (dropped at the end) and one Redis prefix, phones spread over both. Needs PostgreSQL and Redis:
# by default the local ones (STEMLAB_BENCH_POSTGRES_URL, STEMLAB_BENCH_REDIS_URL name others).
.PHONY: bench-scaleout
bench-scaleout: $(STAMP)
	$(BIN)/python -m bench.harness --database postgresql --processes 2 --phones 10000

vendor:
	scripts/vendor-frontend.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
