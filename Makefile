# riskmon developer entry points. `make demo` and `make test` set up .venv/ themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help demo test lint format typecheck unit tools bench kafka-up kafka-down clean

help:
	@echo "make demo       simulate a flash crash on 5000 accounts: live view, web page, /metrics (DEMO_ARGS=...)"
	@echo "make test       lint, type-check and run the test suite (what CI runs)"
	@echo "make bench      run the benchmarks (engine, fund projection, Kafka worker, demo) and rewrite BENCHMARKS.md"
	@echo "make format     apply ruff formatting"
	@echo "make kafka-up   start a local Kafka broker (KAFKA_PORT, default 9092) from Maven Central jars"
	@echo "make kafka-down stop it"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

DEMO_ARGS ?=

demo: $(STAMP)
	$(BIN)/riskmon demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

tools:
	deploy/compose/install.sh
	deploy/prometheus/install.sh
	deploy/browser/install.sh
	deploy/kcat/install.sh

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint tools unit

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m tests.bench.run_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.tick_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.live_whatif_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.reconcile_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.bulk_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.retention_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.fund_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.kafka_bench --write BENCHMARKS.md
	$(BIN)/python -m tests.bench.demo_bench --write BENCHMARKS.md

kafka-up:
	deploy/kafka/kafka.sh up

kafka-down:
	deploy/kafka/kafka.sh down

clean:
	rm -rf $(VENV) .tools .demo .artifacts .mypy_cache .ruff_cache .pytest_cache .hypothesis .benchmarks
