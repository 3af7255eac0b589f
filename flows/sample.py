"""Edge module: synthetic but realistic input folders for a real province's real units (`parindex sample`).

Units come from the province's real registry (PyPI `vietnamadminunits`, GSO codes) and config/provinces/.
Every figure is synthetic and labelled so (`synthetic: true` in index.yaml, a banner in the report).
Deterministic for a seed: each unit has a lasting quality, each year a shock, and a few units rise or fall
sharply between years. The later years get `previous_results.csv` computed by the same code as `run`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tasks.methodology import Methodology, parse_methodology
from tasks.resources import CONFIG

CONFIG_DIR = CONFIG
LEVELS = ("department", "district", "commune")
# level -> (mean fraction of points, spread, dossiers per unit per month)
PROFILE = {"department": (0.87, 0.04, 160), "district": (0.855, 0.045, 1400), "commune": (0.84, 0.05, 110)}
EVIDENCE = ["Quyết định số {n}/QĐ-UBND", "Kế hoạch số {n}/KH-UBND", "Báo cáo số {n}/BC-UBND",
            "Công văn số {n}/UBND-NV", "Thông báo số {n}/TB-UBND"]
DEDUCTION_REASONS = [("5.4", "Có công chức bị kỷ luật khiển trách trong năm"),
                     ("1.2", "Chậm gửi báo cáo CCHC định kỳ"),
                     ("", "Để xảy ra khiếu nại đông người, vượt cấp"),
                     ("3.1", "Niêm yết thủ tục hành chính không đúng quy định")]


@dataclass(frozen=True)
class Province:
    slug: str
    name: str
    short: str
    registry: str  # legacy (63 provinces, until 30 June 2025) or current (34 provinces)
    last_year: int
    methodology: str
    groups: dict
    departments: list[dict]
    gso_code: str = ""
    first_year: int = 0
    levels: tuple[str, ...] = LEVELS
    predecessors: tuple[str, ...] = ()


def load_province(slug: str) -> Province:
    path = CONFIG_DIR / "provinces" / f"{slug}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (CONFIG_DIR / "provinces").glob("*.yaml")))
        raise ValueError(f"no province {slug!r} in config/provinces (known: {known})")
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Province(d["slug"], d["name"], d["province_short"], d["registry"], int(d["last_year"]),
                    d["methodology"], d.get("groups", {}), d.get("departments", []),
                    gso_code=str(d.get("gso_code", "")), first_year=int(d.get("first_year", 0)),
                    levels=tuple(d.get("levels", LEVELS)), predecessors=tuple(d.get("predecessors", ())))


def registry_units(p: Province) -> dict[str, pd.DataFrame]:
    """units.csv rows per level from the real registry (legacy: districts and communes with GSO codes)."""
    from vietnamadminunits.database import query

    deps = pd.DataFrame({"unit_code": [d["code"] for d in p.departments],
                         "unit_name": [d["name"] for d in p.departments],
                         "level": "department", "group": p.groups.get("department", "Sở, ban, ngành"),
                         "parent_code": ""})
    rows = pd.DataFrame(query(
        "SELECT provinceCode, district, districtCode, ward, wardCode FROM admin_units_legacy "
        f"WHERE provinceShort = '{p.short}' ORDER BY districtCode, wardCode"))
    if rows.empty:
        raise ValueError(f"the registry has no units for {p.short!r}")
    dist = rows.drop_duplicates("districtCode")
    districts = pd.DataFrame({"unit_code": dist["districtCode"], "unit_name": dist["district"],
                              "level": "district", "group": p.groups.get("district", "Cấp huyện"),
                              "parent_code": dist["provinceCode"]})
    # island districts (Bạch Long Vĩ, Cồn Cỏ, …) have no commune level: they appear as districts only
    wards = rows[rows["wardCode"].fillna("").astype(str) != ""]
    communes = pd.DataFrame({"unit_code": wards["wardCode"], "unit_name": wards["ward"], "level": "commune",
                             "group": wards["district"], "parent_code": wards["districtCode"]})
    return {"department": deps, "district": districts.reset_index(drop=True),
            "commune": communes.reset_index(drop=True)}


#: English names of the generic ranking groups, written to index.yaml's `group_names:` for the English report
#: (a group named after a district is a proper name and stays as it is)
GROUP_NAMES_EN = {"Sở, ban, ngành": "Departments, boards and agencies",
                  "Huyện, thị xã, thành phố": "Districts, towns and cities", "Cấp huyện": "Districts",
                  "Xã, phường, đặc khu (toàn thành phố)": "Communes, wards and special zones (city-wide)",
                  "Xã, phường, đặc khu": "Communes, wards and special zones"}


def methodology_text(p: Province, level: str, year: int) -> str:
    """The methodology file for a level and year; the nearest year's, re-labelled, when none exists."""
    folder = CONFIG_DIR / "methodology"
    exact = folder / (p.methodology.format(level=level, year=year) + ".yaml")
    if exact.is_file():
        return exact.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(p.methodology.format(level=level, year="@")).replace("@", r"(\d{4})"))
    years = sorted(int(mt.group(1)) for f in folder.glob("*.yaml") if (mt := pattern.fullmatch(f.stem)))
    if not years:
        raise ValueError(f"no methodology for level {level!r} of {p.slug}")
    near = min(years, key=lambda y: (abs(y - year), -y))
    text = (folder / (p.methodology.format(level=level, year=near) + ".yaml")).read_text(encoding="utf-8")
    text = re.sub(rf"-{near}\b", f"-{year}", text)
    text = re.sub(rf"^year: {near}$", f"year: {year}", text, flags=re.M)
    return re.sub(rf"\b{near}\b", str(year), text)


