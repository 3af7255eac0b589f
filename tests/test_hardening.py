"""Nothing forged, no one in (issue 15): tampered publications, secrets, YAML bombs, formula injection, hidden
characters, paths that leave the folder, unbounded error lists, bad index.yaml values — each ends in a plain
exit 2 naming what is wrong (or in a guarded output), never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tasks import publishing, store
from tests.conftest import REPO
from tests.helpers import edit_csv, read_folder

pytestmark = pytest.mark.xdist_group("flow")


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def errors_of(out) -> pd.DataFrame:
    return pd.read_csv(out / "validation" / "errors.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture
def published(prefect_harness, mini, tmp_path):
    from flows.annual import annual_run

    out = tmp_path / "v1"
    annual_run(inputs=str(mini), out=str(out), unit_pdfs=False)
    return out


@pytest.mark.flow
def test_a_tampered_input_or_output_is_found_and_a_rerun_refuses_it(published, tmp_path):
    from flows.rerun import rerun
    from tasks.compute import InputsUnreadable

    assert publishing.verify_publication(published) == []
    edit_csv(published / "inputs" / "self_assessment.csv",
             lambda d: d.assign(appraised_points=d["appraised_points"].where(d.index != 0, "0")))
    (published / "results.csv").write_text("forged\n", encoding="utf-8")
    found = publishing.verify_publication(published)
    assert {p.file for p in found} == {"inputs/self_assessment.csv", "results.csv"}
    corr = tmp_path / "c.csv"
    corr.write_text("unit_code,criterion_code,column,new_value,reason,reference\nU01,1.1,appraised_points,1,x,y\n",
                    encoding="utf-8")
    with pytest.raises(InputsUnreadable):
        rerun(from_dir=str(published), corrections=str(corr), out=str(tmp_path / "v2"))
    assert "inputs/self_assessment.csv" in set(errors_of(tmp_path / "v2")["file"])
    assert not (tmp_path / "v2" / "results.csv").exists()


@pytest.mark.flow
def test_a_replaced_database_is_found(published):
    (published / "parindex.sqlite").unlink()
    found = publishing.verify_publication(published)
    assert len(found) == 1 and "does not hold run" in found[0].problem


@pytest.mark.flow
def test_a_manifest_pointing_outside_the_folder_is_refused(published):
    import json

    m = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
    m["inputs"]["units"]["file"] = "../../../etc/passwd"
    (published / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    found = publishing.verify_publication(published)
    assert any("outside the publication folder" in p.problem for p in found)


def test_passwords_never_reach_manifests_errors_or_flow_parameters():
    url = "postgresql+psycopg://app:s3cr3t@db.example/parindex?password=other&sslmode=require"
    assert "s3cr3t" not in store.redact(url) and "other" not in store.redact(url)
    assert store.redact(url).endswith("?sslmode=require")
    saved = os.environ.pop(store.PASSWORD_ENV, None)
    try:
        bare = store.split_secret(url)
        assert "s3cr3t" not in bare and os.environ[store.PASSWORD_ENV] == "s3cr3t"
        assert store.make_engine(bare).url.password == "s3cr3t"  # the engine gets it from the environment
    finally:
        os.environ.pop(store.PASSWORD_ENV, None)
        if saved is not None:
            os.environ[store.PASSWORD_ENV] = saved


@pytest.mark.flow
@pytest.mark.postgres
def test_on_postgresql_the_flow_run_records_carry_no_password(prefect_harness, db_url, mini, tmp_path,
                                                               monkeypatch):
    from prefect.client.orchestration import get_client

    from flows.cli import main

    if not db_url.startswith("postgresql"):
        pytest.skip("the secret is a PostgreSQL password")
    password = store.make_engine(db_url).url.password
    monkeypatch.delenv(store.PASSWORD_ENV, raising=False)  # main() sets it: undone after the test
    assert main(["run", "--inputs", str(mini), "--out", str(tmp_path / "pg"), "--db", db_url,
                 "--no-unit-pdfs"]) == 0
    import gc

    assert gc.get_freeze_count() == 0  # only the console script freezes its imports: this process lives on
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=200)
    os.environ.pop(store.PASSWORD_ENV, None)
    params = [r.parameters for r in runs if r.parameters.get("out") == str(tmp_path / "pg")]
    secret = f":{password}@"  # the test role's password is also part of the database's name
    assert params and all(secret not in str(p) for p in params) and "@" in params[0]["db"]
    manifest = (tmp_path / "pg" / "manifest.json").read_text(encoding="utf-8")
    assert secret not in manifest


def test_a_yaml_alias_bomb_is_refused_quickly_and_small(mini, tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        p, q = chr(96 + i), chr(97 + i)
        lines.append(f"{q}: &{q} [" + ",".join([f"*{p}"] * 9) + "]")
    index = yaml.safe_load((mini / "index.yaml").read_text(encoding="utf-8"))
    text = yaml.safe_dump(index, allow_unicode=True) + "\n".join(lines) + "\n"
    (mini / "index.yaml").write_text(text, encoding="utf-8")
    code = ("import resource, sys; from flows.cli import main; "
            f"rc = main(['run', '--inputs', {str(mini)!r}, '--out', {str(tmp_path / 'o')!r}]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "refused" in done.stderr
    # peak RSS in KiB: the libraries of a run (~0.5 GiB), the bomb never expanded (it took 12–15 GB before)
    assert int(done.stdout.split()[-1]) < 1024 * 1024


def test_formula_text_is_guarded_in_every_csv_output(mini, tmp_path):
    from tasks.render import write_csv
    from tests.helpers import compute_folder

    edit_csv(mini / "units.csv", lambda d: d.assign(unit_name=d["unit_name"].where(
        d["unit_code"] != "U01", '=HYPERLINK("http://x","y")')))
    results = compute_folder(mini, tmp_path / "run").results
    write_csv(results, tmp_path / "results.csv")
    raw = (tmp_path / "results.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"'=HYPERLINK" in raw and b",=HYPERLINK" not in raw
    back = pd.read_csv(tmp_path / "results.csv", encoding="utf-8-sig", dtype=str)
    assert back.loc[back["unit_code"] == "U01", "unit_name"].iloc[0].startswith("'=")


@pytest.mark.parametrize(("name", "char"), [("nul", "\x00"), ("rtl override", "\u202e"), ("bell", "\x07")])
def test_hidden_characters_in_a_name_are_refused_with_the_cell(mini, tmp_path, name, char):
    from expectations.suites import validate
    from tasks.compute import ValidationFailed

    edit_csv(mini / "units.csv", lambda d: d.assign(unit_name=d["unit_name"].where(
        d["unit_code"] != "U02", f"Huyện{char}Hai")))
    with pytest.raises(ValidationFailed) as exc:
        validate(read_folder(mini, tmp_path / "run"))
    p = exc.value.checked.problems_frame()
    hit = p[(p["file"] == "units.csv") & (p["column"] == "unit_name")]
    assert len(hit) == 1 and hit.iloc[0]["row"] == 3 and "U+" in hit.iloc[0]["problem"]
    assert char not in hit.iloc[0]["value"]


def test_a_repeated_header_column_is_refused(mini, tmp_path):
    from tasks.ingest import InputError

    text = (mini / "units.csv").read_text(encoding="utf-8").splitlines()
    (mini / "units.csv").write_text("\n".join([text[0] + ",unit_name"] + [t + ",X" for t in text[1:]]) + "\n",
                                    encoding="utf-8")
    with pytest.raises(InputError, match="unit_name appears twice"):
        read_folder(mini, tmp_path / "run")


def test_previous_results_listing_a_unit_twice_is_an_error(mini, tmp_path):
    from expectations.suites import validate
    from tasks.compute import ValidationFailed

    edit_csv(mini / "previous_results.csv", lambda d: pd.concat([d, d.iloc[[0]]]))
    with pytest.raises(ValidationFailed) as exc:
        validate(read_folder(mini, tmp_path / "run"))
    p = exc.value.checked.problems_frame()
    assert (p["file"] == "previous_results.csv").any() and p["problem"].str.contains("duplicate").any()


@pytest.mark.parametrize(("key", "value", "says"), [
    ("year", "hai nghìn", "is for 2024"),
    ("province", {"a": 1}, "province's name"),
    ("publication", "UBND", "must be a mapping"),
])
def test_bad_index_values_are_exit_2_without_a_traceback(mini, tmp_path, key, value, says):
    index = yaml.safe_load((mini / "index.yaml").read_text(encoding="utf-8"))
    index[key] = value
    (mini / "index.yaml").write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
    from expectations.suites import validate
    from tasks.compute import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        validate(read_folder(mini, tmp_path / "run"))
    p = exc.value.checked.problems_frame()
    assert p[p["file"] == "index.yaml"]["problem"].str.contains(says).any()


@pytest.mark.parametrize(("key", "value"), [("previous_results", "/etc/passwd"),
                                            ("previous_results", "../" * 20 + "etc/hostname"),
                                            ("methodology", "../outside.yaml")])
def test_paths_that_leave_the_input_folder_are_refused(mini, tmp_path, key, value):
    from tasks.ingest import InputError, locate_inputs

    shutil.copyfile(mini / "methodology.yaml", mini.parent / "outside.yaml")
    index = yaml.safe_load((mini / "index.yaml").read_text(encoding="utf-8"))
    index[key] = value
    (mini / "index.yaml").write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match="leaves"):
        locate_inputs(mini)


def test_a_yaml_error_never_prints_the_files_lines(mini, tmp_path):
    from tasks.ingest import InputError, read_index

    (mini / "index.yaml").write_text("year: 2024\npassword: hunter2\nprovince: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_index(mini)
    assert "hunter2" not in exc.value.problem and "line" in exc.value.problem


def test_a_flood_of_bad_rows_gives_a_capped_error_list(mini, tmp_path):
    from expectations.suites import validate
    from tasks.compute import ValidationFailed
    from tasks.problems import PROBLEMS_PER_COLUMN

    junk = pd.DataFrame({"respondent_id": [f"J{i}" for i in range(5000)], "unit_code": "U01",
                         "question_code": "Q1", "answer": "9"})
    with open(mini / "survey_responses.csv", "a", encoding="utf-8") as fh:
        junk.to_csv(fh, index=False, header=False)
    with pytest.raises(ValidationFailed) as exc:
        validate(read_folder(mini, tmp_path / "run"))
    p = exc.value.checked.problems_frame()
    answers = p[(p["file"] == "survey_responses.csv") & (p["column"] == "answer")]
    assert len(answers) == PROBLEMS_PER_COLUMN + 1
    assert answers.iloc[-1]["value"] == f"+{5000 - PROBLEMS_PER_COLUMN}"


@pytest.mark.flow
def test_a_second_rerun_from_a_superseded_version_is_refused_plainly(published, tmp_path):
    from flows.rerun import rerun
    from tasks.compute import InputsUnreadable

    corr = tmp_path / "c.csv"
    corr.write_text("unit_code,criterion_code,column,new_value,reason,reference\nU01,1.1,appraised_points,1,x,y\n",
                    encoding="utf-8")
    rerun(from_dir=str(published), corrections=str(corr), out=str(tmp_path / "v2"))
    with pytest.raises(InputsUnreadable):  # it crashed with an IntegrityError before
        rerun(from_dir=str(published), corrections=str(corr), out=str(tmp_path / "v2b"))
    errors = errors_of(tmp_path / "v2b")
    assert errors["problem"].str.contains("already corrected by version 2").all()
    assert str(tmp_path / "v2") in errors.iloc[0]["problem"]


@pytest.mark.xdist_group("cli")
def test_prefects_temporary_server_does_not_outlive_a_killed_run(tmp_path):
    """Issue 15 case 13: after kill -9 of `parindex run`, its temporary Prefect server used to keep running."""
    import signal
    import time
    from pathlib import Path

    import psutil

    from tests.conftest import MINI, REPO

    script = Path(sys.executable).parent / "parindex"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # its own temporary server
    proc = subprocess.Popen([str(script), "run", "--inputs", str(MINI), "--out", str(tmp_path / "o"),
                             "--no-unit-pdfs"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    main = psutil.Process(proc.pid)
    server = None
    deadline = time.time() + 120
    while server is None and time.time() < deadline and proc.poll() is None:
        server = next((c for c in main.children(recursive=True)
                       if "prefect.server.api.server:create_app" in " ".join(c.cmdline())), None)
        time.sleep(0.2)
    assert server is not None, "the run never started a temporary Prefect server"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs([server], timeout=20)
    assert server in gone and not alive, "the temporary Prefect server outlived the killed run"


def _refusal(mini, tmp_path) -> str:
    from tasks.ingest import InputError

    with pytest.raises(InputError) as exc:
        read_folder(mini, tmp_path / "run")
    return str(exc.value)


def test_a_workbook_that_inflates_past_the_limit_is_refused_unread(mini, tmp_path):
    """Issue 15 case 9: a small .xlsx whose sheet inflates to 600 MB is refused from its zip directory, in
    well under a second of reading and without inflating it."""
    import resource
    import time
    import zipfile

    (mini / "self_assessment.csv").unlink()
    bomb = mini / "self_assessment.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            chunk = b" " * (1 << 20)
            for _ in range(600):
                fh.write(chunk)
    assert bomb.stat().st_size < 2 << 20  # a small attachment
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    said = _refusal(mini, tmp_path)
    assert time.perf_counter() - t0 < 5 and "unpacks to 600 MB" in said and "self_assessment.xlsx" in said
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: never inflated


def test_a_sheet_or_a_csv_with_too_many_rows_is_refused(mini, tmp_path):
    """A crafted sheet whose dimension says 2,000,010 rows (Excel itself stops at 1,048,576) is refused before
    its rows are read; so is a CSV of 2,000,001 rows."""
    import zipfile

    import xlsxwriter

    from tasks.ingest import MAX_TABLE_ROWS

    original = pd.read_csv(mini / "self_assessment.csv", dtype=str, encoding="utf-8-sig")
    (mini / "self_assessment.csv").unlink()
    wb = xlsxwriter.Workbook(str(mini / "self_assessment.xlsx"))
    ws = wb.add_worksheet()
    for c, col in enumerate(original.columns):
        ws.write_string(0, c, col)
    ws.write_string(1, 0, "U01")
    wb.close()
    crafted = mini / "crafted.xlsx"  # the same workbook, its sheet claiming rows it does not have
    with zipfile.ZipFile(mini / "self_assessment.xlsx") as src, zipfile.ZipFile(crafted, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<dimension ref="A1:F2"/>', f'<dimension ref="A1:F{MAX_TABLE_ROWS + 11}"/>'.encode())
                assert str(MAX_TABLE_ROWS + 11).encode() in data
            dst.writestr(item, data)
    crafted.replace(mini / "self_assessment.xlsx")
    assert "has 2,000,010 rows, more than the 2,000,000" in _refusal(mini, tmp_path)
    (mini / "self_assessment.xlsx").unlink()
    with open(mini / "self_assessment.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(original.columns) + "\n")
        fh.write("U01,1.1\n" * (MAX_TABLE_ROWS + 1))
    assert "has 2,000,001 rows, more than the 2,000,000" in _refusal(mini, tmp_path / "csv")


@pytest.mark.xdist_group("cli")
def test_a_file_the_run_cannot_read_is_exit_2_naming_it_without_a_traceback(mini, tmp_path):
    """A missing column surfaces inside the flow's 'read inputs' task: the command names the user's file and
    column in both languages, exit 2, and Prefect logs no traceback of it."""
    from tests.test_cli import parindex

    (mini / "self_assessment.csv").write_text("unit_code,criterion_code\nU01,1.1\n", encoding="utf-8")
    proc = parindex("run", "--inputs", str(mini), "--out", str(tmp_path / "o"), "--no-unit-pdfs")
    assert proc.returncode == 2, proc.stderr
    assert "self_assessment.csv" in proc.stderr and "appraised_points" in proc.stderr and "thiếu cột" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
