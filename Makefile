# parindex — the commands a newcomer needs. `make demo` then `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: install bytecode demo test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

# The project's own modules compiled ahead (incremental): every command, Dask worker and typesetting
# interpreter would otherwise compile them from source where PYTHONDONTWRITEBYTECODE is set (~0.1 s each).
bytecode: install
	@$(BIN)/python -m compileall -q flows tasks expectations

demo: bytecode
	$(BIN)/parindex demo --out $(DEMO_OUT)

# Starts the machine's PostgreSQL 15 cluster when it can, so the store tests run on both databases.
test: bytecode
	@eval "$$(bash tests/pg_env.sh)"; $(BIN)/python -m pytest -n 2 --dist loadgroup

bench: bytecode
	$(BIN)/python bench/run_bench.py

lint: install
	$(BIN)/ruff check flows tasks expectations tests bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
