"""The per-unit scorecard, units/<code>.pdf, drawn from `cards.unit_cards` on the project's own small PDF canvas
(tasks/pdfcanvas.py; ReportLab measures the text and subsets the fonts).

Why not Typst, which typesets the announcement report (tasks/typeset.py): a scorecard is a fixed form (a title
block, seven key figures, a field table with a profile chart, a criteria table), the same for every unit of a
level, and a province sends hundreds of them, the country thousands. The same card written as a Typst template
took 54 ms per unit against 25 ms drawn with ReportLab's canvas (114 Hải Phòng communes, one process, a warm
Typst compiler, 2026-11-30), and ~3 ms on tasks/pdfcanvas.py (session 13): for the 3,729 units of the national
sample, Typst would cost ~200 CPU-s against ~11. So two engines, each where it is fastest; both use the same
fonts and the same formatted words. The same `unit_cards` context the HTML report uses (numbers formatted once,
in tasks/report.py), the fonts are the report's (DejaVu Sans, Vietnamese subset, embedded), and tests read every
card back (tests/test_cli.py, tests/test_scorecard.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from tasks import pdfcanvas
from tasks.pdfcanvas import Canvas
from tasks.resources import FONTS

REGULAR, BOLD = "PAR-Sans", "PAR-Sans-Bold"
PAGE_W, PAGE_H = A4
LEFT = RIGHT = 13 * mm
TOP = BOTTOM = 16 * mm
WIDTH = PAGE_W - LEFT - RIGHT
ASCENT, DESCENT = 0.928, 0.236  # DejaVu Sans, in em

# the report's palette (templates/report.css)
RED, GRID, HEAD_BG, INK, GREY, NOTE = "#7a0d0d", "#bbbbbb", "#f2e6e6", "#111111", "#555555", "#444444"
CHANGE_INK = {"up": "#106b21", "down": "#a01818", "same": "#666666", "none": "#666666"}
HEAT_BG = {"h5": "#1a7f37", "h4": "#7cc48a", "h3": "#dff0d8", "h2": "#fde9b8", "h1": "#f5b7b1", "h0": "#eeeeee"}
LOST_BG, BAR, SYNTH_BG, SYNTH_LINE = "#fdf0ef", "#7a9cc6", "#fff3cd", "#c9a227"


@functools.lru_cache(maxsize=16384)
def _split(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """A text's lines at a width: the same criterion names wrap the same way on every card (~10 % of a card)."""
    return tuple(simpleSplit(text, font, size, width))


def register_fonts() -> None:
    """The report's fonts, once per process: ReportLab measures text with them, and the writer's fixed subsets
    of them are made and compressed here (tasks/pdfcanvas.py)."""
    if REGULAR not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS / "DejaVuSans-vi.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold-vi.ttf")))
    pdfcanvas.font(REGULAR)
    pdfcanvas.font(BOLD)


class Cell:
    """One table cell: text, alignment ('l', 'c', 'r'), bold, ink and background colours; `wrap=False` keeps
    numbers on one line as the report does (white-space: nowrap)."""

    __slots__ = ("text", "align", "bold", "ink", "bg", "wrap")

    def __init__(self, text, align="l", bold=False, ink=INK, bg=None, wrap=True):
        self.text, self.align, self.bold, self.ink, self.bg, self.wrap = str(text), align, bold, ink, bg, wrap


