# journeylake: `make setup` once, then `make test`, `make run`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JARS := .jars
TOOLS := .tools
export JOURNEYLAKE_JARS_DIR := $(abspath $(JARS))
export PYSPARK_PYTHON := $(abspath $(PY))

.PHONY: setup venv jars test test-crash test-fast run bench lint clean secrets mlflow-ui kafka-up kafka-down dashboard browser

setup: venv jars

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[local,dev]"
	touch $@

jars: venv
	deploy/resolve-jars.sh $(JARS) $(PY) $(TOOLS)

test: setup
	$(PY) -m pytest -q

# Drivers SIGKILLed at each of the jobs' crash points, the tables compared with an uninterrupted
# run's (tests/integration/test_crash_restart.py); about 25 minutes on 2 cores.
test-crash: setup
	$(PY) -m pytest -q -m crash

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not cluster"

run: setup secrets
	$(VENV)/bin/journeylake run --env local

# A local pseudonymisation key, outside git (data/ is ignored); clusters take theirs from a
# secret store through $$JOURNEYLAKE_PII_KEY or $$JOURNEYLAKE_PII_KEY_FILE.
secrets: data/secrets/pii.key

data/secrets/pii.key:
	mkdir -p data/secrets && chmod 700 data/secrets
	$(PY) -c "import secrets; print(secrets.token_hex(32))" > $@ && chmod 600 $@

# The MLflow UI on the runs and registry the jobs write (models.mlflow: the SQLite store and
# artifacts under data/mlflow), bound to 127.0.0.1 on models.mlflow.ui_port; it prints the URL.
mlflow-ui: venv
	$(PY) -m journeylake.models.tracking --env local

# A local Kafka broker (KRaft) for journeylake stream / replay, from the jars of make setup, on
# streaming.kafka.bootstrap_servers; data and logs in data/kafka. kafka-down stops that pid.
kafka-up: setup
	PYTHON=$(abspath $(PY)) deploy/kafka.sh up

kafka-down:
	deploy/kafka.sh down

# The dashboard page (dashboard.output, data/dashboard/index.html) from the gold tables.
dashboard: setup
	$(VENV)/bin/journeylake dashboard --env local

# Debian's chromium and its chromedriver, for the dashboard's browser test (tests/integration/
# dashboard); Selenium is pointed at them, so nothing is downloaded from a browser vendor. The
# test's fixture runs the same install when /usr/bin/chromium is missing.
browser:
	test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  chromium chromium-driver; }

bench: setup
	$(PY) bench/run_bench.py
	$(PY) bench/silver_bench.py --customers 6500 --days 30
	$(PY) bench/graph_bench.py
	$(PY) bench/models_bench.py --persons 100000
	$(PY) bench/alerts_bench.py --series 1000 --days 365
	# the expectations of the default lakehouse's tables (those `make run` has built)
	$(PY) bench/quality_bench.py

lint: venv
	$(VENV)/bin/ruff check lib jobs tests bench deploy

clean:
	rm -rf data spark-warehouse metastore_db derby.log .pytest_cache
