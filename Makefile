# Two entry points do all the set-up on a fresh machine (Python + the package registries):
#   make demo   an offline demo: a local OpenAI-compatible server, no API key
#   make test   lint, the whole test suite, and the core suite on every supported openai version
#               (installs Prometheus/Alertmanager from Debian and Arize Phoenix into .venv-phoenix)
PY ?= python3
VENV := .venv
PIP_FLAGS := --quiet --disable-pip-version-check
# Oldest supported, first with the retry loop, last 1.x, last 2.x, first 3.x. The newest 3.x is what
# the main venv resolves (`openai<4`). openai < 1.55.3 passes `proxies=` to httpx, which httpx 0.28
# removed, hence the pin for 1.30.
OPENAI_MATRIX := 1.30.0 1.76.0 1.109.1 2.54.0 3.0.0

# Arize Phoenix, the trace backend tests/e2e/test_phoenix_roundtrip.py runs for real. It is a server
# the tests talk to over HTTP, so it lives in a venv of its own (~850 MB, ~2.5 min on first install).
PHOENIX_VENV := .venv-phoenix
PHOENIX_VERSION := 20.26.1

.PHONY: demo test lint system-deps phoenix test-main test-matrix bench bench-budgets bench-instructions clean

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[instruments,test,test-stack,examples]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python examples/demo/run_demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks

system-deps:
	scripts/install-system-deps.sh

$(PHOENIX_VENV)/.installed-$(PHOENIX_VERSION):
	rm -rf $(PHOENIX_VENV)
	$(PY) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install $(PIP_FLAGS) 'arize-phoenix==$(PHOENIX_VERSION)'
	touch $@

phoenix: $(PHOENIX_VENV)/.installed-$(PHOENIX_VERSION)

test-main: $(VENV)/.installed system-deps phoenix
	$(VENV)/bin/python -m pytest -q

# The core suite (tests/core) and the usage sources (tests/sources: Batch, fine-tuning, realtime, audio;
# their hooks differ across SDK versions) against each openai version, each in its own venv. The dedupe
# query test needs chdb (test-stack), which these venvs leave out; the main venv runs it.
test-matrix: $(VENV)/.installed
	@set -e; for v in $(OPENAI_MATRIX); do \
	  venv=.venv-openai-$$v; \
	  if [ ! -f $$venv/.installed ]; then \
	    $(PY) -m venv $$venv; \
	    $$venv/bin/pip install $(PIP_FLAGS) -e '.[test]' "openai==$$v" \
	      $$(case $$v in 1.30.0) echo 'httpx<0.28';; esac); \
	    touch $$venv/.installed; \
	  fi; \
	  echo "== openai $$v"; \
	  $$venv/bin/python -m pytest -q -p no:cacheprovider tests/core tests/sources \
	    --ignore=tests/sources/test_dedupe_query.py; \
	done

test: lint phoenix test-main test-matrix

# Budgets' added per-call time (in memory, and Redis: starts Debian's redis-server on 127.0.0.1).
bench-budgets: $(VENV)/.installed system-deps
	$(VENV)/bin/python benchmarks/bench_budgets.py

# Overhead against a floor and against the official OpenTelemetry OpenAI instrumentation (installed
# into .venv-peer on first use); prints per call, per chunk, memory and start-up figures.
bench: $(VENV)/.installed
	PYTHONPATH=src $(VENV)/bin/python benchmarks/bench_overhead.py

# The same calls counted in instructions by valgrind (Debian's valgrind): figures load does not move.
bench-instructions: $(VENV)/.installed
	command -v valgrind >/dev/null || apt-get install -y --no-install-recommends valgrind
	PYTHONPATH=src $(VENV)/bin/python benchmarks/bench_instructions.py

clean:
	rm -rf .venv .venv-openai-* .venv-peer $(PHOENIX_VENV)
