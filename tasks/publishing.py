"""Edge module: stage a publication in a hidden folder and move it into place only when it is complete.

A failed run leaves the earlier publication in its folder unchanged: outputs are written to
`DIR/.staging-<run_id>/`; at publication a journal (`DIR/.swap-<run_id>.json`, written by one atomic rename)
names the run, the earlier files move to `DIR/.previous-<run_id>/`, the staged ones move in (renames on one
filesystem), the database transaction commits, and only then are the backup and the journal removed. A kill
at any point is repaired by the next run, failing or not (`recover_interrupted`): the database decides —
holding the run, the swap is completed; not holding it, the earlier publication is restored.
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

from tasks import store
from tasks.ingest import read_table
from tasks.methodology import file_sha256
from tasks.problems import PROBLEM_COLUMNS, Problem, problem_row
from tasks.render import render_html, write_csv
from tasks.validation_page import build_validation_context

REPO = Path(__file__).resolve().parent.parent
#: what a publication consists of; anything else in DIR (the SQLite database, the user's files) is left alone
def published_names(folder: Path) -> list[str]:
    """The top-level entries of the publication in `folder`, derived from its manifest: manifest.json, the
    archived inputs and every output the manifest hashes. A new output is published because it is in the
    manifest, never because someone remembered to list it."""
    path = folder / "manifest.json"
    if not path.is_file():
        return []
    try:
        outputs = json.loads(path.read_text(encoding="utf-8")).get("outputs", {})
    except (OSError, ValueError):
        return []
    names = {"manifest.json", "inputs"} | {Path(k).parts[0] for k in outputs}
    return sorted(n for n in names if (folder / n).exists())


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
        notes += recover_journals(out)
        for backup in sorted(out.glob(".previous-*")):  # left by a version without journals
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


JOURNAL = ".swap-{run_id}.json"
#: fault injection for the kill-at-every-step test: with PARINDEX_KILL_AT_STEP=k the process dies (os._exit,
#: like kill -9: no cleanup runs) just before the k-th step of publishing; unset in production
_KILL_ENV = "PARINDEX_KILL_AT_STEP"
_steps = [0]


def _step() -> None:
    at = os.environ.get(_KILL_ENV)
    if at:
        _steps[0] += 1
        if _steps[0] == int(at):
            os._exit(137)


def _write_journal(out: Path, journal: dict) -> Path:
    """The swap's journal, replaced in one rename: recovery reads either the old or the new state."""
    path = out / JOURNAL.format(run_id=journal["run_id"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(journal), encoding="utf-8")
    _fsync(tmp)
    _step()
    os.replace(tmp, path)
    _fsync_dir(out)
    return path


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish_staged(staging: Path, out: Path, url: str, write_rows: Callable, run_id: str) -> None:
    """Publish the complete publication in `staging` into `out` and the rows `write_rows(conn)` writes into
    the database at `url`, so that a kill at any instant leaves, once the next run has recovered, either the
    earlier publication or this one, each complete and each matching the database.

    The order: a journal naming the run, its staging and backup folders is written first (one atomic rename);
    the earlier files move to the backup and the staged ones into `out`; the database transaction commits;
    the journal is removed with the backup. `recover_interrupted` reads a journal left behind by a kill: when
    the database holds the run, the swap is completed; when it does not, the earlier files are restored.
    """

    engine = store.make_engine(url)
    backup = out / f".previous-{run_id}"
    try:
        with store.publication_lock(engine), folder_lock(out):
            store.migrate(engine)
            with engine.connect() as conn:
                trans = conn.begin()
                try:
                    write_rows(conn)
                    new = published_names(staging)  # an unreadable earlier manifest: its names are still moved
                    old = sorted(set(published_names(out)) | {n for n in new if (out / n).exists()})
                    journal = _write_journal(out, {
                        "run_id": run_id, "staging": staging.name, "backup": backup.name,
                        "database": store.redact(url), "old": old, "new": new})
                    _swap(staging, out, backup, old, new)
                    _step()
                    trans.commit()
                except BaseException:
                    if trans.is_active:
                        trans.rollback()
                    path = out / JOURNAL.format(run_id=run_id)
                    if path.exists():
                        _roll_back(out, json.loads(path.read_text(encoding="utf-8")))
                        path.unlink()
                    raise
            _step()
            _finish(out, backup, staging, journal)
    finally:
        engine.dispose()


def _swap(staging: Path, out: Path, backup: Path, old: list[str], new: list[str]) -> None:
    """The earlier publication's entries move to the backup, then this one's move in."""
    backup.mkdir(exist_ok=True)
    for name in old:
        if (out / name).exists():
            _step()
            (out / name).rename(backup / name)
    for name in new:
        _step()
        (staging / name).rename(out / name)
    _fsync_dir(out)


def _finish(out: Path, backup: Path, staging: Path, journal: Path) -> None:
    shutil.rmtree(backup, ignore_errors=True)
    _step()
    journal.unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


def _roll_back(out: Path, journal: dict) -> None:
    """Put the earlier publication back: this run's files return to its staging folder, the backup's to `out`.
    The earlier files all move to the backup before the first new one moves in, so a name of `out` is this
    run's exactly when the backup holds the earlier file of that name, or there was none."""
    staging, backup = out / journal["staging"], out / journal["backup"]
    staging.mkdir(exist_ok=True)
    for name in journal["new"]:
        ours = (backup / name).exists() or name not in journal["old"]
        if (out / name).exists() and ours and not (staging / name).exists():
            (out / name).rename(staging / name)
    if backup.is_dir():
        for item in backup.iterdir():
            if not (out / item.name).exists():
                item.rename(out / item.name)
    shutil.rmtree(backup, ignore_errors=True)
    _fsync_dir(out)


def _roll_forward(out: Path, journal: dict) -> None:
    """Complete a swap whose database transaction committed: the staged files still waiting move in."""
    staging, backup = out / journal["staging"], out / journal["backup"]
    for name in journal["new"]:
        if not (staging / name).exists():
            continue  # already in place
        target = out / name
        if target.exists():  # the earlier file, not yet moved aside
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        (staging / name).rename(target)
    for name in journal["old"]:  # an earlier file this publication does not have (changes.csv of a rerun)
        if name not in journal["new"] and (out / name).exists() and not (backup / name).exists():
            backup.mkdir(exist_ok=True)
            (out / name).rename(backup / name)
    shutil.rmtree(backup, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(out)


def recover_journals(out: Path) -> list[str]:
    """Finish or undo every swap a killed run left in `out` (its journal says which run; the database says
    whether it committed). A database that cannot be asked stops the run: guessing could lose a publication."""

    notes = []
    for path in sorted(out.glob(".swap-*.json")):
        journal = json.loads(path.read_text(encoding="utf-8"))
        try:
            committed = store.run_status(journal["database"], journal["run_id"]) is not None
        except Exception as exc:
            raise RuntimeError(f"{path}: a publication was interrupted and the database "
                               f"{journal['database']} cannot be asked whether it committed ({exc}); "
                               "make the database reachable and run again") from exc
        if committed:
            _roll_forward(out, journal)
            notes.append(f"completed the publication of run {journal['run_id']} interrupted after its commit")
        else:
            _roll_back(out, journal)
            shutil.rmtree(out / journal["staging"], ignore_errors=True)
            notes.append(f"restored the earlier publication: run {journal['run_id']} was interrupted before "
                         "its commit")
        path.unlink()
        path.with_suffix(".tmp").unlink(missing_ok=True)
    for tmp in out.glob(".swap-*.tmp"):
        tmp.unlink(missing_ok=True)
    return notes


def problem_summary(problems, limit: int = 25) -> str:
    """What a command prints when inputs are refused: counts, then the first errors, each in English and
    Vietnamese, naming file, row (or a workbook's cell), unit, column and value. `problems`: Problem rows or
    errors.csv as a frame. The one formatter of problems on a terminal (and of validation/summary.txt)."""
    import pandas as pd

    if not isinstance(problems, pd.DataFrame):
        problems = pd.DataFrame([p.as_row() for p in problems], columns=PROBLEM_COLUMNS)
    errors = problems[problems["severity"] == "error"]
    lines = [f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s) / "
             f"{len(errors)} lỗi, {len(problems) - len(errors)} cảnh báo"]
    for p in errors.head(limit).itertuples(index=False):
        cell = p.check.removeprefix("forms:") if str(p.check).startswith("forms:") else ""
        where = f"{p.file}" + (f" row {int(p.row)}" if pd.notna(p.row) and p.row != "" else "") + \
            (f" cell {cell}" if cell else "")
        unit = f" unit {p.unit_code}" if p.unit_code else ""
        value = f" [{p.column}={p.value!s}]" if p.column else ""
        lines.append(f"  {where}{unit}{value}: {p.problem}")
        if p.problem_vi:
            lines.append(f"      {p.problem_vi}")
    if len(errors) > limit:
        lines.append(f"  … and {len(errors) - limit} more in validation/errors.csv")
    return "\n".join(lines) + "\n"


def write_validation(out: Path, problems) -> Path:
    """Replace `out/validation/` with the problems of the latest attempt (a frame, or problem rows as
    ingest.unreadable_rows and the checks make them): errors.csv, summary.txt (what the command prints,
    problem_summary) and report.html (the page a council reads)."""
    import pandas as pd


    problems = (problems.copy() if isinstance(problems, pd.DataFrame) else
                pd.DataFrame([p.as_row() for p in problems], columns=PROBLEM_COLUMNS))
    summary = problem_summary(problems)
    final = out / "validation"
    tmp = out / ".validation-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    problems["row"] = pd.to_numeric(problems["row"], errors="coerce").astype("Int64")  # 7, never 7.0

    write_csv(problems, tmp / "errors.csv")
    (tmp / "summary.txt").write_text(summary, encoding="utf-8")

    page = render_html(build_validation_context(problems), template="validation.html.jinja")
    (tmp / "report.html").write_text(page, encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final / "errors.csv"


def manifest_of(run, publication: dict, m, archived, checked, database: str, units: int, changes) -> dict:
    """manifest.json's record of a run (a finished tasks.runrecord.RunRecord; the outputs' hashes are added by
    write_manifest): what was published, from which inputs (role → archived file, its source, sha256, bytes and
    row counts), by which code, when; `publication`: draft, published_on and the folder it corrects."""
    return {
        "run_id": run.run_id, "version": run.version, "parent_run_id": run.parent_run_id,
        "status": "published", "province": run.province, "year": m.year, "level": m.level,
        "methodology_id": m.id, "methodology_sha256": m.sha256, "methodology": "inputs/methodology.yaml",
        "inputs": {f.role: {"file": f.archived, "source": f.source, "sha256": f.sha256, "bytes": f.bytes,
                            **checked.counts.get(Path(f.archived).name, {})} for f in archived},
        "inputs_sha256": run.inputs_sha256, "database": database,
        "code_version": run.code_version, "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(), "units": units,
        "warnings": len(checked.problems), "synthetic": run.synthetic,
        "corrects": publication["corrects"], "changes": None if changes is None else len(changes),
        "draft": bool(publication["draft"]), "published_on": publication["published_on"],
    }


def write_manifest(path: Path, manifest: dict, staging: Path) -> None:
    """manifest.json, with the sha256 of every other published file in the staging folder."""
    outputs = {}
    for f in sorted(staging.rglob("*")):
        rel = f.relative_to(staging)
        if f.is_file() and f.name != "manifest.json" and rel.parts[0] != "inputs" and not f.name.startswith("."):
            outputs[str(rel)] = file_sha256(f)
    manifest = {**manifest, "outputs": outputs}
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def published_tables(previous_dir: Path) -> dict:
    """What a corrected run is compared with (corrections.changes_against): the publication's results.csv,
    criteria.csv and archived deductions (None when it had none)."""
    import pandas as pd

    manifest = json.loads((previous_dir / "manifest.json").read_text(encoding="utf-8"))
    ded = manifest["inputs"].get("deductions")
    return {
        "results": pd.read_csv(previous_dir / "results.csv", dtype={"unit_code": str, "criterion_code": str},
                               keep_default_na=False, na_values=[""], encoding="utf-8-sig"),
        "criteria": pd.read_csv(previous_dir / "criteria.csv", dtype={"unit_code": str, "criterion_code": str},
                                encoding="utf-8-sig"),
        "deductions": read_table(previous_dir / ded["file"], "deductions").frame if ded else None}


def verify_publication(folder: Path, db: str | None = None) -> list[Problem]:
    """Problems (empty = intact) of the publication in `folder`: every archived input and every output still
    has the sha256 its manifest recorded, no path of the manifest leaves the folder, and the database (`db`,
    default the one the manifest names) holds the run the manifest names."""

    folder = Path(folder).resolve()

    def problem(file, en, vi, value=""):
        return problem_row(file, en, vi, value=value, check="verify")

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
