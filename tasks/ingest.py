"""Edge module: find an input folder's files, archive them with their sha256, and read them as text tables.

Every file is copied into the run's `inputs/` archive *before* it is read, and is then read from the archive,
so what was processed is exactly what was archived. Cells are read as text (codes keep their leading zeros),
NFC-normalised and trimmed; numbers are parsed by the validation step, which can then name the bad cell.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from tasks.dossiers import validate_and_aggregate
from tasks.methodology import (
    Methodology,
    MethodologyError,
    YamlTooLarge,
    _yaml_where,
    file_sha256,
    load_methodology,
    load_yaml,
    resolve_methodology_path,
)
from tasks.problems import InputError, Problem, problem_row
from tasks.resources import CONFIG
from tasks.schema import TABLES
from tasks.text import DECIMAL_COMMA, month_of, nfc

#: the bundled methodologies and province settings
CONFIG_DIR = CONFIG
#: Row numbers are reported as the user sees them in Excel: the header is row 1, the first data row is 2.
FIRST_DATA_ROW = 2

# table -> (required columns, optional columns), from the one declaration in tasks.schema
TABLE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    name: (spec.required, spec.optional) for name, spec in TABLES.items()}
#: tables every run needs; which survey and dossier files it needs follows from the methodology (checks)
REQUIRED_TABLES = ("units", "self_assessment")
OPTIONAL_TABLES = ("survey_responses", "survey_scores", "deductions", "lineage", "corrections")
TABLE_SUFFIXES = (".csv", ".xlsx")


@dataclass
class Table:
    """A table as read: every cell text, plus `_row`, the row number the user sees in Excel."""

    name: str
    file: str  # the file name as archived, e.g. "self_assessment.xlsx"
    frame: pd.DataFrame
    # set when the table was derived from a larger file (raw dossiers): that file's own checks and counts
    problems: list[Problem] = field(default_factory=list)
    rows_read: int | None = None
    rows_rejected: int | None = None


@dataclass
class ArchivedFile:
    role: str  # index, methodology, units, self_assessment, …, previous_results
    source: str  # where it was read from (as given)
    archived: str  # path relative to the run's output folder, e.g. "inputs/units.csv"
    sha256: str
    bytes: int


@dataclass
class Inputs:
    """Everything one run reads, from its archive."""

    index: dict
    methodology: Methodology
    tables: dict[str, Table]
    files: list[ArchivedFile] = field(default_factory=list)
    methodology_text: str = ""  # the archived YAML, kept in the database beside its sha256
    #: problems found while reading (a file the methodology does not need, ignored), as problem rows
    notes: list[Problem] = field(default_factory=list)

    @property
    def dossier_source(self) -> str:
        """`dossiers` when per-dossier records were aggregated, else `dossier_stats`."""
        return "dossiers" if any(f.role == "dossiers" for f in self.files) else "dossier_stats"


def _find_table(folder: Path, stem: str, suffixes: tuple[str, ...] = TABLE_SUFFIXES) -> Path | None:
    found = [folder / f"{stem}{s}" for s in suffixes if (folder / f"{stem}{s}").is_file()]
    if len(found) > 1:
        raise InputError(str(folder), f"both {found[0].name} and {found[1].name} are present; keep one",
                         vi=f"có cả {found[0].name} và {found[1].name}; chỉ giữ một tệp")
    return found[0] if found else None


def read_index(folder: Path) -> dict:
    path = folder / "index.yaml"
    if not path.is_file():
        raise InputError(str(path), "index.yaml is missing: the input folder must have one (see README)",
                         vi="thiếu index.yaml: thư mục dữ liệu phải có tệp này (xem README)")
    try:
        index = load_yaml(path.read_text(encoding="utf-8-sig")) or {}
    except YamlTooLarge as exc:
        raise InputError(str(path), f"the file {exc}: refused", vi="tệp quá lớn hoặc lồng quá nhiều: không đọc") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = _yaml_where(exc) if isinstance(exc, yaml.YAMLError) else "not UTF-8 text"
        raise InputError(str(path), f"not valid YAML: {where}", vi=f"không đúng cú pháp YAML ({where})") from exc
    if not isinstance(index, dict):
        raise InputError(str(path), "must hold a YAML mapping (year, province, methodology, …)",
                         vi="phải là một bảng YAML (year, province, methodology, …)")
    for key in ("year", "province", "methodology"):
        if key not in index:
            raise InputError(str(path), f"`{key}` is missing", column=key, vi=f"thiếu `{key}`")
    return _nfc_values(index)


def _nfc_values(value):
    """NFC all the way down (index.yaml's `publication:` is a mapping of its own)."""
    if isinstance(value, dict):
        return {k: _nfc_values(v) for k, v in value.items()}
    return nfc(value)


def locate_inputs(folder: Path, config_dir: Path = CONFIG_DIR) -> dict[str, Path]:
    """role -> source path for every file an input folder provides (index.yaml decides the methodology)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(str(folder), "the input folder does not exist (check --inputs)",
                         vi="thư mục dữ liệu không tồn tại (kiểm tra --inputs)")
    index = read_index(folder)
    roles: dict[str, Path] = {"index": folder / "index.yaml"}
    try:
        roles["methodology"] = resolve_methodology_path(str(index["methodology"]), folder, config_dir)
    except FileNotFoundError as exc:
        raise InputError(str(folder / "index.yaml"), str(exc), column="methodology",
                         vi="không tìm thấy tệp bộ tiêu chí") from exc
    if not any(roles["methodology"].resolve().is_relative_to(Path(d).resolve()) for d in (folder, config_dir)):
        raise InputError(str(folder / "index.yaml"), f"methodology {index['methodology']!r} leaves the input "
                         "folder: give a file in the folder or the name of one in config/methodology/",
                         column="methodology", vi="đường dẫn bộ tiêu chí ra ngoài thư mục dữ liệu: hãy dùng tệp "
                         "trong thư mục hoặc tên một tệp trong config/methodology/")
    for stem in REQUIRED_TABLES + OPTIONAL_TABLES:
        path = _find_table(folder, stem)
        if path is None and stem == "units":
            raise InputError(str(folder / f"{stem}.csv"), f"{stem}.csv (or .xlsx) is missing",
                             vi=f"thiếu tệp {stem}.csv (hoặc .xlsx)")
        if path is not None:
            roles[stem] = path
    stats = _find_table(folder, "dossier_stats")
    raw = _find_table(folder, "dossiers", (".parquet", ".csv"))
    if stats and raw:
        raise InputError(str(folder), f"both {stats.name} and {raw.name} are present: give monthly statistics "
                                      "or per-dossier records, not both",
                             vi="chỉ nộp số liệu theo tháng hoặc dữ liệu từng hồ sơ, không nộp cả hai")
    if stats:
        roles["dossier_stats"] = stats
    elif raw:
        roles["dossiers"] = raw
    if index.get("previous_results"):
        prev = (folder / str(index["previous_results"])).resolve()
        published = prev.name.startswith("results.") and (prev.parent / "manifest.json").is_file()
        if prev.is_file() and not prev.is_relative_to(folder.resolve()) and not published:
            raise InputError(str(folder / "index.yaml"), f"previous_results {index['previous_results']!r} leaves "
                             "the input folder and is not a results file parindex published (with manifest.json "
                             "beside it): copy last year's results.csv into the folder", column="previous_results",
                             vi="tệp kết quả năm trước nằm ngoài thư mục dữ liệu và không phải results.csv do "
                                "parindex công bố: hãy chép results.csv năm trước vào thư mục")
        if not prev.is_file():
            raise InputError(str(folder / "index.yaml"), f"previous_results {index['previous_results']!r} "
                             f"does not exist (looked for {prev})", column="previous_results",
                             vi=f"không tìm thấy tệp kết quả năm trước {index['previous_results']!r}")
        roles["previous_results"] = prev
    return roles


def archive_inputs(roles: dict[str, Path], out_dir: Path) -> list[ArchivedFile]:
    """Copy every input into `out_dir/inputs/` under its role name and record its sha256 and size."""
    target = out_dir / "inputs"
    target.mkdir(parents=True, exist_ok=True)
    archived = []
    for role, src in roles.items():
        name = "index.yaml" if role == "index" else (
            "methodology.yaml" if role == "methodology" else f"{role}{src.suffix.lower()}")
        dst = target / name
        shutil.copyfile(src, dst)
        archived.append(ArchivedFile(role, str(src), f"inputs/{name}", file_sha256(dst), dst.stat().st_size))
    return archived


_WIN_HINT_EN = ("save it as 'CSV UTF-8 (Comma delimited)' or as an Excel workbook (.xlsx); a file saved as plain "
                "'CSV' on a Vietnamese Windows is in Windows-1258 and its diacritics cannot be read reliably")
_WIN_HINT_VI = ("hãy lưu lại bằng 'CSV UTF-8 (Comma delimited)' hoặc dạng sổ tính Excel (.xlsx); tệp lưu dạng 'CSV' "
                "thường trên Windows tiếng Việt dùng bảng mã Windows-1258, không đọc đúng được dấu tiếng Việt")


def decode_text(path: Path) -> str:
    """A text file as Excel and other tools save it: UTF-8 (BOM or not), or UTF-16 with its BOM ("Unicode
    text"). Anything else (Windows-1258, TCVN3) is refused with a sentence saying how to save it."""
    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(path.name, f"starts as UTF-16 text but is damaged at byte {exc.start}; {_WIN_HINT_EN}",
                             vi=f"bắt đầu là văn bản UTF-16 nhưng bị hỏng ở byte {exc.start}; {_WIN_HINT_VI}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path.name, f"is not UTF-8 text ({exc.reason} at byte {exc.start}); {_WIN_HINT_EN}",
                         vi=f"không phải văn bản UTF-8 (lỗi ở byte {exc.start}); {_WIN_HINT_VI}") from exc


def sniff_separator(text: str) -> str:
    """`,` (CSV), `;` (Excel's CSV under a Vietnamese or European locale) or a tab (Excel's "Unicode text"):
    the one that splits the header line into the most columns (quoted parts are not counted)."""
    header = re.sub(r'"[^"]*"', "", text.split("\n", 1)[0])
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


#: control characters (tab, line breaks allowed) and the bidirectional controls that reverse a name on a page
_HIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
#: bounds on a table file: far above any province's data (the national sample's largest table is ~70 MB of
#: survey answers), far below what exhausts this machine; raw dossiers go through DuckDB and are not bounded here
MAX_TABLE_BYTES = 256 << 20
MAX_XLSX_UNPACKED = 512 << 20
MAX_TABLE_ROWS = 2_000_000
def _numeric_columns(name: str, columns) -> list[str]:
    spec = TABLES[name]
    extra = [c for c in columns if name == "previous_results" and c.endswith(("_pct", "_points", "_proforma"))]
    return [c for c in columns if c in spec.numeric] + extra


def read_table(path: Path, name: str) -> Table:
    """Read a CSV (UTF-8 with or without BOM, UTF-16 with BOM; `,`, `;` or tab separated) or the first sheet
    of an XLSX as text, NFC-normalised, with `_row`. In a `;`- or tab-separated file a decimal comma in a
    number column is a decimal separator (Excel under a Vietnamese locale); month columns are read as
    `YYYY-MM` whatever Excel made of them."""
    required, optional = TABLE_COLUMNS[name]
    separator, text = ",", None
    _check_size(path)
    try:
        if path.suffix.lower() == ".xlsx":
            header = _xlsx_header(path)
            df = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, engine="openpyxl")
        else:
            # NFC over the whole text at once (one C call): separators, quotes and line ends are starters that
            # never compose, so this is exactly NFC of every cell
            text = unicodedata.normalize("NFC", decode_text(path))
            separator = sniff_separator(text)
            header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=separator), [])
            df = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False)
    except InputError:
        raise
    except Exception as exc:  # a damaged xlsx, a CSV with unbalanced quotes…
        raise InputError(path.name, f"cannot be read as a table: {exc}",
                         vi="không đọc được thành bảng dữ liệu (tệp hỏng hoặc sai định dạng)") from exc
    names = [nfc(str(c)) for c in header]
    twice = sorted({c for c in names if names.count(c) > 1 and c})
    if twice:
        raise InputError(path.name, f"column {twice[0]} appears twice in the header row: keep one",
                         column=twice[0], row=1, vi=f"cột {twice[0]} xuất hiện hai lần ở dòng tiêu đề: chỉ giữ một")
    if len(df) > MAX_TABLE_ROWS:
        raise InputError(path.name, f"has {len(df):,} rows, more than the {MAX_TABLE_ROWS:,} a table may have",
                         vi=f"có {len(df):,} dòng, vượt giới hạn {MAX_TABLE_ROWS:,} dòng của một bảng")
    df.columns = [nfc(str(c)) for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path.name, f"column(s) {', '.join(missing)} missing; the header must have "
                                    f"{', '.join(required + optional)}", column=missing[0], row=1,
                         vi=f"thiếu cột {', '.join(missing)}; dòng tiêu đề phải có {', '.join(required + optional)}")
    for col in optional:
        if col not in df.columns:
            df[col] = ""
    df = df.fillna("")
    for col in df.columns:
        if df[col].dtype == object or str(df[col].dtype) == "str":
            df[col] = df[col].map(nfc) if text is None else df[col].str.strip()  # a CSV's text is NFC already
    if separator != ",":
        for col in _numeric_columns(name, df.columns):
            df[col] = df[col].str.replace(DECIMAL_COMMA, r"\1.\2", regex=True)
    for col in df.columns:
        if TABLES[name].kind(col) == "month":
            df[col] = df[col].map(month_of)
    df["_row"] = range(FIRST_DATA_ROW, FIRST_DATA_ROW + len(df))
    df = df.reset_index(drop=True)
    # one scan of a CSV's text finds none in nearly every file; then no cell needs looking at
    clean = text is not None and _HIDDEN_CHARS.search(text) is None
    return Table(name, path.name, df, problems=[] if clean else hidden_characters(df, path.name))


