# Turnsignal developer commands. Every target creates .venv and installs into it first; the install
# ends by pre-compiling the model into the user's compile cache (`turnsignal precompile`, once; its time on
# 2 cores is measured in docs/performance.md, "Compile cache and precompile").
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-slow bench clean

$(STAMP): pyproject.toml
	@command -v chromium >/dev/null || (apt-get install -y chromium || sudo apt-get install -y chromium) || \
		echo "chromium not installed: the browser tests (tests/web) will be skipped"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(VENV)/bin/turnsignal precompile
	touch $(STAMP)

install: $(STAMP)

## run: start the API server and its fit worker on the embedded SQLite default (127.0.0.1:8000)
run: install
	$(VENV)/bin/turnsignal serve --with-worker

## test: the fast suite (SQLite always; PostgreSQL when TURNSIGNAL_TEST_POSTGRES_URL is set), on two
## pytest-xdist workers; a file's tests stay on one worker, so its module fixtures (fits) are made once
test: install
	$(PY) -m pytest -m "not slow" -q -n 2 --dist loadfile

## test-slow: sampling-heavy tests (parameter recovery, full fits)
test-slow: install
	$(PY) -m pytest -m slow -q

## bench: speed and memory benchmarks, printed as tables
bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