class Sheet:
    """A canvas (tasks/pdfcanvas.py) with a cursor `y` that moves down the page and starts a new page (with the
    footer) when the next block does not fit."""

    def __init__(self, path: Path, title: str, footer: str, author: str, mark: str = ""):
        self.path = path
        self.cv = Canvas(A4, title=title, author=author, creator="parindex")
        self.footer = footer
        self.mark = mark  # "DỰ THẢO" on every page of a draft
        self.pages = 1
        self.y = PAGE_H - TOP
        self._font: tuple[str, float] | None = None  # what the canvas has now: set again only on a change
        self._fill: str | None = None
        self._stroke: tuple[str, float] | None = None

    def font(self, name: str, size: float) -> None:
        if self._font != (name, size):
            self.cv.set_font(name, size)
            self._font = (name, size)

    def stroke(self, colour: str, width: float) -> None:
        if self._stroke != (colour, width):
            self.cv.stroke(colour, width)
            self._stroke = (colour, width)

    def fill(self, colour: str) -> None:
        if self._fill != colour:
            self.cv.fill(colour)
            self._fill = colour

    def room(self, height: float) -> bool:
        return self.y - height >= BOTTOM

    def new_page(self) -> None:
        self._footer()
        self.cv.show_page()  # a new page starts with the default colours, no font
        self._font = self._fill = self._stroke = None
        self.pages += 1
        self.y = PAGE_H - TOP

    def _footer(self) -> None:
        if self.mark:
            self.fill(RED)
            self.font(BOLD, 11)
            self.cv.draw_string(PAGE_W - (PAGE_W - WIDTH) / 2, PAGE_H - TOP / 2 - 4, self.mark, "r")
        self.fill(GREY)
        text, size = self.footer, 8.0
        wide = pdfmetrics.stringWidth(text, REGULAR, size)
        if wide > WIDTH:  # a long unit name: smaller, and cut short with an ellipsis below 6.5 pt
            size = max(6.5, size * WIDTH / wide)
            while pdfmetrics.stringWidth(text, REGULAR, size) > WIDTH:
                text = text[:-2] + "…"
        self.font(REGULAR, size)
        self.cv.draw_string(PAGE_W / 2, BOTTOM / 2, text, "c")

    def save(self) -> int:
        self._footer()
        self.path.write_bytes(self.cv.save())
        return self.pages

    def text(self, x: float, y: float, s: str, size: float, bold=False, ink=INK, align="l",
             char_space: float = 0.0) -> None:
        self.font(BOLD if bold else REGULAR, size)
        self.fill(ink)
        self.cv.draw_string(x, y, s, align, char_space)

    def paragraph(self, s: str, size: float, x: float = LEFT, width: float = WIDTH, ink=INK, bold=False,
                  align="l", leading: float = 1.35, space_after: float = 4) -> None:
        """Wrapped text at the cursor, moving it down."""
        lines = _split(s, BOLD if bold else REGULAR, size, width)
        lead = size * leading
        if not self.room(len(lines) * lead):
            self.new_page()
        for line in lines:
            self.y -= lead
            ax = x if align == "l" else x + width / 2
            self.text(ax, self.y + (lead - size * (ASCENT + DESCENT)) / 2 + DESCENT * size, line, size, bold,
                      ink, align)
        self.y -= space_after

    def table(self, widths: list[float], header: list[Cell], rows: list[list[Cell]], size: float,
              head_size: float | None = None, pad_x: float = 2, pad_y: float = 0.5, leading: float = 1.15,
              x: float = LEFT, row_bg: list[str | None] | None = None) -> None:
        """A bordered table at the cursor, the header repeated on every page it runs onto."""
        head_size = head_size or size
        head = self._layout(widths, header, head_size, pad_x, pad_y, leading)
        body = [self._layout(widths, r, size, pad_x, pad_y, leading) for r in rows]
        if not self.room(head[0] + (body[0][0] if body else 0)):
            self.new_page()
        self._row(x, widths, header, head, head_size, pad_x, pad_y, leading, HEAD_BG)
        for i, (cells, laid) in enumerate(zip(rows, body, strict=True)):
            if not self.room(laid[0]):
                self.new_page()
                self._row(x, widths, header, head, head_size, pad_x, pad_y, leading, HEAD_BG)
            self._row(x, widths, cells, laid, size, pad_x, pad_y, leading, row_bg[i] if row_bg else None)

    @staticmethod
    def _layout(widths, cells, size, pad_x, pad_y, leading):
        lines = []
        for w, cell in zip(widths, cells, strict=True):
            font = BOLD if cell.bold else REGULAR
            lines.append(_split(cell.text, font, size, w - 2 * pad_x) if cell.wrap and cell.text
                         else (cell.text,))
        height = max(len(ls) for ls in lines) * size * leading + 2 * pad_y
        return height, lines

    def _row(self, x, widths, cells, laid, size, pad_x, pad_y, leading, bg):
        height, lines = laid
        cv = self.cv
        top = self.y
        self.stroke(GRID, 0.5)
        cx = x
        lead = size * leading
        pieces = []
        for w, cell, ls in zip(widths, cells, lines, strict=True):
            fill = cell.bg or bg
            if fill:
                self.fill(fill)
            cv.rect(cx, top - height, w, height, stroke=True, fill=bool(fill))
            baseline = top - pad_y - (lead - size * (ASCENT + DESCENT)) / 2 - ASCENT * size
            for line in ls:
                if line:
                    ax = cx + pad_x if cell.align == "l" else cx + w - pad_x if cell.align == "r" else cx + w / 2
                    pieces.append((ax, baseline, line, BOLD if cell.bold else REGULAR, size, cell.ink, cell.align))
                baseline -= lead
            cx += w
        if pieces:  # the row's text as one PDF text object over its cells: one per row, not one per piece
            cv.texts(pieces)
            self._fill = pieces[-1][5]  # the page's fill colour is now the last piece's
        self.y = top - height