def hidden_characters(df: pd.DataFrame, file: str) -> list[dict]:
    """An error per cell holding a control character or a bidirectional override: invisible in a table, it
    corrupts a CSV or reverses a unit's name in the announcement."""
    problems = []
    for col in df.columns:
        if col == "_row" or not (df[col].dtype == object or str(df[col].dtype) == "str"):
            continue
        bad = df[col].astype(str).str.contains(_HIDDEN_CHARS, regex=True)
        for d in df[bad].to_dict("records"):
            value = str(d[col])
            chars = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in _HIDDEN_CHARS.findall(value)}))
            problems.append(problem_row(
                file, f"holds invisible control character(s) {chars}: retype the cell",
                f"chứa ký tự điều khiển ẩn {chars}: hãy gõ lại nội dung ô này", row=d.get("_row") or None,
                unit_code=str(d.get("unit_code", "") or ""), column=col,
                value=_HIDDEN_CHARS.sub("\ufffd", value)[:80], check="inputs:characters"))
    return problems


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise InputError(path.name, f"is {size >> 20} MB, more than the {MAX_TABLE_BYTES >> 20} MB a table may "
                         "be", vi=f"dung lượng {size >> 20} MB, vượt giới hạn {MAX_TABLE_BYTES >> 20} MB của một bảng")
    if path.suffix.lower() == ".xlsx":
        try:
            with zipfile.ZipFile(path) as z:
                unpacked = sum(i.file_size for i in z.infolist())
        except zipfile.BadZipFile as exc:
            raise InputError(path.name, "is not an Excel workbook (.xlsx) or is damaged",
                             vi="không phải sổ tính Excel (.xlsx) hoặc tệp bị hỏng") from exc
        if unpacked > MAX_XLSX_UNPACKED:
            raise InputError(path.name, f"unpacks to {unpacked >> 20} MB, more than the {MAX_XLSX_UNPACKED >> 20} "
                             "MB a workbook may", vi=f"giải nén ra {unpacked >> 20} MB, vượt giới hạn "
                             f"{MAX_XLSX_UNPACKED >> 20} MB của một sổ tính")


