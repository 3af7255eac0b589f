"""End to end through the command line, as a user runs it: sample → run → every contract output, read back;
then a broken folder → exit 2, errors named, the earlier publication untouched."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows import api
from tests.conftest import REPO
from tests.helpers import edit_csv
from tests.regen_golden import GOLDEN

pytestmark = pytest.mark.xdist_group("cli")
CONTRACT_RESULTS = ["unit_code", "unit_name", "group", "total_points", "max_points", "index_pct", "rank",
                    "rank_of", "band", "band_vi", "prev_rank", "rank_change", "appraisal_points",
                    "survey_points", "dossier_points", "deduction_points"]
OUTPUTS = ["results.csv", "criteria.csv", "results.xlsx", "results.json", "report.vi.html", "report.en.html",
           "report.vi.pdf", "report.en.pdf", "manifest.json", "inputs"]


def parindex(*args, check_exit=None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "parindex"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=REPO, timeout=600)
    if check_exit is not None:
        assert proc.returncode == check_exit, proc.stdout + proc.stderr
    return proc


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "parindex.sqlite"
            and "validation" not in p.parts}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    parindex("sample", "--out", str(root / "in"), "--year", "2024", "--years", "2", check_exit=0)
    out = root / "out"
    proc = parindex("run", "--inputs", str(root / "in" / "2024" / "district"), "--out", str(out), check_exit=0)
    return root, out, proc


def test_help_does_not_import_the_heavy_stack():
    code = ("import sys, flows.cli; flows.cli.build_parser().format_help(); "
            "print(any(m in sys.modules for m in ('prefect', 'great_expectations', 'typst', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


TEMPORARY_SERVER_CHECK = """
import json, os, sys
from flows import api
from prefect import flow, get_run_logger, task

@task
def one():
    return 1

@flow(name="parindex-temporary-server-check")
def check():
    get_run_logger().info("recorded")
    return one()

import httpx
asked = []
send = httpx.AsyncClient.send
async def recording(self, request, **kw):
    asked.append(request.url.path)
    return await send(self, request, **kw)
httpx.AsyncClient.send = recording
import ssl
trusted = []
context = ssl.create_default_context
def made(*a, cafile=None, **kw):  # by Prefect's clients (a webhook block and httpx's own clients aside)
    if "prefect/client/" in sys._getframe(1).f_code.co_filename.replace(os.sep, "/"):
        trusted.append(cafile)
    return context(*a, cafile=cafile, **kw)
ssl.create_default_context = made

with api.prefect_api() as url:
    state = check(return_state=True)
    api._drain()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    print(json.dumps({"url": url, "state": run.state.name, "logs": [log.message for log in logs],
                      "csrf": [p for p in asked if "csrf" in p], "asked": len(asked),
                      "trusted": sorted(set(trusted)), "one": api.one_certificate()}))
