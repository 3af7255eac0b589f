"""Output paths not covered elsewhere: raw dossiers as CSV or Parquet give the same results; hostile text in
unit names and notes stays inert in HTML and Excel; scorecards made in child processes."""

import gc
import shutil
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import appendix, render, report
from tests.helpers import compute_folder, edit_csv, read_folder


def test_raw_dossiers_csv_and_parquet_agree(sample_root, tmp_path):
    folder = tmp_path / "dept"
    shutil.copytree(sample_root / "2024" / "department", folder)
    parquet = compute_folder(folder, tmp_path / "a")
    raw = pd.read_parquet(folder / "dossiers.parquet")
    raw.to_csv(folder / "dossiers.csv", index=False)
    (folder / "dossiers.parquet").unlink()
    as_csv = compute_folder(folder, tmp_path / "b")
    pd.testing.assert_frame_equal(parquet.results, as_csv.results)
    # on time = resolved_at <= due_at; pending dossiers count as received only
    unit = raw["unit_code"].iloc[0]
    mine = raw[raw["unit_code"] == unit]
    resolved = mine["resolved_at"].notna()
    on_time = (mine["resolved_at"] <= mine["due_at"]) & resolved
    rates = parquet.rates.set_index("unit_code").loc[unit]
    assert rates["received"] == len(mine) and rates["resolved"] == resolved.sum()
    assert rates["on_time_rate"] == on_time.sum() / resolved.sum()


def test_hostile_text_is_escaped_in_html_and_not_a_formula_in_excel(mini, tmp_path):
    evil = '<script>alert("x")</script>'
    edit_csv(mini / "units.csv", lambda d: d.assign(unit_name=d["unit_name"].where(d.index != 0, evil)))
    bundle = read_folder(mini, tmp_path / "run")
    computed = compute_folder(mini, tmp_path / "run2")
    run = {"run_id": "r", "version": 1, "code_version": "t", "started_at": datetime(2025, 4, 12, tzinfo=UTC),
           "files": bundle.files, "inputs_sha256": "0" * 64}
    html = render.render_html(report.build_context(bundle.methodology, bundle.index, computed, run, "vi"))
    assert evil not in html and "&lt;script&gt;" in html
    results = computed.results.assign(unit_name=computed.results["unit_name"].where(
        computed.results.index != 1, "=HYPERLINK(\"http://x\",\"y\")"))
    render.write_xlsx(tmp_path / "r.xlsx", {"results": results}, 2)
    from openpyxl import load_workbook

    cell = load_workbook(tmp_path / "r.xlsx")["results"]["B3"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


def _pid_of(job):
    import os
    import time

    time.sleep(job[1])
    return job[0], os.getpid(), gc.isenabled()


def _broken(job):
    raise ValueError(f"cannot write {job}")


def test_scorecards_are_made_in_child_processes_and_their_errors_come_back(tmp_path):
    import os

    jobs = [("a", 0.3), ("b", 0.0), ("c", 0.1)]
    done = render.Children(_pid_of, jobs).results()
    assert [name for name, _, _ in done] == ["a", "b", "c"]  # in the order of the jobs, not of finishing
    assert os.getpid() not in {pid for _, pid, _ in done} and len({pid for _, pid, _ in done}) == 3
    assert not any(enabled for _, _, enabled in done) and gc.isenabled()  # collector off only in the children
    with pytest.raises(render.ChildFailed, match=r"ValueError: cannot write units/x\.pdf"):
        render.Children(_broken, ["units/x.pdf", "units/y.pdf"]).results()


def _waits_for(path):
    import time
    from pathlib import Path

    for _ in range(600):  # the parent writes it while this child runs (at most 60 s)
        if Path(path).exists():
            return "the parent went on"
        time.sleep(0.1)
    return "the parent waited"


def test_background_children_run_while_the_parent_works_and_are_cancelled_cleanly(tmp_path):
    """The scorecards and the workbook are made in children while the parent typesets the reports: a child
    that waits for a file the parent writes after starting it sees the file. A parent that fails ends its
    children and reaps them."""
    import os

    go = tmp_path / "go"
    background = render.Children(_waits_for, [str(go)])
    go.write_text("go")
    assert background.results() == ["the parent went on"]
    stuck = render.Children(_waits_for, [str(tmp_path / "never")])
    pid = next(iter(stuck.running.values()))[1]
    stuck.cancel()
    assert not stuck.running and not stuck.pending
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)
    # one worker (a Dask worker of the national run): no fork, the jobs run here as they are given
    here = render.in_background([os.getpid], workers=1)
    here.add([lambda: "second"])
    assert here.results() == [os.getpid(), "second"]