def _xlsx_header(path: Path) -> list:
    """The first sheet's header row as written (pandas renames a repeated column; this does not), and its
    row count from the sheet's own dimension, refused before the whole sheet is read when it is too long."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        ws = wb.worksheets[0]
        if (ws.max_row or 0) > MAX_TABLE_ROWS + 1:
            raise InputError(path.name, f"has {ws.max_row - 1:,} rows, more than the {MAX_TABLE_ROWS:,} a table "
                             "may have", vi=f"có {ws.max_row - 1:,} dòng, vượt giới hạn {MAX_TABLE_ROWS:,} dòng")
        return ["" if v is None else v for v in next(ws.iter_rows(max_row=1, values_only=True), ())]
    finally:
        wb.close()


def aggregate_raw_dossiers(path: Path, scored_units: set[str]) -> Table:
    """Per-dossier records -> monthly statistics per unit (the dossier_stats table), checked and aggregated
    in DuckDB by the raw-dossier suite (tasks/dossiers.py); its problems and row counts travel with
    the table to the validation step."""

    stats, problems, counts = validate_and_aggregate(path, scored_units)
    stats["_row"] = 0  # aggregated rows have no row of their own in the file
    return Table("dossier_stats", path.name, stats, problems=problems, rows_read=counts["rows_read"],
                 rows_rejected=counts["rows_rejected"])


def read_inputs(out_dir: Path, archived: list[ArchivedFile]) -> Inputs:
    """Read every archived input of a run (paths in `archived` are relative to `out_dir`)."""
    by_role = {a.role: out_dir / a.archived for a in archived}
    index = load_yaml(by_role["index"].read_text(encoding="utf-8-sig")) or {}
    index = _nfc_values(index)
    methodology = load_methodology(by_role["methodology"])
    needed = methodology.needed_tables()
    tables: dict[str, Table] = {}
    notes: list[dict] = []
    for role, path in by_role.items():
        if role in ("index", "methodology"):
            continue
        table = "dossier_stats" if role == "dossiers" else role
        if table in ("self_assessment", "survey_responses", "survey_scores", "dossier_stats") and table not in needed:
            notes.append(unneeded_file(path.name, methodology.id))
            continue
        if role == "dossiers":
            units = tables["units"].frame
            scored = set(units.loc[units["level"] == methodology.level, "unit_code"])
            tables["dossier_stats"] = aggregate_raw_dossiers(path, scored)
        else:
            tables[role] = read_table(path, role)
    return Inputs(index=index, methodology=methodology, tables=tables, files=archived,
                  methodology_text=by_role["methodology"].read_text(encoding="utf-8-sig"), notes=notes)


def unreadable_rows(exc: Exception, inputs: str) -> list[Problem]:
    """Problem rows for an input folder that cannot be read at all (InputError) or a methodology that does not
    add up (MethodologyError: one row per broken rule), in English and Vietnamese."""
    if isinstance(exc, MethodologyError):
        return [problem_row(exc.path, p, f"bộ tiêu chí không dùng được: {p}", check="methodology")
                for p in exc.problems]
    return [problem_row(getattr(exc, "file", str(inputs)), getattr(exc, "problem", str(exc)),
                        getattr(exc, "vi", "") or str(exc), row=getattr(exc, "row", None),
                        column=getattr(exc, "column", ""), check="inputs:readable")]


def unneeded_file(name: str, methodology_id: str) -> Problem:
    """The warning for a file the methodology scores nothing from: archived, not read."""
    return problem_row(name, f"methodology {methodology_id} has no criterion scored from this file; it is ignored",
                       f"bộ tiêu chí {methodology_id} không có tiêu chí nào chấm từ tệp này; tệp không được dùng",
                       severity="warning", check="inputs:unneeded")


def read_published(folder: Path, methodology: Path | None = None) -> Inputs:
    """The archived inputs of a publication (`folder/manifest.json` names them), read as the run read them;
    with `methodology`, scored under another methodology file instead (`parindex whatif`)."""
    import json

    folder = Path(folder).resolve()
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(str(manifest_path), "is missing: --from must be a folder `parindex run` published",
                         vi="không có: --from phải là thư mục do `parindex run` công bố")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    archived = []
    for role, info in manifest["inputs"].items():
        if role == "corrections":
            continue
        path = (folder / info["file"]).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            raise InputError(str(manifest_path), f"names {info['file']!r}, which is not an archived file of "
                             "this publication", vi=f"ghi tệp {info['file']!r} không thuộc bản lưu của lần công bố")
        archived.append(ArchivedFile(role, info.get("source", ""), str(path), info["sha256"], info.get("bytes", 0)))
    if methodology is not None:
        if not Path(methodology).is_file():
            raise InputError(str(methodology), "the methodology file does not exist",
                             vi="không tìm thấy tệp bộ tiêu chí")
        archived = [a for a in archived if a.role != "methodology"]
        archived.append(ArchivedFile("methodology", str(methodology), str(Path(methodology).resolve()),
                                     file_sha256(Path(methodology)), Path(methodology).stat().st_size))
    return read_inputs(folder, archived)
