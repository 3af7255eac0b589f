"""Edge module: stage a publication in a hidden folder and move it into place only when it is complete.

A failed run leaves the earlier publication in its folder unchanged: outputs are written to
`DIR/.staging-<run_id>/`; at publication the earlier files move to `DIR/.previous-<run_id>/`, the staged
ones move in (renames on one filesystem), the database transaction commits, and only then is the backup
removed. A crash in between is repaired by the next run (`recover_interrupted`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.methodology import file_sha256

REPO = Path(__file__).resolve().parent.parent
#: what a publication consists of; anything else in DIR (the SQLite database, the user's files) is left alone
PUBLISHED = ("results.csv", "criteria.csv", "results.xlsx", "results.json", "report.vi.html", "report.en.html",
             "report.vi.pdf", "report.en.pdf", "manifest.json", "inputs", "changes.csv", "proforma.csv", "units")


def code_version() -> str:
    """git describe of the code that runs (with -dirty when it has uncommitted changes), else the package."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=5, check=True)
        return f"parindex@{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"parindex=={version('parindex')}"
        except PackageNotFoundError:
            return "parindex (unknown version)"


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on `out/.parindex.lock`: two runs never swap files into one folder at once."""
    with open(out / ".parindex.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


OWNER_FILE = ".owner"


def make_staging(out: Path, run_id: str) -> Path:
    """The hidden folder a run writes its publication into; it records the owning process."""
    staging = out / f".staging-{run_id}"
    staging.mkdir()
    (staging / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
    return staging


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(out: Path) -> list[str]:
    """Repair what a killed run left: restore a backup whose swap did not finish; drop dead runs' staging.

    Runs under the folder lock, so no live swap is in progress; a live run's staging folder is left alone.
    """
    notes = []
    with folder_lock(out):
        for backup in sorted(out.glob(".previous-*")):
            if (backup / "manifest.json").exists() and not (out / "manifest.json").exists():
                for item in backup.iterdir():
                    target = out / item.name
                    if target.exists():
                        shutil.rmtree(target) if target.is_dir() else target.unlink()
                    item.rename(target)
                notes.append(f"restored the publication interrupted in {backup.name}")
            shutil.rmtree(backup, ignore_errors=True)
        for staging in out.glob(".staging-*"):
            owner = staging / OWNER_FILE
            try:
                pid = int(owner.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                continue  # a run in progress
            shutil.rmtree(staging, ignore_errors=True)
            notes.append(f"removed unfinished staging folder {staging.name}")
    return notes


def swap_into_place(staging: Path, out: Path, run_id: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """Move the staged publication into `out`; return (undo, finish). `finish` drops the backup."""
    backup = out / f".previous-{run_id}"
    backup.mkdir()
    moved_old, moved_new = [], []
    try:
        for name in PUBLISHED:
            if (out / name).exists():
                (out / name).rename(backup / name)
                moved_old.append(name)
        for item in sorted(staging.iterdir()):
            if item.name in PUBLISHED:
                item.rename(out / item.name)
                moved_new.append(item.name)
    except BaseException:
        _undo(out, backup, staging, moved_old, moved_new)
        raise

    def undo() -> None:
        _undo(out, backup, staging, moved_old, moved_new)

    def finish() -> None:
        shutil.rmtree(backup, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)

    return undo, finish


def _undo(out: Path, backup: Path, staging: Path, moved_old: list[str], moved_new: list[str]) -> None:
    for name in moved_new:
        if (out / name).exists():
            (out / name).rename(staging / name)
    for name in moved_old:
        (backup / name).rename(out / name)
    shutil.rmtree(backup, ignore_errors=True)


def problem_summary(problems, limit: int = 25) -> str:
    """What the command prints when validation fails: counts, then the first errors, each in English and
    Vietnamese, naming file, row, unit, column and value."""
    import pandas as pd

    errors = problems[problems["severity"] == "error"]
    lines = [f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s) / "
             f"{len(errors)} lỗi, {len(problems) - len(errors)} cảnh báo"]
    for p in errors.head(limit).itertuples(index=False):
        where = f"{p.file}" + (f" row {int(p.row)}" if pd.notna(p.row) and p.row != "" else "")
        unit = f" unit {p.unit_code}" if p.unit_code else ""
        lines.append(f"  {where}{unit} [{p.column}={p.value!s}]: {p.problem}")
        if p.problem_vi:
            lines.append(f"      {p.problem_vi}")
    if len(errors) > limit:
        lines.append(f"  … and {len(errors) - limit} more in validation/errors.csv")
    return "\n".join(lines) + "\n"


def write_validation(out: Path, problems, summary: str) -> Path:
    """Replace `out/validation/` with the problems of the latest attempt: errors.csv, summary.txt and
    report.html (the page a council reads)."""
    final = out / "validation"
    tmp = out / ".validation-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    import pandas as pd

    problems = problems.copy()
    problems["row"] = pd.to_numeric(problems["row"], errors="coerce").astype("Int64")  # 7, never 7.0
    from tasks.render import render_html, write_csv

    write_csv(problems, tmp / "errors.csv")
    (tmp / "summary.txt").write_text(summary, encoding="utf-8")
    from tasks.report import build_validation_context

    page = render_html(build_validation_context(problems), template="validation.html.jinja")
    (tmp / "report.html").write_text(page, encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final / "errors.csv"


def write_manifest(path: Path, manifest: dict, staging: Path) -> None:
    """manifest.json, with the sha256 of every other published file in the staging folder."""
    outputs = {}
    for f in sorted(staging.rglob("*")):
        rel = f.relative_to(staging)
        if f.is_file() and f.name != "manifest.json" and rel.parts[0] != "inputs" and not f.name.startswith("."):
            outputs[str(rel)] = file_sha256(f)
    manifest = {**manifest, "outputs": outputs}
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def changes_against(previous_dir: Path, bundle, computed):
    """changes.csv of a corrected run against the publication in `previous_dir` (its results, criteria and
    archived deductions) and the corrections this run archived."""
    import pandas as pd

    from tasks.corrections import check_corrections, compute_changes

    manifest = json.loads((previous_dir / "manifest.json").read_text(encoding="utf-8"))
    old_results = pd.read_csv(previous_dir / "results.csv", dtype={"unit_code": str, "criterion_code": str},
                              keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    old_criteria = pd.read_csv(previous_dir / "criteria.csv", dtype={"unit_code": str, "criterion_code": str}, encoding="utf-8-sig")
    old_ded = None
    if "deductions" in manifest["inputs"]:
        from tasks.ingest import read_table

        old_ded = read_table(previous_dir / manifest["inputs"]["deductions"]["file"], "deductions").frame
    new_ded = bundle.tables["deductions"].frame if "deductions" in bundle.tables else None
    table = bundle.tables["corrections"]
    corr, _ = check_corrections(table.frame, table.file, bundle.methodology, computed.checked.units)
    return compute_changes(corr, old_results, computed.results, old_criteria, computed.criteria_published,
                           old_ded, new_ded)


def verify_publication(folder: Path, db: str | None = None) -> list[dict]:
    """Problems (empty = intact) of the publication in `folder`: every archived input and every output still
    has the sha256 its manifest recorded, no path of the manifest leaves the folder, and the database (`db`,
    default the one the manifest names) holds the run the manifest names."""
    from tasks import store

    folder = Path(folder).resolve()

    def problem(file, en, vi, value=""):
        return {"file": file, "row": None, "unit_code": "", "column": "", "value": value, "problem": en,
                "severity": "error", "problem_vi": vi, "check": "verify"}

    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        inputs, outputs = manifest["inputs"], manifest.get("outputs", {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [problem(str(path), f"is missing or unreadable ({exc.__class__.__name__}): not a publication",
                        "không có hoặc không đọc được: không phải thư mục công bố")]
    found = []
    entries = [(role, info.get("file", ""), info.get("sha256", "")) for role, info in inputs.items()]
    entries += [("output", name, sha) for name, sha in outputs.items()]
    for role, name, sha in entries:
        target = (folder / str(name)).resolve()
        if not target.is_relative_to(folder):
            found.append(problem(str(name), "is named by manifest.json but lies outside the publication folder",
                                 "được manifest.json ghi nhưng nằm ngoài thư mục công bố"))
        elif not target.is_file():
            found.append(problem(str(name), "is named by manifest.json but missing", "có trong manifest.json nhưng bị mất"))
        elif file_sha256(target) != sha:
            found.append(problem(str(name), f"was changed after publication (sha256 differs from manifest.json; "
                                 f"{role})", "đã bị sửa sau khi công bố (mã băm sha256 khác manifest.json)"))
    url = db or manifest.get("database")
    try:
        status = store.run_status(url, manifest.get("run_id", "")) if url else None
    except Exception as exc:  # an unreachable or unreadable database
        found.append(problem(store.redact(url), f"cannot be read ({exc.__class__.__name__})",
                             "không đọc được cơ sở dữ liệu"))
        return found
    if status is None:
        found.append(problem(store.redact(url) if url else "manifest.json",
                             f"does not hold run {manifest.get('run_id')} that manifest.json names (was the "
                             "database replaced or deleted?)", f"không có lần chạy {manifest.get('run_id')} mà "
                             "manifest.json ghi (cơ sở dữ liệu đã bị thay hoặc xóa?)", manifest.get("run_id", "")))
    return found