def _title_block(s: Sheet, u: dict, ctx: dict) -> None:
    """The boxed title: what the card is (level, province, year), the unit's name, its group, the version and
    the date. Any of them may be long (a merged commune's name, a group with a long name): they wrap."""
    L = ctx["L"]
    inner = WIDTH - 16
    kind = f"{L['unit_card']} · {ctx['level_name']} · {ctx['province']} · {ctx['year']}".upper()
    kind_lines = simpleSplit(kind, REGULAR, 8, inner - 0.5 * len(kind))  # letter-spaced 0.5 pt
    name_lines = simpleSplit(u["unit_name"], BOLD, 15, inner)
    meta_lines: list[list[tuple[str, bool]]] = [[]]  # the group, version and date, greedily on lines
    width = 0.0
    for k, (part, bold) in enumerate([(f"{L['group']}: ", False), (str(u["group"]), True),
                                      (f"{L['version']}: {ctx['version']}", False),
                                      (f"{L['published']}: {ctx['date']}", False)]):
        gap = "    " if k >= 2 and meta_lines[-1] else ""
        w = pdfmetrics.stringWidth(gap + part, BOLD if bold else REGULAR, 8)
        if meta_lines[-1] and width + w > inner and k != 1:
            meta_lines.append([])
            gap, width = "", 0.0
            w = pdfmetrics.stringWidth(part, BOLD if bold else REGULAR, 8)
        meta_lines[-1].append((gap + part, bold))
        width += w
    height = 5 + len(kind_lines) * 8 * 1.35 + len(name_lines) * 15 * 1.2 + len(meta_lines) * 8 * 1.35 + 5 + 4
    top = s.y
    s.stroke(RED, 1)
    s.cv.rect(LEFT, top - height, WIDTH, height, stroke=True, fill=False)
    y = top - 5 - 8 * 1.35 + 8 * 0.35
    for line in kind_lines:
        s.text(LEFT + 8, y, line, 8, ink=RED, char_space=0.5)
        y -= 8 * 1.35
    y += 8 * 1.35
    for line in name_lines:
        y -= 15 * 1.2
        s.text(LEFT + 8, y, line, 15, bold=True)
    y -= 4
    for parts in meta_lines:
        y -= 8 * 1.35
        x = LEFT + 8
        for part, bold in parts:
            s.text(x, y, part, 8, bold=bold)
            x += pdfmetrics.stringWidth(part, BOLD if bold else REGULAR, 8)
    s.y = top - height - 4


def _synthetic(s: Sheet, text: str) -> None:
    lines = simpleSplit(text, BOLD, 9, WIDTH - 12)
    height = len(lines) * 9 * 1.35 + 8
    top = s.y - 2
    s.stroke(SYNTH_LINE, 1)
    s.fill(SYNTH_BG)
    s.cv.rect(LEFT, top - height, WIDTH, height, stroke=True, fill=True)
    y = top - 4
    for line in lines:
        y -= 9 * 1.35
        s.text(LEFT + 6, y + 3, line, 9, bold=True)
    s.y = top - height - 6


def _profile(s: Sheet, chart: dict, caption: str, x: float, width: float) -> float:
    """The field profile (tasks/charts.field_profile, drawn by the report as SVG) scaled to `width`; returns
    the height used, caption included."""
    k = width / chart["width"]
    top = s.y
    cv = s.cv
    h = chart["height"]
    for t in chart["ticks"]:
        s.stroke("#dddddd", 0.5)
        cv.line(x + t["x"] * k, top - 2 * k, x + t["x"] * k, top - (h - 12) * k)
        s.text(x + t["x"] * k, top - (h - 3) * k - 2, t["v"], 6.5, align="c")
    for r in chart["rows"]:
        s.text(x + (chart["x0"] - 4) * k, top - (r["y"] + 9) * k, r["code"], 7, align="r")
        s.fill(BAR)
        cv.rect(x + chart["x0"] * k, top - (r["y"] + chart["row"] - 4) * k, r["w"] * k, (chart["row"] - 4) * k,
                stroke=False, fill=True)
        s.stroke(INK, 1.6 * k)
        cv.line(x + r["best"] * k, top - (r["y"] - 1) * k, x + r["best"] * k, top - (r["y"] + chart["row"] - 3) * k)
        s.text(x + (chart["x0"] + chart["plot_w"] + 3) * k, top - (r["y"] + 9) * k, r["text"], 6.5)
    s.y = top - h * k - 4
    s.paragraph(caption, 7.5, x=x, width=width, ink=NOTE, align="c", space_after=0)
    used = top - s.y
    s.y = top
    return used


