"""Test helpers: compute a folder without Prefect, and small CSV edits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.compute import compute
from tasks.ingest import archive_inputs, locate_inputs, read_inputs
from tests.conftest import CONFIG


def read_folder(folder: Path, scratch: Path):
    archived = archive_inputs(locate_inputs(folder, CONFIG), scratch)
    return read_inputs(scratch, archived)


def compute_folder(folder: Path, scratch: Path):
    return compute(read_folder(folder, scratch))


def edit_csv(path: Path, fn) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    fn(df).to_csv(path, index=False)