def test_the_reports_dossier_table_has_a_column_per_metric_and_satisfaction_from_the_core(mini, tmp_path):
    """Every metric of tasks/schema.py the units have figures for is a column of the report's dossier table
    (a new metric needs no template change), and satisfaction is the scoring core's figure, as in Excel."""
    from tasks.numbers import format_number, publish
    from tasks.schema import METRICS
    from tasks.scoring import satisfaction_pct

    bundle = read_folder(mini, tmp_path / "run")
    computed = compute_folder(mini, tmp_path / "run2")
    run = {"run_id": "r", "version": 1, "code_version": "t", "started_at": datetime(2025, 4, 12, tzinfo=UTC),
           "files": bundle.files, "inputs_sha256": "0" * 64}
    for lang in ("vi", "en"):
        table = report.build_context(bundle.methodology, bundle.index, computed, run, lang)["dossier_table"]
        assert table["heads"] == [mt.short(lang) for mt in METRICS.values()] + [report.LABELS[lang]["satisfaction"]]
        assert all(len(r["cells"]) == len(table["heads"]) for r in table["rows"])
    late = computed.rates.set_index("unit_code")["late_rate"]
    first = computed.ranked.iloc[0]
    row = next(r for r in table["rows"] if r["unit_name"].startswith(first["unit_name"]))
    assert row["cells"][list(METRICS).index("late_rate")] == format_number(late[first["unit_code"]] * 100, 2, "en")
    sheet = appendix.appendix_sheets(bundle.methodology, computed)["Hồ sơ – khảo sát"].set_index("Mã đơn vị")
    expected = satisfaction_pct(bundle.methodology, computed.results.set_index("unit_code")["survey_points"])
    assert sheet["Hài lòng (%)"].astype(float).tolist() == [publish(v, 2) for v in expected.reindex(sheet.index)]


def test_every_output_the_manifest_hashes_is_published_and_one_a_later_version_lacks_goes(tmp_path):
    """The published files are derived from the manifest: a new output (not on any hand-kept list) moves into
    place with the rest, and is moved away when the next publication no longer has it."""
    import json

    from tasks import publishing

    out = tmp_path / "out"
    out.mkdir()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def publish(run_id: str, files: dict[str, str]) -> None:
        staging = publishing.make_staging(out, run_id)
        (staging / "inputs").mkdir()
        (staging / "inputs" / "units.csv").write_text("unit_code\n", encoding="utf-8")
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        publishing.write_manifest(staging / "manifest.json", {"run_id": run_id}, staging)
        publishing.publish_staged(staging, out, url, lambda conn: None, run_id)

    publish("r1", {"results.csv": "a", "sensitivity.csv": "a new kind of output"})
    assert (out / "sensitivity.csv").read_text(encoding="utf-8") == "a new kind of output"
    assert "sensitivity.csv" in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    (out / "notes.txt").write_text("the department's own file", encoding="utf-8")
    publish("r2", {"results.csv": "b"})
    assert (out / "results.csv").read_text(encoding="utf-8") == "b" and not (out / "sensitivity.csv").exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "inputs", "manifest.json", "notes.txt", "results.csv"]  # the department's own file is left alone


