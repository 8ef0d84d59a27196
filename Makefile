# `make demo` and `make test` each create or refresh .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format tour sandbox-tools browser-tools clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# bubblewrap isolates grading kernels (no network, a private view of the disk).
sandbox-tools:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q bubblewrap || (apt-get update -q && apt-get install -y -q bubblewrap)) >/dev/null 2>&1; \
	  fi; \
	  command -v bwrap >/dev/null 2>&1 || echo "warning: bubblewrap (bwrap) is not installed: grading kernels get resource limits but no network/disk isolation. Install it: sudo apt-get install bubblewrap"; \
	}

# Headless Chromium and its driver, for the browser test (tests/autograder/test_browser.py).
browser-tools:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    (apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver)) >/dev/null 2>&1; \
	  fi; \
	  { command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || echo "warning: chromium/chromedriver are not installed: the browser test is skipped. Install them: sudo apt-get install chromium chromium-driver"; \
	}

demo: $(STAMP) sandbox-tools
	MPLBACKEND=Agg $(BIN)/gradkit demo

tour: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m gradlib.tour

test: $(STAMP) sandbox-tools browser-tools lint
	MPLBACKEND=Agg $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV)
