"""Convention test: the pure modules stay pure (no Prefect, SQLAlchemy, GX, Jinja2 or Typst), and
nothing in tasks/ imports Prefect (flows/ wraps the plain functions)."""

import ast

import pytest

from tests.conftest import REPO

PURE = ["schema", "problems", "methodology", "numbers", "text", "rules", "checks", "scoring", "ranking", "lineage",
        "runrecord", "cards", "appendix", "validation_page",
        "compute", "report", "corrections", "robustness", "desk"]
HEAVY = {"prefect", "sqlalchemy", "great_expectations", "jinja2", "typst", "alembic"}


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_edge_library(module):
    assert not (_imports(REPO / "tasks" / f"{module}.py") & HEAVY)


def test_tasks_never_import_prefect():
    for path in (REPO / "tasks").glob("*.py"):
        assert "prefect" not in _imports(path), path.name


def _project_imports(path) -> set[str]:
    """Project modules a file imports (top level or inside functions), as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] in PACKAGES}
    return out


PACKAGES = ("flows", "tasks", "expectations")


def test_no_import_circle_between_project_modules():
    modules = {f"{p.parent.name}.{p.stem}": p for pkg in PACKAGES for p in (REPO / pkg).glob("*.py")
               if p.stem != "__init__"}
    graph = {m: {i for i in _project_imports(p) if i in modules and i != m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(n):], n]))
            if n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m, [m])


#: the layers, lowest first: a module may import its own layer and those below, never one above
LAYERS = ("tasks", "expectations", "flows")


def test_no_module_imports_a_layer_above_it():
    for pkg in LAYERS:
        above = LAYERS[LAYERS.index(pkg) + 1:]
        for path in (REPO / pkg).glob("*.py"):
            wrong = {i for i in _project_imports(path) if i.split(".")[0] in above}
            assert not wrong, f"{pkg}/{path.name} imports {sorted(wrong)} from a layer above it"


def test_row_rules_are_declared_once():
    """No row rule is written twice: no GX expectation outside expectations/suites.py, and every message of the
    row rules lives in tasks/rules.py (the engines word from the declarations)."""
    for pkg in ("tasks", "flows", "expectations"):
        for path in (REPO / pkg).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            if path.name != "suites.py":
                assert "ExpectColumn" not in text, path
            if path.name != "rules.py":
                for sentence in ("is above the maximum", "is not a number", "must be a whole number",
                                 "is not on the scale of question"):
                    assert sentence not in text, (path, sentence)
