# kohaweb: `make run` sets everything up and serves; `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PLUGINS := $(sort $(wildcard plugins/*/setup.cfg))
PLUGIN_DIRS := $(patsubst %/setup.cfg,%,$(PLUGINS))
INI ?= development.ini
# Debian packages the tests drive as real clients (installed when missing and we are root).
# libmariadb-dev and pkg-config build mysqlclient, MariaDB's driver.
DEBIAN_PACKAGES := yaz zbar-tools libgd-barcode-perl chromium chromium-driver idzebra-2.0 libmariadb-dev pkg-config
PYTEST_ARGS ?=

.PHONY: run serve test test-sqlite test-postgresql test-mariadb lint install system-deps bench clean

$(VENV)/.installed: setup.cfg requirements-dev.txt $(PLUGINS)
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing kohaweb and its plugins into $(VENV) (log: $(VENV)/install.log)"
	@# pip's and setuptools' warnings are shown only when the install fails
	@( $(PIP) install -q --upgrade pip && \
	   $(PIP) install -q -r requirements-dev.txt && \
	   $(PIP) install -q -e . $(addprefix -e ,$(PLUGIN_DIRS)) ) > $(VENV)/install.log 2>&1 \
	  || { cat $(VENV)/install.log; echo "install failed (log: $(VENV)/install.log)"; exit 1; }
	@# MariaDB's C driver; without Connector/C's headers the MariaDB tests use PyMySQL instead
	@$(PIP) install -q mysqlclient >> $(VENV)/install.log 2>&1 \
	  || echo "note: mysqlclient did not build (apt-get install libmariadb-dev pkg-config); MariaDB runs on PyMySQL"
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
	@echo "development sign-in: koha / koha"
	$(VENV)/bin/kohaweb -c $(INI) serve

lint: install
	$(VENV)/bin/ruff check kohaweb plugins tests bench
	$(VENV)/bin/mypy  # the public API for plugins (kohaweb.plugin_api and what it is built on; mypy.ini)

# The whole suite on SQLite, PostgreSQL and MariaDB (each skipped with a message when its server
# is unreachable, except under CI where every database must be there). The three runs are
# independent (a throwaway database each, free ports), so they run side by side; each one's
# output is printed whole when it ends. Tests that use no database run on the SQLite pass only
# (kohaweb.testing skips them on the others).
TEST_JOBS ?= 3
test: system-deps install lint
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-sqlite test-postgresql test-mariadb

test-sqlite test-postgresql test-mariadb: test-%: install
	@echo "=== pytest on $* ==="
	KOHAWEB_TEST_DATABASE=$* $(VENV)/bin/pytest tests $(wildcard plugins/*/tests) $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf var build *.egg-info plugins/*/*.egg-info