def _quality(rng_seed: int, units: pd.DataFrame, level: str, years: list[int]) -> dict[int, np.ndarray]:
    """A lasting quality per unit, a shock per year, and a few sharp risers and fallers after the first year."""
    mean, spread, _ = PROFILE[level]
    rng = np.random.default_rng([rng_seed, LEVELS.index(level)])
    n = len(units)
    ability = rng.normal(0, 1, n)
    movers = np.zeros(n)
    k = max(1, n // 12)
    picked = rng.choice(n, size=min(n, 2 * k), replace=False)
    movers[picked[:k]] = rng.uniform(1.2, 2.0, len(picked[:k]))  # rise sharply
    movers[picked[k:]] = -rng.uniform(1.2, 2.0, len(picked[k:]))  # fall sharply
    out = {}
    for i, year in enumerate(years):
        shock = np.random.default_rng([rng_seed, LEVELS.index(level), year]).normal(0, 0.45, n)
        z = ability + shock + (movers if i > 0 else 0) + 0.15 * i
        out[year] = np.clip(mean + spread * z, 0.55, 0.99)
    return out


def _quarter(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 4 + 0.5) / 4


def make_self_assessment(m: Methodology, units: pd.DataFrame, q: np.ndarray, rng) -> pd.DataFrame:
    rows = []
    leaves = [lf for lf in m.leaves() if lf.source == "appraisal"]
    for ui, unit in enumerate(units["unit_code"]):
        for lf in leaves:
            mx = lf.max_points
            frac = np.clip(q[ui] + rng.normal(0.03, 0.12), 0, 1)
            appraised = float(min(mx, _quarter(np.array(mx * frac))))
            self_pts = float(min(mx, appraised + rng.choice([0, 0, 0, 0.25, 0.5])))
            ev = rng.choice(EVIDENCE).format(n=int(rng.integers(10, 999)))
            rows.append({"unit_code": unit, "criterion_code": lf.code, "self_points": f"{self_pts:g}",
                         "appraised_points": f"{appraised:g}", "evidence": f"{ev}/{m.year}",
                         "note": "" if appraised == self_pts else "Hội đồng thẩm định điều chỉnh điểm"})
    return pd.DataFrame(rows)


def make_survey(m: Methodology, units: pd.DataFrame, q: np.ndarray, rng,
                respondents: tuple[int, int] = (36, 61)) -> pd.DataFrame:
    questions = sorted({qq for lf in m.leaves() if lf.source == "survey" for qq in lf.criterion.questions})
    parts = []
    for ui, unit in enumerate(units["unit_code"]):
        n = int(rng.integers(*respondents))
        centre = 1 + 4 * np.clip(q[ui] + rng.normal(0, 0.04), 0, 1)
        qbias = rng.normal(0, 0.25, len(questions))
        ans = np.clip(np.rint(centre + qbias[None, :] + rng.normal(0, 0.75, (n, len(questions)))), 1, 5)
        blank = rng.random((n, len(questions))) < 0.015
        resp = np.repeat([f"{unit}-{m.year}-{i:03d}" for i in range(1, n + 1)], len(questions))
        text = np.where(blank, "", ans.astype(int).astype(str)).ravel()
        parts.append(pd.DataFrame({"respondent_id": resp, "unit_code": unit,
                                   "question_code": np.tile(questions, n), "answer": text}))
    return pd.concat(parts, ignore_index=True)


def _rates(q: np.ndarray, year_index: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(q)
    online = np.clip(rng.beta(1.6, 1.1, n) * (0.75 + 0.35 * year_index) * (0.6 + 0.5 * q), 0.003, 0.985)
    online[rng.random(n) < 0.04] = rng.uniform(0.002, 0.009)  # a few units barely take dossiers online
    late = rng.beta(1.0, 50.0, n) * (1.4 - q) * 2
    late[rng.random(n) < 0.3] = 0.0  # many units resolve every dossier on time
    digitized = np.clip(0.55 + 0.4 * q + rng.normal(0, 0.06, n) + 0.05 * year_index, 0.3, 1.0)
    return online, 1 - np.clip(late, 0, 0.2), digitized


def make_dossier_stats(units, q, year, year_index, per_month, rng) -> pd.DataFrame:
    """Monthly statistics of every unit, from its `active_from` month when it came into being that year."""
    online, on_time, digitized = _rates(q, year_index, rng)
    starts = units["active_from"] if "active_from" in units else pd.Series("", index=units.index)
    rows = []
    for ui, (unit, start) in enumerate(zip(units["unit_code"], starts, strict=True)):
        lam = per_month * rng.uniform(0.5, 1.6)
        first = int(start[5:7]) if start and start[:4] == str(year) else 1
        for month in range(first, 13):
            received = int(rng.poisson(lam))
            resolved = int(rng.binomial(received, 0.985))
            ok = int(rng.binomial(resolved, on_time[ui]))
            rows.append({"unit_code": unit, "period": f"{year}-{month:02d}", "received": received,
                         "received_online": int(rng.binomial(received, online[ui])), "resolved": resolved,
                         "resolved_on_time": ok, "resolved_late": resolved - ok,
                         "digitized": int(rng.binomial(received, digitized[ui]))})
    return pd.DataFrame(rows)


def make_raw_dossiers(units, q, year, year_index, per_month, rng) -> pd.DataFrame:
    """One row per dossier, as exported by a one-stop system (resolved_at empty = still pending)."""
    online, on_time, digitized = _rates(q, year_index, rng)
    frames = []
    start = datetime(year, 1, 1)
    year_end = datetime(year, 12, 31, 23, 59)
    for ui, unit in enumerate(units["unit_code"]):
        n = int(rng.poisson(per_month * 12 * rng.uniform(0.5, 1.6)))
        received = start + pd.to_timedelta(rng.uniform(0, 364, n), unit="D")
        due = received + pd.to_timedelta(rng.integers(3, 21, n), unit="D")
        is_late = rng.random(n) > on_time[ui]
        delta = np.where(is_late, rng.uniform(0.5, 10, n), -rng.uniform(0, 3, n))
        resolved = due + pd.to_timedelta(delta, unit="D")
        resolved = pd.Series(resolved).where(pd.Series(resolved) <= year_end)
        frames.append(pd.DataFrame({
            "dossier_id": [f"{unit}-{year}-{i:06d}" for i in range(n)], "unit_code": unit,
            "received_at": pd.Series(received).dt.floor("min"), "due_at": pd.Series(due).dt.floor("min"),
            "resolved_at": resolved.dt.floor("min"),
            "online": rng.random(n) < online[ui], "digitized": rng.random(n) < digitized[ui]}))
    return pd.concat(frames, ignore_index=True).sort_values(["received_at", "dossier_id"], ignore_index=True)


def make_deductions(units, rng) -> pd.DataFrame:
    n = len(units)
    picked = rng.choice(n, size=max(1, n // 10), replace=False)
    rows = []
    for i in sorted(picked):
        code, reason = DEDUCTION_REASONS[int(rng.integers(len(DEDUCTION_REASONS)))]
        rows.append({"unit_code": units["unit_code"].iloc[i], "criterion_code": code,
                     "points": f"{float(rng.choice([0.5, 1, 1.5, 2])):g}", "reason": reason})
    return pd.DataFrame(rows, columns=["unit_code", "criterion_code", "points", "reason"])


def write_sample(out: Path, province: str = "hai-duong", year: int = 2024, years: int = 2, seed: int = 20240,
                 scale: str = "province", levels: tuple[str, ...] | None = None) -> list[Path]:
    """Write `out/<year>/<level>/` input folders for `years` years ending at `year`; return the folders."""
    if scale == "national":
        return write_national_sample(Path(out), year=year, years=years, seed=seed)
    if scale != "province":
        raise ValueError(f"unknown scale {scale!r}: province or national")
    p = load_province(province)
    if p.registry == "current":
        return _successor_sample(Path(out), p, year, years, seed)
    levels = levels or p.levels
    span = list(range(year - years + 1, year + 1))
    if span[-1] > p.last_year:
        raise ValueError(f"{p.name} ({p.slug}) has units up to {p.last_year} only (the 2025 reorganisation "
                         f"merged it); ask for --year {p.last_year} or earlier")
    units_by_level = registry_units(p)
    written = []
    for level in levels:
        units = units_by_level[level]
        quality = _quality(seed, units, level, span)
        previous: pd.DataFrame | None = None
        for yi, y in enumerate(span):
            folder = Path(out) / str(y) / level
            _write_folder(folder, p, level, y, yi, units, quality[y], seed, previous, None)
            written.append(folder)
            if yi < len(span) - 1:
                previous = published_results_of(folder)
    return written


def published_results_of(folder: Path) -> pd.DataFrame:
    """The results.csv `parindex run` would publish for an input folder (same code, no Prefect)."""
    from expectations.suites import validate
    from tasks.compute import compute
    from tasks.ingest import archive_inputs, locate_inputs, read_inputs

    scratch = folder / ".previous"
    try:
        archived = archive_inputs(locate_inputs(folder, CONFIG_DIR), scratch)
        bundle = read_inputs(scratch, archived)
        return compute(bundle, validate(bundle)).results
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_folder(folder: Path, p: Province, level: str, y: int, yi: int, units: pd.DataFrame, q: np.ndarray,
                  seed: int, previous: pd.DataFrame | None, lineage: pd.DataFrame | None,
                  raw_rows: int | None = None, respondents: tuple[int, int] = (36, 61)) -> None:
    """One input folder. `raw_rows`: that many per-dossier records (Parquet) instead of the level's usual
    dossier file (national scale); `respondents`: the range of survey respondents per unit."""
    folder.mkdir(parents=True, exist_ok=True)
    text = methodology_text(p, level, y)
    m = parse_methodology(text, f"{level}-{y}")
    (folder / "methodology.yaml").write_text(text, encoding="utf-8")
    rng = np.random.default_rng([seed, LEVELS.index(level), y, 7])
    index = {"year": y, "province": p.name, "methodology": "methodology.yaml", "synthetic": True,
             "note": "Dữ liệu mô phỏng (synthetic data) sinh bởi `parindex sample`, "
                     f"seed {seed}; đơn vị thật theo danh mục hành chính, số liệu không có thật.",
             # the official form of the announcement (a synthetic number and signer)
             "publication": {"issuer": f"UBND {p.name.upper()}", "number": f"{100 + LEVELS.index(level)}/QĐ-UBND",
                             "place": p.short,
                             "signer": "Nguyễn Văn A", "signer_title": "CHỦ TỊCH"}}
    for stale in ("dossier_stats.csv", "dossiers.parquet", "previous_results.csv", "lineage.csv"):
        (folder / stale).unlink(missing_ok=True)
    if previous is not None:
        index["previous_results"] = "previous_results.csv"
        previous.to_csv(folder / "previous_results.csv", index=False)
    if lineage is not None:
        lineage.to_csv(folder / "lineage.csv", index=False)
    units.to_csv(folder / "units.csv", index=False)
    named = {g: GROUP_NAMES_EN[g] for g in dict.fromkeys(units["group"]) if g in GROUP_NAMES_EN}
    if named:
        index["group_names"] = named
    make_self_assessment(m, units, q, rng).to_csv(folder / "self_assessment.csv", index=False)
    make_survey(m, units, q, rng, respondents).to_csv(folder / "survey_responses.csv", index=False)
    per_month = PROFILE[level][2]
    if raw_rows is not None:
        write_raw_dossiers(folder / "dossiers.parquet", units["unit_code"].tolist(), q, y, raw_rows, seed,
                           year_index=yi)
    elif level == "department":  # departments send per-dossier records; the others monthly statistics
        make_raw_dossiers(units, q, y, yi, per_month, rng).to_parquet(folder / "dossiers.parquet", index=False)
    else:
        make_dossier_stats(units, q, y, yi, per_month, rng).to_csv(folder / "dossier_stats.csv", index=False)
    make_deductions(units, rng).to_csv(folder / "deductions.csv", index=False)
    (folder / "index.yaml").write_text(yaml.safe_dump(index, allow_unicode=True, sort_keys=False),
                                       encoding="utf-8")


def current_units(p: Province) -> dict[str, pd.DataFrame]:
    """units.csv rows of a province in the 2025 registry (no district level): departments and communes."""
    from vietnamadminunits.database import query

    deps = pd.DataFrame({"unit_code": [d["code"] for d in p.departments],
                         "unit_name": [d["name"] for d in p.departments], "level": "department",
                         "group": p.groups.get("department", "Sở, ban, ngành"), "parent_code": p.gso_code})
    rows = pd.DataFrame(query("SELECT provinceCode, ward, wardCode FROM admin_units "
                              f"WHERE provinceShort = '{p.short}' ORDER BY wardCode"))
    # the communes of the two-level local government came into being on 1 July 2025: no statistics before
    communes = pd.DataFrame({"unit_code": rows["wardCode"], "unit_name": rows["ward"], "level": "commune",
                             "group": p.groups.get("commune", "Xã, phường, đặc khu"),
                             "parent_code": rows["provinceCode"], "active_from": "2025-07"})
    return {"department": deps, "commune": communes}


def commune_lineage(p: Province) -> pd.DataFrame:
    """lineage.csv for the communes of a 2025 province, from the registry's 2025 conversion table.

    An old commune that went whole into a new one has an empty weight (equal weights); an old commune split
    between several new ones gives each an equal share (1/k), and then every predecessor of those new units
    carries an explicit weight (1 for the whole ones), as tasks/lineage.py requires.
    """
    import json

    import vietnamadminunits
    from vietnamadminunits.database import query

    data = json.loads((Path(vietnamadminunits.__file__).parent / "data" / "converter_2025.json")
                      .read_text(encoding="utf-8"))
    new = pd.DataFrame(query("SELECT wardCode, ward, wardKey, provinceKey FROM admin_units "
                             f"WHERE provinceShort = '{p.short}' ORDER BY wardCode"))
    pkey = new["provinceKey"].iloc[0]
    old_provinces = data["DICT_PROVINCE"][pkey]
    keys = ", ".join(f"'{k}'" for k in old_provinces)
    legacy = pd.DataFrame(query("SELECT provinceKey, districtKey, wardKey, wardCode, ward FROM admin_units_legacy "
                                f"WHERE provinceKey IN ({keys})"))
    old_by_key = {f"{r.provinceKey}_{r.districtKey}_{r.wardKey}": (r.wardCode, r.ward)
                  for r in legacy.itertuples(index=False)}
    whole = data["DICT_PROVINCE_WARD_NO_DIVIDED"].get(pkey, {})
    split = {old: [w["newWardKey"] for w in news]
             for old, news in data["DICT_PROVINCE_WARD_DIVIDED"].get(pkey, {}).items()}
    rows = []
    for r in new.itertuples(index=False):
        preds = [(k, 1.0) for k in whole.get(r.wardKey, [])]
        preds += [(old, 1.0 / len(targets)) for old, targets in split.items() if r.wardKey in targets]
        preds = [(k, w) for k, w in preds if k in old_by_key]  # island districts had no commune level
        any_split = any(k in split for k, _ in preds)
        for k, w in preds:
            code, name = old_by_key[k]
            rows.append({"unit_code": r.wardCode, "predecessor_code": code, "predecessor_name": name,
                         "weight": f"{w:.6g}" if any_split else ""})
    return pd.DataFrame(rows, columns=["unit_code", "predecessor_code", "predecessor_name", "weight"])


def _successor_sample(out: Path, p: Province, year: int, years: int, seed: int) -> list[Path]:
    """A province formed in 2025: its first year compares with its predecessors' last results (lineage)."""
    span = [y for y in range(year - years + 1, year + 1) if y >= p.first_year]
    if not span:
        raise ValueError(f"{p.name} ({p.slug}) exists from {p.first_year}; ask for --year {p.first_year} or later")
    units_by_level = current_units(p)
    written = []
    history: dict[str, pd.DataFrame] = {}
    if span[0] == p.first_year:
        with tempfile.TemporaryDirectory() as tmp:
            for pred in p.predecessors:
                old = load_province(pred)
                levels = tuple(lv for lv in p.levels if lv in old.levels)
                for folder in write_sample(Path(tmp) / pred, province=pred, year=p.first_year - 1, years=1,
                                           seed=seed, levels=levels):
                    level = folder.name
                    res = published_results_of(folder)
                    if level == "department":  # both provinces used the same abbreviations
                        res = res.assign(unit_code=old.gso_code + ":" + res["unit_code"])
                    history[level] = pd.concat([history.get(level), res], ignore_index=True)
    for level in p.levels:
        units = units_by_level[level]
        previous = history.get(level)
        lineage = None
        if previous is not None:
            lineage = commune_lineage(p) if level == "commune" else pd.DataFrame(
                [{"unit_code": d["code"], "predecessor_code": f, "predecessor_name": "", "weight": ""}
                 for d in p.departments for f in d.get("from", [])])
        quality = _quality(seed, units, level, span)
        if lineage is not None and len(lineage):  # a merged unit starts where its predecessors were
            prev_idx = previous.set_index("unit_code")["index_pct"]
            base = lineage.assign(i=lineage["predecessor_code"].map(prev_idx)).groupby("unit_code")["i"].mean()
            drift = np.random.default_rng([seed, 2025]).normal(0.01, 0.02, len(units))
            start = units["unit_code"].map(base / 100).to_numpy(dtype=float) + drift
            quality[span[0]] = np.clip(np.where(np.isnan(start), quality[span[0]], start), 0.55, 0.99)
        for yi, y in enumerate(span):
            folder = Path(out) / str(y) / level
            _write_folder(folder, p, level, y, yi, units, quality[y], seed, previous,
                          lineage if yi == 0 else None)
            written.append(folder)
            if yi < len(span) - 1:
                previous = published_results_of(folder)
    return written


def write_demo_corrections(published: Path, path: Path) -> Path:
    """A realistic corrections file for a published sample run: a complaint upheld for the last-placed unit
    (an appraisal criterion raised to its maximum) and a re-verification that lowers the leader's score."""
    results = pd.read_csv(published / "results.csv", dtype={"unit_code": str}, encoding="utf-8-sig")
    criteria = pd.read_csv(published / "criteria.csv", dtype={"unit_code": str, "criterion_code": str}, encoding="utf-8-sig")
    appraisal = criteria[criteria["source"] == "appraisal"].assign(lost=lambda d: d["max_points"] - d["points"])
    last = results.sort_values(["rank", "unit_code"]).iloc[-1]["unit_code"]
    first = results.sort_values(["rank", "unit_code"]).iloc[0]["unit_code"]
    ups = appraisal[appraisal["unit_code"] == last].sort_values("lost", ascending=False, kind="stable").head(2)
    down = appraisal[appraisal["unit_code"] == first].sort_values("points", ascending=False, kind="stable").iloc[0]
    rows = [
        {"unit_code": last, "criterion_code": up["criterion_code"], "column": "appraised_points",
         "new_value": f"{up['max_points']:g}", "reason": "Chấp nhận khiếu nại: bổ sung minh chứng hợp lệ",
         "reference": "Biên bản Hội đồng thẩm định số 05/BB-HĐTĐ"} for up in ups.to_dict("records")]
    rows += [
        {"unit_code": first, "criterion_code": down["criterion_code"], "column": "appraised_points",
         "new_value": f"{max(0.0, down['points'] - 1.0):g}", "reason": "Phúc tra: minh chứng không đúng thời hạn",
         "reference": "Quyết định số 120/QĐ-SNV"},
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_raw_dossiers(path: Path, unit_codes: list[str], q: np.ndarray, year: int, rows: int, seed: int,
                       chunk: int = 2_000_000, year_index: int = 1) -> int:
    """Write `rows` per-dossier records for `unit_codes` to one Parquet file, chunk by chunk (one row group
    each), so memory stays bounded whatever `rows` is; return the number of rows written.

    Each unit has its own volume (some communes receive ten times more than others), online, on-time and
    digitised rates drawn as in `make_raw_dossiers`; ids are `<unit>-<year>-<sequence>` and unique.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng([seed, year, 11])
    n_units = len(unit_codes)
    online, on_time, digitized = _rates(np.asarray(q, dtype=float), year_index, rng)
    volume = rng.lognormal(0.0, 0.8, n_units)
    share = volume / volume.sum()
    per_unit = rng.multinomial(rows, share)
    codes = pa.array(unit_codes, pa.string())
    start = np.datetime64(f"{year}-01-01T00:00", "m")
    year_end = np.datetime64(f"{year}-12-31T23:59", "m")
    schema = pa.schema([("dossier_id", pa.string()), ("unit_code", pa.string()),
                        ("received_at", pa.timestamp("ms")), ("due_at", pa.timestamp("ms")),
                        ("resolved_at", pa.timestamp("ms")), ("online", pa.bool_()), ("digitized", pa.bool_())])
    unit_of_row = np.repeat(np.arange(n_units), per_unit)
    seq_of_row = np.concatenate([np.arange(k) for k in per_unit]) if rows else np.array([], int)
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for lo in range(0, rows, chunk):
            u = unit_of_row[lo:lo + chunk]
            n = len(u)
            received = start + (rng.uniform(0, 364, n) * 1440).astype("timedelta64[m]")
            due = received + (rng.integers(3, 21, n) * 1440).astype("timedelta64[m]")
            late = rng.random(n) > on_time[u]
            delta = np.where(late, rng.uniform(0.5, 10, n), -rng.uniform(0, 3, n))
            resolved = due + (delta * 1440).astype("timedelta64[m]")
            pending = resolved > year_end
            unit = codes.take(pa.array(u))
            ids = pc.binary_join_element_wise(unit, pa.scalar(str(year)),
                                              pc.cast(pa.array(seq_of_row[lo:lo + chunk]), pa.string()), "-")
            table = pa.table({
                "dossier_id": ids, "unit_code": unit,
                "received_at": pa.array(received.astype("datetime64[ms]")),
                "due_at": pa.array(due.astype("datetime64[ms]")),
                "resolved_at": pa.array(resolved.astype("datetime64[ms]"), mask=pending),
                "online": pa.array(rng.random(n) < online[u]), "digitized": pa.array(rng.random(n) < digitized[u]),
            }, schema=schema)
            writer.write_table(table)
            written += n
    return written


def national_provinces() -> list[Province]:
    """The 34 provinces of the 2025 registry, each with the national sample's departments and methodology."""
    from vietnamadminunits.database import query

    from tasks.text import ascii_slug

    d = yaml.safe_load((CONFIG_DIR / "provinces" / "national.yaml").read_text(encoding="utf-8"))
    rows = query("SELECT DISTINCT provinceCode, province, provinceShort FROM admin_units ORDER BY provinceCode")
    return [Province(ascii_slug(r["provinceShort"]), r["province"], r["provinceShort"], "current", 2100,
                     d["methodology"], d["groups"], d["departments"], gso_code=str(r["provinceCode"]),
                     first_year=int(d["first_year"]), levels=tuple(d["levels"]))
            for r in rows]


def _shares(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, largest remainders first: the parts sum to `total`."""
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    parts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - parts), kind="stable")[: total - parts.sum()]:
        parts[i] += 1
    return parts.tolist()


def _national_province(args: tuple) -> list[Path]:
    out, p, units_by_level, span, seed, raw = args
    pseed = seed * 1000 + int(p.gso_code)  # every province its own draws, the same for a seed
    written = []
    for level in p.levels:
        units = units_by_level[level]
        quality = _quality(pseed, units, level, span)
        previous = None
        for yi, y in enumerate(span):
            folder = out / str(y) / p.slug / level
            last = yi == len(span) - 1
            _write_folder(folder, p, level, y, yi, units, quality[y], pseed, previous, None,
                          raw_rows=raw[level] if last else None, respondents=(60, 91))
            written.append(folder)
            if not last:
                previous = published_results_of(folder)
    return written


def write_national_sample(out: Path, year: int = 2026, years: int = 2, seed: int = 20240,
                          raw_rows: int = 20_000_000, provinces: list[str] | None = None,
                          workers: int = 2) -> list[Path]:
    """`out/<year>/<province-slug>/<level>/` input folders for every province of the 2025 registry (or the
    `provinces` slugs given): departments and all 3,321 communes, about 3.4 M survey answers and, in the
    last year, `raw_rows` per-dossier records shared out by units (Parquet, one file per folder). The years
    before the last get the usual monthly statistics and feed the last year's `previous_results`."""
    from concurrent.futures import ProcessPoolExecutor

    span = list(range(year - years + 1, year + 1))
    if span[0] < 2025:
        raise ValueError("the national sample uses the 2025 registry (34 provinces, no districts): ask for "
                         f"years from 2025 (--year {year} --years {years} starts in {span[0]})")
    chosen = national_provinces()
    if provinces:
        unknown = set(provinces) - {p.slug for p in chosen}
        if unknown:
            raise ValueError(f"no province {sorted(unknown)} in the 2025 registry")
        chosen = [p for p in chosen if p.slug in provinces]
    units = {p.slug: current_units(p) for p in chosen}
    keys = [(p.slug, level) for p in chosen for level in p.levels]
    rows = dict(zip(keys, _shares(raw_rows, [len(units[s][lv]) for s, lv in keys]), strict=True))
    jobs = [(Path(out), p, units[p.slug], span, seed, {lv: rows[(p.slug, lv)] for lv in p.levels})
            for p in chosen]
    if workers <= 1:
        done = [_national_province(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(_national_province, jobs))
    return [f for folders in done for f in folders]
