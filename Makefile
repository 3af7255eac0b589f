# parindex — the commands a newcomer needs. `make demo` then `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: install demo test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

demo: install
	$(BIN)/parindex demo --out $(DEMO_OUT)

# Starts the machine's PostgreSQL 15 cluster when it can, so the store tests run on both databases.
test: install
	@eval "$$(bash tests/pg_env.sh)"; $(BIN)/python -m pytest -n 2 --dist loadgroup

bench: install
	$(BIN)/python bench/run_bench.py

lint: install
	$(BIN)/ruff check flows tasks expectations tests bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
