# kohaweb: `make run` sets everything up and serves; `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PLUGINS := $(sort $(wildcard plugins/*/setup.cfg))
PLUGIN_DIRS := $(patsubst %/setup.cfg,%,$(PLUGINS))
INI ?= development.ini
# Debian packages the tests drive as real clients (installed when missing and we are root).
DEBIAN_PACKAGES := yaz zbar-tools libgd-barcode-perl chromium chromium-driver idzebra-2.0
PYTEST_ARGS ?=

.PHONY: run serve test test-sqlite test-postgresql test-mariadb lint install system-deps bench clean

$(VENV)/.installed: setup.cfg requirements-dev.txt $(PLUGINS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q -e . $(addprefix -e ,$(PLUGIN_DIRS))
	touch $@

install: $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: tests that need$$missing will be skipped (install them with apt-get)"; fi

run: install
	mkdir -p var
	$(VENV)/bin/kohaweb -c $(INI) db upgrade
	$(VENV)/bin/kohaweb -c $(INI) sample-data --records 2000 --if-empty --demo-user
	@echo "serving on http://127.0.0.1:6543  (staff login: koha / koha)"
	$(VENV)/bin/pserve $(INI)

lint: install
	$(VENV)/bin/ruff check kohaweb plugins tests bench migrations

# The whole suite on SQLite, then on PostgreSQL and MariaDB (each skipped with a message when
# its server is unreachable, except under CI where every database must be there).
test: install system-deps lint
	$(MAKE) --no-print-directory test-sqlite test-postgresql test-mariadb

test-sqlite test-postgresql test-mariadb: test-%: install
	@echo "=== pytest on $* ==="
	KOHAWEB_TEST_DATABASE=$* $(VENV)/bin/pytest tests $(wildcard plugins/*/tests) $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf var build *.egg-info plugins/*/*.egg-info
