"""The PDF's type as WeasyPrint sets it: rows set as lines land where `layout.py` measured
them, no line of text makes WeasyPrint build Pango font features (it keeps each), and the
streams holding it are deflated at zlib's default level."""

from __future__ import annotations

import re
import subprocess
import tempfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import weasyprint.text.line_break as line_break

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.layout import CELL_BUDGET
from herald.services.renderer.formats.pdf import compose
from herald.services.renderer.formats.worker import collected, to_pdf
from herald.services.renderer.reports.model import Column, ColumnKind
from herald.shared.contract.messages import HeadlineTile
from tests.samples import pdf_heading

pytestmark = pytest.mark.integration

#: One word per value, so each value is one word of pdftotext's. Liberation Sans kerns
#: "AV", "WA", "Ty", "To" and "11": set with kerning, each line's values would drift.
NAMES = ("AVATAR", "WAVY", "Tyre", "Tokyo", "Ivy")
COLUMNS = (
    Column("name", "Name"),
    Column("dialed", "Dialed", ColumnKind.INTEGER),
    Column("code", "Code"),
    Column("answered", "Answered", ColumnKind.INTEGER),
    Column("rate", "Rate", ColumnKind.PERCENT),
)
ROWS = [
    [NAMES[n % 5], f"{1111 * (n % 9 + 1):,}", NAMES[(n + 2) % 5], str(11 ** (n % 4)), f"{n % 7}1.1"]
    for n in range(200)
]


@pytest.fixture(autouse=True)
def _temp_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process prints the PDFs itself: WeasyPrint's copies of the faces' fonts go to
    pytest's folder, not /tmp (a pool worker's go to its own, `worker.own_temp_dir`)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _html() -> str:
    assert len(ROWS) * len(COLUMNS) > CELL_BUDGET  # set as lines of text
    return compose(pdf_heading(), [DisplayTable(None, COLUMNS, ROWS, None, len(ROWS))])


def _words(path: Path) -> list[tuple[float, float, float, str]]:
    """Every word: (top, left, right, text) from pdftotext's boxes; each page 10,000 pt lower."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    words = []
    for n, page in enumerate(out.split("<page ")[1:]):
        for left, top, right, text in re.findall(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<', page
        ):
            words.append((n * 10_000 + float(top), float(left), float(right), text))
    return words


def test_values_set_as_lines_sit_under_their_headers_on_every_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.pdf"
    path.write_bytes(collected(to_pdf, _html(), (), "#2f5d8a"))
    lines: dict[float, list[tuple[float, float, str]]] = defaultdict(list)
    for top, left, right, text in _words(path):
        lines[top].append((left, right, text))
    headers = {text: (left, right) for line in lines.values() for left, right, text in line}
    rows = [sorted(line) for line in lines.values() if [w[2] for w in sorted(line)] in ROWS]
    assert len(rows) == len(ROWS)
    for n, column in enumerate(COLUMNS):
        # Text starts where its column does, a number ends where its header does.
        edges = [row[n][1] if column.numeric else row[n][0] for row in rows]
        header = headers[column.label][1 if column.numeric else 0]
        assert max(edges) - min(edges) < 0.2, column.label
        assert abs(edges[0] - header) < 0.5, column.label


def test_no_line_of_a_report_builds_pango_font_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint 70 builds a Pango attribute for every line styled with `font-kerning` or
    `font-variant-*` and frees none: 0.9 MB per 1,000-row PDF a worker keeps for good.
    The template's face (`worker.FONT_FACES`) carries the features instead."""
    pango = line_break.pango
    built: list[bytes] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(pango, name)

        def pango_attr_font_features_new(self, features: bytes) -> Any:
            built.append(features)
            return pango.pango_attr_font_features_new(features)

    monkeypatch.setattr(line_break, "pango", Counting())
    assert collected(to_pdf, _html(), (), "#2f5d8a").startswith(b"%PDF")
    assert built == []


def test_streams_are_deflated_at_zlibs_default_level(tmp_path: Path) -> None:
    """`worker._deflated`: pydyf's level 9 cost 7 % of a render. Each stream the finisher
    deflated (all but the object and cross-reference streams pydyf writes after it) is
    exactly what zlib's default level makes of its content, and the text reads back."""
    pdf = collected(to_pdf, _html(), (), "#2f5d8a")
    deflated = [
        data
        for head, data in re.findall(rb"\d+ 0 obj\n(<<.*?>>)\nstream\n(.*?)\nendstream", pdf, re.S)
        if b"/FlateDecode" in head and b"/ObjStm" not in head and b"/XRef" not in head
    ]
    assert len(deflated) >= 5  # the pages, the fonts, the metadata
    assert all(zlib.compress(zlib.decompress(data)) == data for data in deflated)
    path = tmp_path / "deflated.pdf"
    path.write_bytes(pdf)
    assert {text for *_, text in _words(path)} >= {"AVATAR", "Answered", "9,999"}


def _tile_boxes(html: str) -> list[tuple[float, float, float]]:
    """Each headline tile's (top, left, height) as WeasyPrint lays it out, in CSS pixels."""
    import weasyprint

    found = []

    def walk(box: Any) -> None:
        if box.element_tag == "li" and "tile" in (box.element.get("class") or ""):
            found.append((box.position_y, box.position_x, box.border_height()))
            return
        for child in getattr(box, "children", ()):
            walk(child)

    walk(weasyprint.HTML(string=html).render().pages[0]._page_box)
    return found


@pytest.mark.parametrize("wide", [False, True])
def test_the_tiles_of_a_row_stand_level_whatever_each_holds(wide: bool) -> None:
    """Inline blocks given the tallest tile's measured height (`pdf._tile_height_pt`), where
    a flex row levelled them at 18 ms a PDF: a tile with no previous figure, one whose label
    takes two lines and one whose figure is long stand as tall as the others, on both
    orientations, and the row's tiles stay on one row."""
    tiles = [
        HeadlineTile(label="Calls", value="2,921", previous="3,079", change="\u22125.1 %"),
        HeadlineTile(label="Sales per logged-in hour across every campaign", value="12.5"),
        HeadlineTile(label="Revenue", value="1,234,567,890.12", previous="1,000", change="+5 %"),
        HeadlineTile(label="Net", value="\u2013"),
        HeadlineTile(label="ROI %", value="234.4 %", previous="234.4 %", change="0.0 %"),
    ]
    columns = COLUMNS * 4 if wide else COLUMNS  # wide enough to turn the page
    rows = [row * 4 for row in ROWS[:5]] if wide else ROWS[:5]
    html = compose(pdf_heading(), [DisplayTable(None, columns, rows, None, 5)], tiles)
    assert ("landscape" in html) == wide
    boxes = _tile_boxes(html)
    assert len(boxes) == len(tiles)
    by_row = defaultdict(list)
    for top, left, height in boxes:
        by_row[round(top, 1)].append((left, height))
    for row in by_row.values():
        assert len({round(height, 1) for _, height in row}) == 1, row
    assert sorted(len(row) for row in by_row.values()) == ([5] if wide else [2, 3])
