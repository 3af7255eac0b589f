"""Convention test: the pure modules stay pure (no Prefect, SQLAlchemy, GX, Jinja2 or WeasyPrint), and
nothing in tasks/ imports Prefect (flows/ wraps the plain functions)."""

import ast

import pytest

from tests.conftest import REPO

PURE = ["methodology", "numbers", "text", "checks", "scoring", "ranking", "lineage", "compute", "report",
        "corrections"]
HEAVY = {"prefect", "sqlalchemy", "great_expectations", "jinja2", "weasyprint", "alembic"}


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
