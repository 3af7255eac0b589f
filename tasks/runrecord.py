"""Pure module: a run of the pipeline as one typed, frozen record.

The record is what the database's `runs` table keeps (`row()`), what the manifest states about the run
(tasks.publishing.manifest_of adds the inputs, outputs and publication facts) and what the report names
(version, code, inputs' digest). It is made once per run (flows/annual.py) and finished once (`done`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    version: int
    parent_run_id: str | None  # the run this one corrects (a rerun), or None
    province: str
    year: int
    level: str
    methodology_id: str
    methodology_sha256: str
    inputs_sha256: str  # the digest of every archived input's SHA-256
    code_version: str
    out_dir: str
    synthetic: bool
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "published"

    def row(self) -> dict:
        """The `runs` table's row (tasks/store.py)."""
        return asdict(self)

    def done(self, at: datetime) -> RunRecord:
        return replace(self, finished_at=at)

    def without_parent(self) -> RunRecord:
        """The record for a database that does not hold the corrected run (the manifest still names it)."""
        return replace(self, parent_run_id=None)
