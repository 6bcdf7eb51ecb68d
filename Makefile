# Two commands for a fresh machine with python3 (and its venv module), make and git:
# `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# Trust the system's certificate store, where a TLS-inspecting proxy's authority is installed:
# uv does with UV_SYSTEM_CERTS, and pip (which installs uv) with the store's bundle file.
export UV_SYSTEM_CERTS ?= 1
SYSTEM_CA := $(shell $(PYTHON) -c "import ssl; print(ssl.get_default_verify_paths().cafile or '')" 2>/dev/null)
ifneq ($(SYSTEM_CA),)
export PIP_CERT ?= $(SYSTEM_CA)
endif

.PHONY: install run test lint format bench clean

$(UV):
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null || { \
	  echo "error: newscorpus needs Python 3.11 or newer as '$(PYTHON)' (make PYTHON=...)" >&2; \
	  exit 1; }
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  echo "error: '$(PYTHON) -m venv' is missing; on Debian or Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV)  ## Install the locked dependencies, the development tools too, into .venv
	$(UV) sync --frozen

# --no-dev: the server needs no test tools; --inexact: nor does it remove them if installed.
run: $(UV)  ## Migrate, ingest seeds/ if the database is empty, serve on 127.0.0.1:8000
	$(UV) sync --frozen --no-dev --inexact
	$(VENV)/bin/newscorpus serve --seed seeds

# The suite runs on SQLite and on PostgreSQL (a server on 127.0.0.1:5432, or
# NEWSCORPUS_TEST_POSTGRES=postgresql+psycopg://user@host:port); without one, the PostgreSQL
# half is skipped with the reason (.ci/run starts one, or fails). BACKEND=sqlite: SQLite only.
BACKEND ?= all
test: install  ## Run the whole test suite on both backends
	$(VENV)/bin/pytest --backend $(BACKEND)

lint: install
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/ruff format --check app tests bench
	$(VENV)/bin/mypy app

format: install
	$(VENV)/bin/ruff check --fix app tests bench
	$(VENV)/bin/ruff format app tests bench

# Benchmark at scale (outside the test suite): BENCH_SIZE=10000|100000|1000000. Generated data
# stays in bench/out/; results go to bench/results/ and, via bench.report, docs/PERFORMANCE.md.
BENCH_SIZE ?= 10000
bench: $(UV)  ## Generate a corpus, load it, and measure the API against the engine, FTS5, Datasette
	$(UV) sync --frozen --inexact --group bench
	@# wrk measures requests per second (Debian's package, as .ci/run installs chromium).
	@command -v wrk >/dev/null || { sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq wrk; } \
	  || echo "wrk not installed: req/s columns will be empty (apt-get install wrk)"
	$(VENV)/bin/python -m bench.run --size $(BENCH_SIZE)
	$(VENV)/bin/python -m bench.coverage --size $(BENCH_SIZE)
	$(VENV)/bin/python -m bench.report

clean:
	rm -rf .tools $(VENV) data
