"""A real package (issue 13): the wheel `pip install .` builds carries every template, font, methodology,
province and migration, and an installed parindex finds them inside the wheel's layout, not beside a source
checkout. (Installed for real, in a fresh venv with `pip install -c constraints.txt .`, parindex ran the annual
flow from an unrelated folder: README, "Install".)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"  # a copy: setuptools writes build/ and *.egg-info into the tree it builds
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "bench",
                                                             "demo-output", "__pycache__", ".*cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("parindex-*.whl"))


def test_the_wheel_carries_every_bundled_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, patterns in (("templates", ("*.jinja", "*.typ", "*.css", "fonts/*.ttf")),
                             ("config", ("*/*.yaml",)), ("migrations", ("*.py", "*.ini", "versions/*.py"))):
        for pattern in patterns:
            for f in (REPO / folder).glob(pattern):
                assert f"parindex_data/{folder}/{f.relative_to(REPO / folder)}" in names, f
    assert "tasks/resources.py" in names and "flows/cli.py" in names


def test_an_installed_parindex_finds_its_data_in_the_wheel_layout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import tasks.resources as r, tasks.typeset as t, tasks.store as s; "
            "print(r.TEMPLATES); print(r.CONFIG); print(s.MIGRATIONS); "
            "print(sorted(p.name for p in (r.CONFIG / 'methodology').glob('*.yaml'))[0])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == str(site / "parindex_data" / "templates")
    assert out[1] == str(site / "parindex_data" / "config") and out[2] == str(site / "parindex_data" / "migrations")
    assert out[3].endswith(".yaml")
