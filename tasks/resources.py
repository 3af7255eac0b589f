"""Where the bundled data are: the templates (with the fonts), config (methodologies, provinces) and the
database migrations. In a source checkout or an editable install they are the top-level folders beside the
packages; a wheel (`pip install .`, not editable) carries them as `parindex_data/<name>` (pyproject.toml), so
`parindex` runs from any folder either way. Each is recognised by a file it must hold, never by its name
alone (site-packages may hold some other `config/`)."""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_MARKERS = {"templates": "report.typ", "config": "methodology", "migrations": "env.py"}


def _find(name: str) -> Path:
    for folder in (_ROOT / name, _ROOT / "parindex_data" / name):
        if (folder / _MARKERS[name]).exists():
            return folder
    raise FileNotFoundError(f"parindex is installed without its {name}/ folder (looked in {_ROOT} and "
                            f"{_ROOT / 'parindex_data'}): reinstall it with `pip install .`")


TEMPLATES = _find("templates")
FONTS = TEMPLATES / "fonts"
CONFIG = _find("config")
MIGRATIONS = _find("migrations")
#: the Python packages of parindex (for the code fingerprint)
PACKAGES = [_ROOT / p for p in ("flows", "tasks", "expectations")]
