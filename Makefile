# Classhub: `make run` serves the app with demo data, `make test` runs the whole suite.
# Both set themselves up on a fresh machine (Python 3.11+ and make are all they need).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
export FLASK_APP := wsgi

.PHONY: run test test-calls bench install install-dev chromium media-servers check-python clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Classhub needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3

# constraints.txt pins what the requirements pull in without naming (see its header).
$(VENV)/.runtime-installed: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	@touch $@ $(VENV)/.runtime-installed

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

# Browser tests drive Debian's Chromium; install it when we can (root with apt), else say how.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser tests (apt-get install chromium)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install chromium'"; \
	    echo "(or set CHROMIUM=/path/to/chromium)."; exit 1; \
	  fi; \
	fi

# Live calls: the mesh needs nothing; the Janus SFU (rooms above the mesh limit, and its tests)
# and coturn (TURN) come from Debian. Installed when we can (root with apt), else say how.
media-servers:
	@if [ ! -x /usr/bin/janus ] || [ ! -x /usr/bin/turnserver ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Janus and coturn for calls (apt-get install janus coturn)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus coturn >/dev/null; \
	  else \
	    echo "The call tests need Janus and coturn: run 'sudo apt-get install janus coturn'"; exit 1; \
	  fi; \
	fi

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	$(BIN)/flask serve

test: install-dev chromium media-servers
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) test-calls

# Call tests (tests/calls, marked "call"): real WebRTC between Chromium pages, inside a
# loopback-only network namespace (media can only use 127.0.0.1 there; FIELD-NOTES "WebRTC").
# Inside it PostgreSQL is reached through its unix socket and Redis is the embedded one.
# Where a namespace cannot be made (not root, no unshare) they fail under CI=true and are
# reported as not run otherwise.
test-calls: install-dev chromium media-servers
	@if ! unshare -n true 2>/dev/null; then \
	  echo "test-calls: cannot create a network namespace (needs root and unshare)"; \
	  if [ "$$CI" = "true" ]; then exit 1; else echo "call tests NOT run"; exit 0; fi; \
	fi
	DATABASE_URL="$$($(BIN)/python -c 'import os, sqlalchemy.engine as e; u = os.environ.get("DATABASE_URL", ""); \
	  print("" if not u.startswith("postgres") else "postgresql:///%s?host=/var/run/postgresql&user=%s" % (e.make_url(u).database, e.make_url(u).username or "postgres"))')" \
	  CLASSHUB_CALLS_NAMESPACE=1 CHROMIUM=$(CHROMIUM) unshare -n sh -c \
	  'ip link set lo up && [ -n "$$DATABASE_URL" ] || unset DATABASE_URL; unset REDIS_URL; \
	   exec $(BIN)/python -m pytest -m call tests/calls $(PYTEST_ARGS)'

# Benchmarks: figures printed, Classhub beside its peers. DATABASE_URL set: on a throwaway
# PostgreSQL database created on that server and dropped after; BENCH_SCALE=small: under a minute.
# The live calls bench (bench/live.py) drives Chromium and Janus in a network namespace of its own.
bench: install-dev chromium media-servers
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
