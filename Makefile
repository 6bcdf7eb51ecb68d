# Two commands for a fresh machine with python3, make and git: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test lint format bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV)  ## Install the locked dependencies into .venv
	$(UV) sync --frozen

run: install  ## Migrate, ingest seeds/ if the database is empty, serve on 127.0.0.1:8000
	$(VENV)/bin/newscorpus serve --seed seeds

test: install  ## Run the whole test suite
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check app tests bench migrations
	$(VENV)/bin/ruff format --check app tests bench migrations
	$(VENV)/bin/mypy app

format: install
	$(VENV)/bin/ruff check --fix app tests bench migrations
	$(VENV)/bin/ruff format app tests bench migrations

# Benchmark at scale (outside the test suite): BENCH_SIZE=10000|100000|1000000. Generated data
# stays in bench/out/; results go to bench/results/ and, via bench.report, docs/PERFORMANCE.md.
BENCH_SIZE ?= 10000
bench: $(UV)  ## Generate a corpus, load it, and measure the API against the engine, FTS5, Datasette
	$(UV) sync --frozen --inexact --group bench
	@command -v wrk >/dev/null || echo "wrk not found: req/s columns will be empty (apt-get install wrk)"
	$(VENV)/bin/python -m bench.run --size $(BENCH_SIZE)
	$(VENV)/bin/python -m bench.report

clean:
	rm -rf .tools $(VENV) data