def draw_card(s: Sheet, u: dict, ctx: dict) -> None:
    """One unit's scorecard, the layout of the report's short scorecards written out in full."""
    L = ctx["L"]
    _title_block(s, u, ctx)
    if ctx.get("synthetic"):
        _synthetic(s, L["synthetic"])
    kpi_head = [Cell(L[k], "c", bold=True) for k in ("rank", "index", "points", "band", "change", "prev_rank",
                                                      "prev_index")]
    kpi = [Cell(u["rank"], "c", True), Cell(u["index"], "c", True), Cell(u["points"], "c", True),
           Cell(u["band"], "c", True), Cell(u["change"], "c", True, ink=CHANGE_INK.get(u["change_css"], INK)),
           Cell(u["prev_rank"] or "–", "c", True), Cell(u["prev_index"] or "–", "c", True)]
    s.table([WIDTH / 7] * 7, kpi_head, [kpi], size=10, head_size=7, pad_y=1)
    s.y -= 4
    lead = u["next_band"] + "." + (f" {L['formed_from']}: {u['predecessors']}." if u.get("predecessors") else "")
    s.paragraph(lead, 9)
    # the profile chart (40 %) beside the field table (58 %)
    top = s.y
    used = _profile(s, u["profile"], L["chart_profile"], LEFT, WIDTH * 0.40)
    fx = LEFT + WIDTH * 0.42
    fw = WIDTH * 0.58
    head = [Cell(L["field_col"], bold=True)] + [Cell(L[k], "r", bold=True) for k in
                                                ("points", "max", "lost_short", "pct_col", "best_in_group",
                                                 "vs_last_year")]
    rows = [[Cell(f["code"]), Cell(f["points"], "r", wrap=False), Cell(f["max"], "r", wrap=False),
             Cell(f["lost"], "r", wrap=False), Cell(f["pct"], "r", bg=HEAT_BG.get(f["heat"]), wrap=False,
                                                    ink="#ffffff" if f["heat"] == "h5" else INK),
             Cell(f["best"], "r", wrap=False), Cell(f["change"], "r", wrap=False)] for f in u["fields"]]
    rows.append([Cell(L["deductions_label"]), Cell(u["deductions_signed"], "r", wrap=False)] + [Cell("")] * 5)
    s.table([fw / 7] * 7, head, rows, size=7, x=fx)
    s.y = min(s.y, top - used) - 8
    if not s.room(60):
        s.new_page()
    s.paragraph(L["criteria"], 10, bold=True, space_after=2)
    # 7 pt, the smallest type of the report's tables; a unit with many criteria takes a second page
    size = 7.0
    widths = [WIDTH * p for p in (0.07, 0.55, 0.13, 0.09, 0.08, 0.08)]
    head = [Cell(L["criterion"], bold=True), Cell(""), Cell(L["source"], bold=True),
            Cell(L["points"], "r", bold=True), Cell(L["max"], "r", bold=True), Cell(L["lost_short"], "r", bold=True)]
    rows = [[Cell(c["code"]), Cell(c["name"]), Cell(c["source"]), Cell(c["points"], "r", wrap=False),
             Cell(c["max"], "r", wrap=False), Cell(c["lost"], "r", wrap=False)] for c in u["criteria"]]
    s.table(widths, head, rows, size=size, pad_y=0.1, leading=1.1,
            row_bg=[LOST_BG if c["lost_css"] else None for c in u["criteria"]])
    s.y -= 6
    for line in u.get("deduction_notes", []):  # each deduction with its criterion and reason
        s.paragraph(f"{L['deductions_label']}: {line}", 7.5, ink=RED, space_after=1)
    note = " · ".join(f"{f['code']}: {f['name']}" for f in u["fields"])
    s.paragraph(note, 7.5, ink=NOTE)
    if ctx.get("inputs_digest"):  # what this card was computed from, for a complaint or an audit (no run id:
        # the same inputs give the same bytes; manifest.json ties the digest to the run)
        s.paragraph(f"{L['version']} {ctx['version']} · {L['inputs_digest']}: {ctx['inputs_digest'][:16]}… · "
                    f"{L['methodology']}: {ctx['methodology_id']}", 6.5, ink=GREY, space_after=0)


def write_card(path: Path, u: dict, ctx: dict) -> int:
    """units/<code>.pdf for one unit; returns its page count."""
    register_fonts()
    s = Sheet(path, f"{ctx['L']['unit_card']} {ctx['year']} — {u['unit_name']}", u["unit_name"],
              str(ctx["province"]), mark=ctx["L"]["draft_mark"] if ctx.get("draft") else "")
    draw_card(s, u, ctx)
    return s.save()
