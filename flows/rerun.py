"""`parindex rerun`: publish version n+1 of a published run with corrections applied, never touching it.

Starts from the run's archived inputs (named in its manifest), applies the validated corrections to the
self-assessment and deductions tables, and publishes through the annual flow into a new folder, with
changes.csv and an errata section against the version it corrects.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import yaml
from prefect import flow, get_run_logger
from prefect.states import Failed

from expectations.suites import validate_corrections
from flows.annual import annual_run
from flows.api import nested
from tasks import compute, ingest, publishing, store
from tasks.corrections import applied_corrections, apply_corrections
from tasks.methodology import load_methodology
from tasks.problems import problem_row


class _Refused(Exception):
    """Internal: the corrections were refused; carries the flow's final (Failed) state."""

    def __init__(self, state):
        self.state = state


def _fail(out_dir: Path, rows: list[dict]) -> None:
    errors = [r for r in rows if r.is_error]
    path = publishing.write_validation(out_dir, rows)
    get_run_logger().error(f"the corrections were refused: {len(errors)} error(s); see {path}")
    raise _Refused(Failed(message=f"corrections refused: {len(errors)} error(s); see {path}",
                          data=compute.InputsUnreadable(rows)))


@flow(name="parindex-rerun")
def rerun(from_dir: str, corrections: str, out: str, db: str | None = None, author: str | None = None,
          draft: bool = False, published_on: str | None = None):
    """Publish version n+1 of the run published in `from_dir` with `corrections` (CSV or XLSX) applied, into
    the new folder `out` (see _rerun)."""
    try:
        return _rerun(from_dir, corrections, out, db, author, draft, published_on)
    except _Refused as refused:  # invalid corrections: Failed state, no traceback in the log
        return refused.state


def _rerun(from_dir: str, corrections: str, out: str, db: str | None = None, author: str | None = None,
           draft: bool = False, published_on: str | None = None) -> dict:
    """Publish version n+1 of the run in `from_dir` with `corrections` applied, into `out`.

    `author` is recorded with each correction that does not name its own (column `author`).
    """
    src = Path(from_dir).resolve()
    out_dir = Path(out).resolve()
    if out_dir == src:
        raise ValueError("rerun writes the new version to a new folder: --out must differ from --from")
    manifest_path = src / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing: --from must be a folder `parindex run` published")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    url = db or manifest["database"]
    _check_source(src, manifest, url, out_dir)
    corr_path = Path(corrections)
    corr_table = _read_corrections(corr_path, out_dir)
    work = out_dir.parent / f".{out_dir.name}.rerun-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        applied = _corrected_inputs(work, src, manifest, corr_table, corr_path, author, out_dir)
        with nested():
            return annual_run(inputs=str(work), out=str(out_dir), db=url, version=int(manifest["version"]) + 1,
                              parent_run_id=manifest["run_id"], previous_publication=str(src),
                              corrections_applied=applied, draft=draft, published_on=published_on)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_source(src: Path, manifest: dict, url: str, out_dir: Path) -> None:
    """A rerun republishes what was published (never what someone edited since), and builds on the latest
    version (never on a replaced one)."""
    tampered = publishing.verify_publication(src, url)
    if tampered:
        _fail(out_dir, tampered)
    record = store.run_record(url, manifest["run_id"])
    if record and record["superseded_by"]:
        _fail(out_dir, [problem_row(
            str(src / "manifest.json"), f"version {record['version']} was already corrected by version "
            f"{record['superseded_version']} (published in {record['superseded_in']}): rerun from that folder",
            f"phiên bản {record['version']} đã được đính chính bởi phiên bản {record['superseded_version']} "
            f"(công bố tại {record['superseded_in']}): hãy chạy lại từ thư mục đó", column="version",
            value=str(manifest.get("version", "")), check="rerun:superseded")])


def _read_corrections(corr_path: Path, out_dir: Path):
    if not corr_path.is_file():
        _fail(out_dir, [problem_row(str(corr_path), "the corrections file does not exist",
                                "không tìm thấy tệp đính chính", check="rerun:file")])
    try:
        return ingest.read_table(corr_path, "corrections")
    except ingest.InputError as exc:
        _fail(out_dir, [problem_row(exc.file, exc.problem, exc.vi, row=exc.row, column=exc.column, check="rerun:file")])


def _corrected_inputs(work: Path, src: Path, manifest: dict, corr_table, corr_path: Path, author: str | None,
                      out_dir: Path) -> list[dict]:
    """The published run's archived inputs copied into `work` with the corrections applied (validated first by
    the same rules as the inputs); returns the corrections as applied, for the database."""
    names = {}
    for role, info in manifest["inputs"].items():
        if role == "corrections":
            continue  # the corrections of an earlier rerun are already in its tables
        archived = src / info["file"]
        names[role] = archived.name
        shutil.copyfile(archived, work / archived.name)
    index = yaml.safe_load((work / "index.yaml").read_text(encoding="utf-8-sig")) or {}
    index["methodology"] = names["methodology"]
    if "previous_results" in names:
        index["previous_results"] = names["previous_results"]
    index["corrects_run"] = manifest["run_id"]
    (work / "index.yaml").write_text(yaml.safe_dump(index, allow_unicode=True, sort_keys=False), encoding="utf-8")
    m = load_methodology(work / "methodology.yaml")
    units = ingest.read_table(work / names["units"], "units").frame
    typed, problems = validate_corrections(corr_table, m, units)
    if any(p.is_error for p in problems):
        _fail(out_dir, problems)
    sa_file = work / names["self_assessment"]
    sa = ingest.read_table(sa_file, "self_assessment").frame.drop(columns="_row")
    ded_file = work / names["deductions"] if "deductions" in names else None
    ded = ingest.read_table(ded_file, "deductions").frame.drop(columns="_row") if ded_file else None
    new_sa, new_ded = apply_corrections(typed, sa, ded)
    applied = applied_corrections(typed, sa, ded, author or os.environ.get("USER", "") or "unknown")
    sa_file.unlink()
    new_sa.to_csv(work / "self_assessment.csv", index=False)
    if ded_file is not None:
        ded_file.unlink()
    if len(new_ded):
        new_ded.to_csv(work / "deductions.csv", index=False)
    shutil.copyfile(corr_path, work / f"corrections{corr_path.suffix.lower()}")
    return applied
