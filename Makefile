# Two commands: `make demo` and `make test`. Everything they need is installed or started here.
.PHONY: demo dashboards dashboards-stop dashboards-screenshot test venv clickhouse clickhouse-stop lmsdb db db-stop wheel-check requirements quality clean help superset-venv static chromium mariadb-headers gettext extract_translations
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLICKHOUSE_DIR ?= var/clickhouse
CLICKHOUSE_PORT ?= 18123

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements/test.txt pyproject.toml
	@$(MAKE) -s mariadb-headers
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/test.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with the pinned test requirements

clickhouse: venv  ## start the local ClickHouse (data in var/clickhouse, kept between runs)
	@$(PY) -m devstack.local_clickhouse start --data-dir $(CLICKHOUSE_DIR) --port $(CLICKHOUSE_PORT)

clickhouse-stop:  ## stop the local ClickHouse (data is kept)
	@$(PY) -m devstack.local_clickhouse stop --data-dir $(CLICKHOUSE_DIR)

db: venv  ## MariaDB on ASPECTS_DB_HOST:ASPECTS_DB_PORT (127.0.0.1:3306); none answering: a private one (var/mariadb)
	@if [ "$$ASPECTS_DB" = sqlite ]; then echo "ASPECTS_DB=sqlite: the stand-in LMS uses SQLite, NOT MariaDB"; \
	else $(PY) -m devstack.local_mariadb ensure; fi

db-stop:  ## stop the private MariaDB of var/mariadb (data is kept)
	@$(PY) -m devstack.local_mariadb stop

lmsdb: venv db  ## create the stand-in LMS database and tables
	@$(PY) -m tests.lms.createdb
	@$(PY) manage.py migrate -v 0

demo: clickhouse lmsdb  ## set everything up and run the demo on the local ClickHouse + stand-in LMS
	$(PY) manage.py migrate_clickhouse
	$(PY) manage.py aspects_demo

test: venv superset-venv chromium gettext db  ## set everything up, lint, check the wheel, run the whole test suite
	$(VENV)/bin/ruff check .
	$(PY) -m devstack.wheel_check
	$(PY) -m pytest

wheel-check: venv  ## build sdist + wheel from a clean export, install into a fresh venv (base.txt only), check them
	$(PY) -m devstack.wheel_check

quality: venv  ## lint and import order (ruff, configured in pyproject.toml) on the whole tree
	$(VENV)/bin/ruff check .

requirements: venv  ## re-pin requirements/*.txt from requirements/*.in
	$(PY) -m pip install -q pip-tools
	cd requirements && for f in base test dev; do ../$(PY) -m piptools compile -q --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o $$f.txt $$f.in; done

clean: clickhouse-stop db-stop  ## remove the venv and local data
	rm -rf $(VENV) var

# --- Superset embedding: Superset in its own venv, the vendored embedded SDK, headless Chromium ---
SUPERSET_VENV := var/superset-venv
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed

$(SUPERSET_STAMP): requirements/superset.txt
	test -x $(SUPERSET_VENV)/bin/python || $(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/python -m pip install -q -r requirements/superset.txt
	touch $(SUPERSET_STAMP)

superset-venv: $(SUPERSET_STAMP)  ## install Superset 6.1 (integration tests, benchmark) into var/superset-venv

static: venv  ## re-vendor the pinned @superset-ui/embedded-sdk (package-lock.json) into the package's static files
	$(PY) -m devstack.vendor_sdk update

mariadb-headers:  ## install the MariaDB client headers mysqlclient builds against (Debian), when missing
	@pkg-config --exists libmariadb 2>/dev/null || { apt-get update -q && apt-get install -y -q libmariadb-dev pkg-config; }

gettext:  ## install GNU gettext (Debian) for the message catalog, when missing
	@command -v xgettext >/dev/null && command -v msgfmt >/dev/null || { apt-get update -q && apt-get install -y -q gettext; }

extract_translations: venv gettext  ## rewrite the source (English) catalog conf/locale/en from the marked strings
	$(PY) -m platform_plugin_aspects.superset.bundle messages
	cd platform_plugin_aspects && mkdir -p locale && ../$(VENV)/bin/django-admin makemessages -l en -d django --no-obsolete \
		&& mkdir -p conf/locale/en/LC_MESSAGES && mv locale/en/LC_MESSAGES/django.po conf/locale/en/LC_MESSAGES/django.po \
		&& rm -r locale && sed -i 's/nplurals=INTEGER; plural=EXPRESSION;/nplurals=2; plural=(n != 1);/' conf/locale/en/LC_MESSAGES/django.po

chromium:  ## install headless Chromium + chromedriver (Debian) for the browser test, when missing
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }

# --- the shipped dashboards on the demo course ---
dashboards: demo superset-venv  ## the demo course's Reports tab with real charts: Superset synced, the stand-in LMS on :8000
	$(PY) -m tests.lms.demo.dashboards_demo start

dashboards-screenshot: chromium  ## docs/reports-tab.png from the running `make dashboards`
	$(PY) -m tests.lms.demo.dashboards_demo screenshot

dashboards-stop:  ## stop the Superset and LMS web server `make dashboards` started
	$(PY) -m tests.lms.demo.dashboards_demo stop

# --- Documentation: Sphinx (sphinx-book-theme) in the project venv; references generated from the code ---
.PHONY: docs
# make test builds the docs first (a prerequisite added here, so the test rule itself stays as it is).
test: docs

DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): requirements/doc.txt $(STAMP)
	$(PY) -m pip install -q -r requirements/doc.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)  ## build the documentation into docs/_build/html; any warning (an undocumented setting, option or column too) fails
	$(VENV)/bin/sphinx-build -E -W --keep-going -n -q -b html docs docs/_build/html
	@echo "Documentation: docs/_build/html/index.html"