def _typeset_in(pids_file):
    """tasks.typeset's typst.compile, recording the process that runs it (this one, or a fork of it)."""
    import os

    from tasks import typeset

    compile_ = typeset.typst.compile

    def recording(*args, **kwargs):
        with open(pids_file, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return compile_(*args, **kwargs)
    return recording


@pytest.mark.parametrize("workers", [2, 1])
def test_the_reports_are_typeset_in_processes_of_their_own_so_typsts_memo_leaves_with_them(
        mini, tmp_path, monkeypatch, workers):
    """Typst keeps the layouts of a process's last ten documents (~125 MB each for 207 units): a national
    worker typesetting report after report held a gigabyte. render_outputs typesets each report in a process
    of its own (a child of the typesetter, tasks.typeset.Zygote), neither in this process nor in a fork of
    it: Typst in a process forked after Typst had run in its parent waits forever (its worker threads are not
    in the fork), which is the case here."""
    import signal

    from flows.annual import render_outputs
    from tasks import typeset

    bundle = read_folder(mini, tmp_path / "run")
    computed = compute_folder(mini, tmp_path / "run2")
    run = {"run_id": "r", "version": 1, "code_version": "t", "started_at": datetime(2025, 4, 12, tzinfo=UTC),
           "files": bundle.files, "inputs_sha256": "0" * 64, "methodology_sha256": "0" * 64, "draft": False}
    context = report.build_context(bundle.methodology, bundle.index, computed, run, "vi")
    render.pdf("report.typ", context, tmp_path / "here.pdf")  # Typst has run in this process
    pids = tmp_path / "pids.txt"
    monkeypatch.setattr(typeset.typst, "compile", _typeset_in(pids))
    staging = tmp_path / "staging"
    staging.mkdir()

    def hung(*_):
        raise TimeoutError("render_outputs did not finish in 120 s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        render_outputs.fn(staging, bundle, computed, run, workers=workers, unit_pdfs=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not pids.exists()  # no report typeset here or in a fork of this process
    for lang in ("vi", "en"):
        assert (staging / f"report.{lang}.pdf").read_bytes().startswith(b"%PDF")
    assert (staging / "report.vi.pdf").read_bytes() == render.pdf(  # the same bytes as typeset here
        "report.typ", context, tmp_path / "again.pdf", when=run["started_at"]).read_bytes()


def _bytes_both_ways(monkeypatch, write) -> tuple[bytes, bytes]:
    """What `write(path)` puts in results.xlsx with the tables' bodies given a column at a time (production)
    and with every cell written by its own xlsxwriter call (the reference)."""
    import functools
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        fast = write(Path(tmp) / "fast")
        with monkeypatch.context() as m:
            m.setattr(render, "write_xlsx", functools.partial(render.write_xlsx, cell_by_cell=True))
            slow = write(Path(tmp) / "slow")
        return Path(fast).read_bytes(), Path(slow).read_bytes()


def test_the_appendix_workbook_is_byte_for_byte_what_cell_by_cell_writing_gives(sample_root, tmp_path, monkeypatch):
    """tasks/xlsxsheet.py writes the tables' bodies itself: on the sample's commune index (207 units, a previous
    year, deductions) and its district index corrected (the errata sheet), flows.annual writes the very file
    xlsxwriter writes cell by cell — shared strings, styles, spans, every sheet."""
    from flows.annual import _write_workbook
    from tasks.corrections import compute_changes
    from tasks.ranking import published_proforma
    from tasks.runrecord import RunRecord

    for level in ("commune", "district"):
        folder = sample_root / "2024" / level
        bundle = read_folder(folder, tmp_path / level / "read")
        computed = compute_folder(folder, tmp_path / level / "run")
        run = RunRecord(run_id="r", version=2, parent_run_id="p", province="Tỉnh Hải Dương", year=2024, level=level,
                        methodology_id=bundle.methodology.id, methodology_sha256="0" * 64, inputs_sha256="1" * 64,
                        code_version="t", out_dir=str(tmp_path), synthetic=True,
                        started_at=datetime(2025, 4, 12, tzinfo=UTC)).row()
        changes = None
        if level == "district":  # an errata table as a rerun has it: one unit's criterion raised on complaint
            unit, code = computed.criteria_published.iloc[0][["unit_code", "criterion_code"]]
            old = computed.criteria_published.assign(points=computed.criteria_published["points"].where(
                (computed.criteria_published["unit_code"] != unit)
                | (computed.criteria_published["criterion_code"] != code), 0.0))
            corr = pd.DataFrame([{"unit_code": unit, "criterion_code": code, "column": "appraised_points",
                                  "reason": "Khiếu nại được chấp nhận", "reference": "CV 12/SNV"}])
            changes = compute_changes(corr, computed.results, computed.results, old, computed.criteria_published,
                                      None, None)
            assert len(changes) == 1

        def write(out, bundle=bundle, computed=computed, run=run, changes=changes):
            out.mkdir()
            return _write_workbook(out, bundle, computed, {**run, "files": bundle.files}, changes,
                                   published_proforma(bundle.methodology, computed.ranked))

        fast, slow = _bytes_both_ways(monkeypatch, write)
        assert fast == slow, level
        from openpyxl import load_workbook

        with open(tmp_path / f"{level}.xlsx", "wb") as fh:
            fh.write(fast)
        wb = load_workbook(tmp_path / f"{level}.xlsx", read_only=True)
        criteria = list(wb["criteria"].iter_rows(values_only=True))
        assert len(criteria) == 1 + len(computed.criteria_published)  # every criterion row, read back


_cells = st.one_of(st.none(), st.booleans(), st.integers(-10**17, 10**17),
                   st.floats(allow_nan=True, allow_infinity=False, width=64), st.text(max_size=12))


@settings(max_examples=60)
@given(st.lists(st.sampled_from(["bool", "int", "float", "text", "mixed"]), min_size=1, max_size=6),
       st.integers(0, 40), st.lists(st.text(min_size=1, max_size=20), max_size=2), st.data())
def test_any_table_is_written_byte_for_byte_as_cell_by_cell(kinds, rows, title, data):
    """Random tables — booleans, integers, floats with gaps, text with gaps, columns of mixed values, `_rate`
    columns, a title or none — give the same bytes both ways; an infinite number is refused both ways."""
    import tempfile
    from pathlib import Path

    frame = {}
    for i, kind in enumerate(kinds):
        strategy = {"bool": st.booleans(), "int": st.integers(-10**12, 10**12),
                    "float": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                    "text": st.one_of(st.none(), st.text(max_size=15)), "mixed": _cells}[kind]
        values = data.draw(st.lists(strategy, min_size=rows, max_size=rows))
        dtype = {"bool": bool, "int": "int64", "float": "float64", "text": "string", "mixed": object}[kind]
        frame[f"c{i}_rate" if i % 2 else f"cột {i}"] = pd.Series(values, dtype=dtype)
    df = pd.DataFrame(frame)
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for by_cell in (False, True):
            path = Path(tmp) / f"{by_cell}.xlsx"
            render.write_xlsx(path, {"bảng": df, "results": df.head(3)}, 2, {"bảng": title} if title else None,
                              cell_by_cell=by_cell)
            out[by_cell] = path.read_bytes()
        assert out[False] == out[True]
        if rows:
            bad = df.assign(**{df.columns[0]: [float("inf")] * rows})
            for by_cell in (False, True):
                with pytest.raises(TypeError):
                    render.write_xlsx(Path(tmp) / "inf.xlsx", {"t": bad}, 2, cell_by_cell=by_cell)
