# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean browser-deps

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Headless Chromium for the browser tests (Debian packages; CI runs as root).
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then \
	      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	        || echo "WARNING: could not install chromium: the browser tests will be skipped"; \
	    else echo "chromium missing: the browser tests will be skipped (run as root to install it)"; fi; }

run: $(STAMP)
	$(BIN)/python -m sandbox.run

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) browser-deps lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.roster_sync 2>/dev/null
	$(BIN)/python -m bench.events 2>/dev/null
	$(BIN)/python -m bench.fairness 2>/dev/null
	$(BIN)/python -m bench.sso

clean:
	rm -rf $(VENV) var/ .pytest_cache
