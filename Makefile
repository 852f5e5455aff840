# Two entry points: `make run` (set up, then the whole pipeline on the sample data) and
# `make test` (set up, then every test including the slow end-to-end ones).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser prometheus docker-engine run test test-fast lint bench bench-serving clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	$(PY) -m pip check
	touch $@

# Debian's Chromium and its driver, for the UI's real-browser test; installed only when missing.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi

# Debian's Prometheus (2.42) and promtool, for the alert-rule checks and the monitoring test; installed only when missing.
prometheus:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus; \
	fi

# Debian's Docker engine and debootstrap, for the image test (it starts its own daemon and makes a local base
# image, since no registry is reachable here); installed only when missing.
docker-engine:
	@if [ ! -x /usr/bin/docker ] || ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker.io debootstrap; \
	fi

run: setup
	$(PY) pipeline_from_tasks.py $(ARGS)

test: setup browser prometheus docker-engine lint
	$(PY) -m pytest -m "" $(ARGS)

test-fast: setup
	$(PY) -m pytest $(ARGS)

lint: setup prometheus
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/actionlint
	$(VENV)/bin/hadolint Dockerfile ui/Dockerfile
	promtool check config monitoring/prometheus.yml
	cd monitoring && promtool test rules alerts.test.yml

bench: setup
	$(PY) benchmarks/bench_transform.py

bench-serving: setup
	$(PY) benchmarks/bench_serving.py

clean:
	rm -rf $(VENV) runs .pytest_cache
