# Trustroom: `make run` serves a demo, `make test` runs every test, `make check` the quality gates.
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.installed
# Test processes (pytest-xdist; three on two cores: many tests wait on servers, browsers
# and subprocesses); each has its own data directory and scratch database. Work-stealing
# keeps a process that drew the long tests from ending the run alone.
TEST_WORKERS ?= 3

.PHONY: run test check bench install messages browser-tools clean

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || python3 -m venv $(VENV)
	test -x $(BIN)/uv || { $(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null; \
	  $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --inexact --all-groups --quiet
	touch $(STAMP)

install: $(STAMP)

# `make run PORT=8010` serves there; the printed links and access links follow (unless
# TRUSTROOM_PUBLIC_URL is set, e.g. to the address of a proxy in front).
PORT ?= 8000
RUN_ENV = TRUSTROOM_DEV=1 TRUSTROOM_PUBLIC_URL=$${TRUSTROOM_PUBLIC_URL:-http://127.0.0.1:$(PORT)}

run: $(STAMP)
	$(RUN_ENV) $(BIN)/trustroom demo
	$(RUN_ENV) TRUSTROOM_LOG_JSON=$${TRUSTROOM_LOG_JSON:-false} $(BIN)/trustroom serve --host 127.0.0.1 --port $(PORT)

# Debian's chromium drives the browser tests; zbarimg (zbar-tools) decodes our QR codes;
# pdfsig (poppler-utils) with an NSS database (libnss3-tools' certutil) and qpdf judge our
# signed PDFs, whose stamps embed Nimbus Sans (fonts-urw-base35).
browser-tools:
	@test -x /usr/bin/chromium -a -x /usr/bin/zbarimg -a -x /usr/sbin/clamd \
	  -a -x /usr/bin/pdfsig -a -x /usr/bin/qpdf -a -x /usr/bin/certutil \
	  -a -f /usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf || { \
	  echo "installing Debian's chromium, zbar-tools, clamav-daemon, poppler-utils, qpdf, libnss3-tools and fonts-urw-base35 for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium zbar-tools clamav-daemon \
	    poppler-utils qpdf libnss3-tools fonts-urw-base35 >/dev/null; }

test: $(STAMP) browser-tools
	rm -f .coverage .coverage.*
	$(BIN)/pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal --cov --cov-report= -m "not heavy" tests
	@# Heavy tests run alone (beside them, tests that time things would measure the load),
	@# without coverage: they drive server processes, whose code the run above measured.
	$(BIN)/pytest -p no:cacheprovider -m heavy tests
	$(BIN)/coverage combine --quiet || true
	$(BIN)/coverage report
	@# The PostgreSQL run goes without coverage: measuring doubles its time, and the
	@# suite must stay well within its time budget (the report above is SQLite's).
	@if [ -n "$$TRUSTROOM_TEST_POSTGRES_URL" ]; then \
	  echo "== again on PostgreSQL =="; \
	  TRUSTROOM_TEST_DATABASE=postgres $(BIN)/pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal -m "not heavy" tests; \
	fi

check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks migrations
	$(BIN)/ruff format --check src tests benchmarks migrations
	$(BIN)/mypy
	$(BIN)/lint-imports
	@tmp=$$(mktemp -d) && TRUSTROOM_DATA_DIR=$$tmp TRUSTROOM_DEV=1 $(BIN)/trustroom migrate >/dev/null \
	  && TRUSTROOM_DATA_DIR=$$tmp TRUSTROOM_DEV=1 $(BIN)/alembic check; status=$$?; rm -rf $$tmp; exit $$status

bench: $(STAMP)
	$(BIN)/python benchmarks/api_overhead.py
	$(BIN)/python benchmarks/webhooks.py
	$(BIN)/python benchmarks/clients.py
	$(BIN)/python benchmarks/exchange.py
	$(BIN)/python benchmarks/signing.py

# Re-extract translatable messages and merge them into the DE/EN/FR/IT catalogs.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o src/trustroom/locale/messages.pot --no-location --omit-header --sort-output .
	for lang in de en fr it; do \
	  test -f src/trustroom/locale/$$lang/LC_MESSAGES/messages.po \
	    || $(BIN)/pybabel init -i src/trustroom/locale/messages.pot -d src/trustroom/locale -l $$lang; \
	  $(BIN)/pybabel update -i src/trustroom/locale/messages.pot -d src/trustroom/locale -l $$lang --no-fuzzy-matching; \
	done

clean:
	rm -rf $(VENV) var .coverage htmlcov
