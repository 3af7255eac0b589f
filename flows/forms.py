"""Collecting self-assessments as flows: `parindex forms` (a workbook per unit, to self-score or to appraise)
and `parindex collect` (the returned workbooks checked and merged into the input folder's
self_assessment.xlsx). Wiring only: the workbooks are tasks/forms.py."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from tasks import compute, forms, ingest, render
from tasks.methodology import MethodologyError, load_methodology
from tasks.problems import problem_row
from tasks.text import inside


class FormsRefused(compute.InputsUnreadable):
    """Returned workbooks with problems: nothing was written to the input folder."""


def _folder(inputs: str):
    roles = ingest.locate_inputs(Path(inputs))
    index = ingest.read_index(Path(inputs))
    m = load_methodology(roles["methodology"])
    units = ingest.read_table(roles["units"], "units").frame
    return roles, index, m, units


@flow(name="parindex-forms")
def make_forms(inputs: str, out: str, stage: str = "self") -> dict:
    """FORMS/<unit_code>.xlsx for every unit the methodology scores; `appraisal`: with the unit's self points
    and evidence from the input folder's self_assessment, for the council."""
    if stage not in forms.STAGES:
        raise ValueError(f"--stage is self or appraisal (got {stage!r})")
    out_dir = Path(out).resolve()
    try:
        roles, index, m, units = _folder(inputs)
        filled = None
        if stage == "appraisal":
            if "self_assessment" not in roles:
                raise ingest.InputError(str(Path(inputs) / "self_assessment.xlsx"),
                                        "is missing: the appraisal forms show the units' own points (run "
                                        "`parindex collect` on the returned self-assessment forms first)",
                                        vi="thiếu tệp: phiếu thẩm định cần điểm tự chấm của đơn vị (chạy "
                                           "`parindex collect` với các phiếu tự đánh giá trước)")
            filled = ingest.read_table(roles["self_assessment"], "self_assessment").frame
    except (ingest.InputError, MethodologyError) as exc:
        raise compute.InputsUnreadable(ingest.unreadable_rows(exc, inputs)) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = units[units["level"] == m.level]
    written = []
    for unit in scored.to_dict("records"):
        path = inside(out_dir, f"{unit['unit_code']}.xlsx")
        mine = filled[filled["unit_code"] == unit["unit_code"]] if filled is not None else None
        forms.write_form(path, m, unit, str(index.get("province", "")), stage, mine)
        written.append(path)
    get_run_logger().info(f"{len(written)} {stage} forms of {m.id} in {out_dir}")
    return {"out": str(out_dir), "forms": len(written), "stage": stage, "methodology_id": m.id}


@flow(name="parindex-collect")
def collect_forms(forms_dir: str, inputs: str) -> dict:
    """Check every returned workbook in `forms_dir` and, only when all are right, write
    `inputs/self_assessment.xlsx` (an earlier self_assessment file is kept in `inputs/.parindex-replaced/`).
    Always writes `forms_dir/collect/`: returned.csv (who has and has not returned), differences.csv (self
    vs appraised, biggest downgrades first) and, when refused, errors.csv."""
    try:
        roles, _, m, units = _folder(inputs)
    except (ingest.InputError, MethodologyError) as exc:
        raise compute.InputsUnreadable(ingest.unreadable_rows(exc, inputs)) from exc
    if not Path(forms_dir).is_dir():
        raise compute.InputsUnreadable(ingest.unreadable_rows(ingest.InputError(
            str(forms_dir), "the forms folder does not exist", vi="thư mục phiếu không tồn tại"), forms_dir))
    col = forms.collect(Path(forms_dir), m, units)
    report = Path(forms_dir) / "collect"
    report.mkdir(exist_ok=True)
    scored = units[units["level"] == m.level]
    render.write_csv(pd.DataFrame({"unit_code": scored["unit_code"], "unit_name": scored["unit_name"],
                                   "workbook": scored["unit_code"].map(col.returned).fillna(""),
                                   "returned": scored["unit_code"].isin(col.returned)}), report / "returned.csv")
    rows = pd.DataFrame(col.rows, columns=["unit_code", "criterion_code", "self_points", "appraised_points",
                                           "evidence", "note", "council_note"])
    render.write_csv(forms.differences(rows), report / "differences.csv")
    if col.problems:
        problems = pd.DataFrame(col.problems, columns=forms.PROBLEM_COLUMNS)
        render.write_csv(problems, report / "errors.csv")
        raise FormsRefused([problem_row(p["workbook"], p["problem"], p["problem_vi"], unit_code=p["unit_code"],
                                        column=p["column"], value=p["value"], check=f"forms:{p['cell']}")
                            for p in col.problems])
    target = Path(inputs) / "self_assessment.xlsx"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for old in ("self_assessment.csv", "self_assessment.xlsx"):
        if (Path(inputs) / old).is_file():
            keep = Path(inputs) / ".parindex-replaced"
            keep.mkdir(exist_ok=True)
            shutil.copy2(Path(inputs) / old, keep / f"{stamp}-{old}")
    tmp = target.with_name(".self_assessment.collect.xlsx")
    render.write_xlsx(tmp, {"self_assessment": rows}, m.decimals)
    (Path(inputs) / "self_assessment.csv").unlink(missing_ok=True)
    tmp.replace(target)  # one rename: the folder never holds half a file
    return {"inputs": str(Path(inputs).resolve()), "units": len(col.returned), "rows": len(rows),
            "stage": col.stage, "differences": int(len(forms.differences(rows))),
            "target": str(target), "report": str(report)}