os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"] = "true"  # an office that wants them
launched = {}
popen = api.subprocess.Popen
api.subprocess.Popen = lambda *args, env, **kw: launched.update(env) or popen(*args, env=env, **kw)
api.TemporaryServer().stop()
print(json.dumps({k: launched.get(k) for k in [*api.QUIET_SERVER, "PREFECT_SERVER_CSRF_PROTECTION_ENABLED"]}))
"""


def test_a_temporary_server_records_flow_runs_and_logs_but_does_without_what_nobody_reads():
    """The command's temporary server (flows/api.py) keeps flow runs, their states and logs; it does not
    record task runs or the event feed, evaluate automations or send telemetry — unless the environment
    says otherwise."""
    env = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, "PREFECT_LOGGING_LEVEL": "INFO"}
    out = subprocess.run([sys.executable, "-c", TEMPORARY_SERVER_CHECK], capture_output=True, text=True,
                         cwd=REPO, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    ran, launched = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert ran["url"].startswith("http://127.0.0.1:") and ran["state"] == "Completed"
    assert "recorded" in ran["logs"]
    assert ran["asked"] and not ran["csrf"]  # its clients fetch no CSRF token (api.loopback_client_settings)
    # and verify TLS (never used on plain HTTP) with a trust store of one certificate, not certifi's bundle
    assert ran["trusted"] == [ran["one"]]
    assert Path(ran["one"]).read_text(encoding="ascii").count("BEGIN CERTIFICATE") == 1
    assert launched == {**api.QUIET_SERVER, "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "true",
                        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "false"}  # what its clients rely on


def test_run_writes_every_contract_output(published):
    root, out, proc = published
    assert "report.vi.pdf" in proc.stdout
    for stage in ("started", "ingest", "validate", "score_rank", "render", "store_publish"):  # progress, as it goes
        assert f"parindex: 2024/district · {stage}" in proc.stderr, stage
    # the command's own temporary Prefect server (flows/api.py) got every log line before it stopped
    assert "Error logging to API" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    for name in OUTPUTS:
        assert (out / name).exists(), name
    results = pd.read_csv(out / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    assert list(results.columns[:16]) == CONTRACT_RESULTS
    assert list(results.columns[16:]) == [f"F{i}_{k}" for i in range(1, 9) for k in ("points", "pct", "rank")] + [
        "prev_index_proforma", "predecessors"]
    # the CLI publishes exactly what the golden file holds
    assert (out / "results.csv").read_bytes() == (GOLDEN / "hai-duong-2024-district" / "results.csv").read_bytes()
    assert (out / "criteria.csv").read_bytes() == (GOLDEN / "hai-duong-2024-district" / "criteria.csv").read_bytes()


def test_manifest_records_provenance(published):
    _, out, _ = published
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for key in ("run_id", "version", "status", "year", "methodology_id", "methodology_sha256", "database",
                "code_version", "started_at", "finished_at", "inputs"):
        assert key in m, key
    assert m["version"] == 1 and m["status"] == "published" and m["year"] == 2024
    assert m["database"].startswith("sqlite:///") and m["database"].endswith("parindex.sqlite")
    for role, info in m["inputs"].items():
        archived = out / info["file"]
        assert hashlib.sha256(archived.read_bytes()).hexdigest() == info["sha256"], role
    assert m["inputs"]["self_assessment"]["rows_read"] == m["inputs"]["self_assessment"]["rows_accepted"] > 0
    assert m["methodology_sha256"] == m["inputs"]["methodology"]["sha256"]
    for name, digest in m["outputs"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name


def test_excel_and_json_hold_the_same_numbers(published):
    _, out, _ = published
    from openpyxl import load_workbook

    results = pd.read_csv(out / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    ws = load_workbook(out / "results.xlsx")["results"]
    header = [c.value for c in ws[1]]
    first = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert isinstance(first["index_pct"], float) and first["index_pct"] == results.loc[0, "index_pct"]
    assert isinstance(first["rank"], int) and first["unit_code"] == results.loc[0, "unit_code"]
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [r["index_pct"] for r in doc["results"]] == results["index_pct"].tolist()
    assert doc["synthetic"] is True and doc["methodology_id"] == "hd-district-2024"


def test_excel_appendix_is_vietnamese_numeric_and_agrees_with_results(published):
    _, out, _ = published
    from openpyxl import load_workbook

    results = pd.read_csv(out / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig").set_index("unit_code")
    criteria = pd.read_csv(out / "criteria.csv", dtype={"unit_code": str, "criterion_code": str}, encoding="utf-8-sig")
    wb = load_workbook(out / "results.xlsx")
    assert wb.sheetnames[:4] == ["Xếp hạng", "Chỉ số thành phần", "Tiêu chí", "Hồ sơ – khảo sát"]
    assert {"results", "criteria", "dossiers"} <= set(wb.sheetnames)  # the machine-readable tables stay
    ws = wb["Xếp hạng"]
    # two title lines and a blank row above the table (the official appendix), header repeated when printed
    assert ws["A1"].value.startswith("PHỤ LỤC KẾT QUẢ CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM 2024")
    assert "Phiên bản 1" in ws["A2"].value
    assert ws.freeze_panes == "A5" and ws.auto_filter.ref.startswith("A4:")
    assert ws.print_title_rows == "$4:$4" and ws.page_setup.paperSize == 9
    # one page wide (1 is the default XlsxWriter leaves out), as many pages down as needed
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)
    assert ws.page_setup.fitToHeight == 0
    assert ws.page_setup.orientation == "landscape"  # 15 columns
    assert wb["results"].freeze_panes == "A2"  # the machine-readable tables keep their header in row 1
    header = [c.value for c in ws[4]]
    rows = [dict(zip(header, [c.value for c in r], strict=True)) for r in ws.iter_rows(min_row=5)]
    assert len(rows) == len(results)
    for r in rows:
        assert isinstance(r["Hạng"], int) and isinstance(r["Chỉ số (%)"], float)
        assert r["Hạng"] == results.loc[r["Mã đơn vị"], "rank"]
        assert r["Chỉ số (%)"] == results.loc[r["Mã đơn vị"], "index_pct"]
        assert r["Xếp loại"] == results.loc[r["Mã đơn vị"], "band_vi"]
    assert [r["Hạng"] for r in rows] == sorted(r["Hạng"] for r in rows)  # one group: by rank
    assert ws.cell(5, header.index("Chỉ số (%)") + 1).number_format == "0.00"
    crit = wb["Tiêu chí"]
    assert crit.max_row - 4 == len(criteria)
    ch = [c.value for c in crit[4]]
    lost = sum(r[ch.index("Điểm bị mất")] for r in crit.iter_rows(min_row=5, values_only=True))
    assert lost == pytest.approx((criteria["max_points"] - criteria["points"]).sum(), abs=1e-6)
    fields = wb["Chỉ số thành phần"]
    fh = [c.value for c in fields[4]]
    assert any(h.startswith("F1. ") and h.endswith("(%)") for h in fh)


def test_pdf_reports_read_back_match_results(published):
    _, out, _ = published
    from pypdf import PdfReader

    results = pd.read_csv(out / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    for lang, sep in (("vi", ","), ("en", ".")):
        reader = PdfReader(out / f"report.{lang}.pdf")
        text = "\n".join(page.extract_text() for page in reader.pages)
        fonts = set()
        for page in reader.pages:
            for f in page["/Resources"]["/Font"].values():
                desc = f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                assert "/FontFile2" in desc, "font not embedded"
                fonts.add(str(f.get_object()["/BaseFont"]))
        assert fonts and all("DejaVuSans" in f for f in fonts)  # the bundled fonts only
        for r in results.itertuples():
            assert r.unit_name in text, r.unit_name
            assert f"{r.index_pct:.2f}".replace(".", sep) in text
            assert f"{r.rank}/{r.rank_of}" in text
        assert ("DỮ LIỆU MÔ PHỎNG" if lang == "vi" else "SYNTHETIC DATA") in text
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        flat = "".join(text.split())  # long digests wrap in the provenance table
        odd = {c for c in text if 0x0400 <= ord(c) <= 0x052F or 0xFB00 <= ord(c) <= 0xFB06}
        assert not odd, f"characters that are not in the report (a glyph mapped wrongly): {odd}"
        assert lang == "vi" or "Component indices by field" in " ".join(text.split())  # "fi", not a ligature
        # the final announcement carries one provenance line (the digests are in manifest.json and in the
        # draft's technical annex, tests/test_announcement.py)
        assert manifest["inputs_sha256"][:16] in flat and manifest["methodology_id"] in flat
        assert manifest["methodology_sha256"] not in flat


def test_validation_failure_publishes_nothing_and_names_the_cell(published):
    root, out, _ = published
    before = _hashes(out)
    broken = root / "broken"
    shutil.copytree(root / "in" / "2024" / "district", broken)
    edit_csv(broken / "self_assessment.csv", lambda d: d.assign(
        appraised_points=d["appraised_points"].where(d.index != 6, "9")))
    proc = parindex("run", "--inputs", str(broken), "--out", str(out), check_exit=2)
    errors = pd.read_csv(out / "validation" / "errors.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    row = errors[errors["file"] == "self_assessment.csv"].iloc[0]
    assert (row["row"], row["column"], row["value"]) == ("8", "appraised_points", "9")
    assert row["unit_code"] == pd.read_csv(broken / "self_assessment.csv", dtype=str, encoding="utf-8-sig").loc[6, "unit_code"]
    assert "self_assessment.csv row 8" in proc.stderr and "Nothing was published" in proc.stderr
    assert _hashes(out) == before  # the earlier publication, byte for byte
    assert not list(out.glob(".staging-*")) and not list(out.glob(".previous-*"))


def test_unreadable_methodology_exits_2_with_the_rule(published, tmp_path):
    root, _, _ = published
    broken = tmp_path / "broken"
    shutil.copytree(root / "in" / "2024" / "district", broken)
    text = (broken / "methodology.yaml").read_text(encoding="utf-8").replace("max_points: 100", "max_points: 90")
    (broken / "methodology.yaml").write_text(text, encoding="utf-8")
    parindex("run", "--inputs", str(broken), "--out", str(tmp_path / "out"), check_exit=2)
    errors = pd.read_csv(tmp_path / "out" / "validation" / "errors.csv", dtype=str, encoding="utf-8-sig")
    assert errors["problem"].str.contains("not max_points 90").any()
    assert not (tmp_path / "out" / "results.csv").exists()


def test_rerun_with_a_bad_correction_exits_2(published, tmp_path):
    _, out, _ = published
    before = _hashes(out)
    corr = tmp_path / "corr.csv"
    corr.write_text("unit_code,criterion_code,column,new_value,reason,reference\n"
                    "99999,1.1,appraised_points,1,x,y\n", encoding="utf-8")
    proc = parindex("rerun", "--from", str(out), "--corrections", str(corr), "--out", str(tmp_path / "v2"),
                    check_exit=2)
    assert "99999" in proc.stderr and "Nothing was published" in proc.stderr
    assert not (tmp_path / "v2" / "results.csv").exists()
    assert _hashes(out) == before


def test_archive_and_row_counts_are_complete(published):
    """Every file of the input folder is archived byte for byte, and every row read is accepted or rejected."""
    import csv

    root, out, _ = published
    src = root / "in" / "2024" / "district"
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    by_source = {Path(info["source"]).resolve(): info for info in m["inputs"].values()}
    given = [p for p in src.iterdir() if p.is_file() and not p.name.startswith(".")]
    for path in given:
        info = by_source[path.resolve()]  # nothing in the folder was skipped
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"] == hashlib.sha256(
            (out / info["file"]).read_bytes()).hexdigest()
        if path.suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                data_rows = sum(1 for _ in csv.reader(fh)) - 1
            assert info["rows_read"] == data_rows, path.name
            assert info["rows_accepted"] + info["rows_rejected"] == info["rows_read"]
    report = (out / "report.en.html").read_text(encoding="utf-8")
    assert m["inputs_sha256"][:16] in report and "manifest.json" in report  # the final's provenance line


def test_every_unit_has_a_one_page_scorecard_that_matches_results(published):
    from pypdf import PdfReader

    from tasks.numbers import format_number
    from tasks.text import safe_filename

    _, out, _ = published
    results = pd.read_csv(out / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    criteria = pd.read_csv(out / "criteria.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    fmt = lambda v: format_number(v, 2, "vi")  # noqa: E731
    files = sorted(p.name for p in (out / "units").iterdir())
    assert files == sorted(safe_filename(c, ".pdf") for c in results["unit_code"])
    for r in results.itertuples(index=False):
        reader = PdfReader(out / "units" / safe_filename(r.unit_code, ".pdf"))
        assert len(reader.pages) == 1, r.unit_code  # one page up to ~45 criteria
        text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())  # as read, not as laid out
        assert r.unit_name in text and format_number(r.index_pct, 2, "vi") in text
        assert f"{r.rank}/{r.rank_of}" in text
        assert f"{manifest['inputs_sha256'][:16]}… · Bộ tiêu chí: {manifest['methodology_id']}" in text  # provenance
        deductions = "Điểm trừ " + ("−" if r.deduction_points > 0 else "") + format_number(r.deduction_points, 2, "vi")
        assert deductions in text and "Điểm trừ −0,00" not in text, r.unit_code
        mine = list(criteria[criteria["unit_code"] == r.unit_code].itertuples(index=False))
        starts, at = [], 0
        for c in mine:  # every criterion, in the methodology's order
            at = text.index(f" {c.criterion_code} ", at)
            starts.append(at)
        for k, c in enumerate(mine):  # its row reads: points, maximum, lost points when it lost any
            lost = c.max_points - c.points
            row = f" {fmt(c.points)} {fmt(c.max_points)}" + (f" {fmt(lost)}" if lost > 1e-9 else "") + " "
            assert row in text[starts[k]:starts[k + 1] if k + 1 < len(mine) else None] + " ", (r.unit_code, c)
        for font in reader.pages[0]["/Resources"]["/Font"].values():  # every font embedded
            font = font.get_object()
            if "/DescendantFonts" in font:
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), r.unit_code


def test_every_table_and_chart_fits_the_printable_area(published):
    """Read back from the PDFs: no glyph origin or drawn point in the side margins or at the page edges, and no
    ink there either once the pages are rasterised (a cell or a label that runs off the page), both languages."""
    from tests.helpers import ink_outside_printable, outside_printable

    _, out, _ = published
    for lang in ("vi", "en"):
        assert outside_printable(out / f"report.{lang}.pdf") == [], lang
        assert ink_outside_printable(out / f"report.{lang}.pdf") == [], lang


def test_report_charts_draw_every_unit_in_band_colours(published):
    import re

    _, out, _ = published
    results = pd.read_csv(out / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    html = (out / "report.vi.html").read_text(encoding="utf-8")
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    bars = [s for s in svgs if "Chỉ số của các đơn vị" in s]
    assert len(bars) == results["group"].nunique()
    drawn = re.findall(r'text-anchor="end">([^<]+)</text>\s*<rect[^>]*fill="(#[0-9a-f]{6})"', " ".join(bars))
    assert sorted(n for n, _ in drawn) == sorted(results["unit_name"])
    from tasks.charts import BAND_COLOURS
    assert {c for _, c in drawn} <= set(BAND_COLOURS)
    assert any("Phân bố chỉ số" in s for s in svgs)


def test_run_without_unit_pdfs_publishes_everything_else(published, tmp_path):
    root, out, _ = published
    quick = tmp_path / "quick"
    parindex("run", "--inputs", str(root / "in" / "2024" / "district"), "--out", str(quick), "--no-unit-pdfs",
             check_exit=0)
    assert not (quick / "units").exists()
    assert (quick / "results.csv").read_bytes() == (out / "results.csv").read_bytes()
    assert (quick / "report.vi.pdf").stat().st_size > 10_000


def test_the_english_report_speaks_english_and_every_sign_is_one_minus(published):
    """The methodology's basis and the generic group names come in English (methodology `basis: {vi, en}`,
    index.yaml `group_names:`); negative figures carry the minus sign U+2212 in both reports, never a hyphen."""
    import re

    from pypdf import PdfReader

    _, out, _ = published
    en = " ".join(" ".join(p.extract_text() for p in PdfReader(out / "report.en.pdf").pages).split())
    assert "Group: Districts, towns and cities" in en and "Modelled on Decision" in en
    assert "Mô phỏng" not in en and "Huyện, thị xã, thành phố" not in en
    for lang in ("vi", "en"):
        text = " ".join(p.extract_text() for p in PdfReader(out / f"report.{lang}.pdf").pages)
        assert not re.search(r"(?<![\w/.:])-\d", text), re.search(r".{30}(?<![\w/.:])-\d.{10}", text)
        assert re.search(r"−\d", text)  # the difference columns do have negatives
