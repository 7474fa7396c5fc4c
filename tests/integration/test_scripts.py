"""Names in any script are drawn, never boxes: in the PDF's heading, cells, lines of text
and charts, and in the email's chart images.

Tenants name campaigns and agents in Chinese, Japanese, Korean, with emoji; Liberation
Sans and DejaVu Sans have none of these glyphs. The fallback faces come from the
project's set-up (`deploy/local/infra`); without them, or with the charts' font list
back to DejaVu Sans alone, WeasyPrint draws `.notdef` boxes and matplotlib warns of
missing glyphs, and these tests fail.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest

from herald.services.renderer.formats import charts
from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.layout import CELL_BUDGET
from herald.services.renderer.formats.pdf import compose
from herald.services.renderer.formats.worker import collected, to_pdf
from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from herald.services.renderer.reports.model import Column, ColumnKind
from tests.samples import pdf_heading

pytestmark = pytest.mark.integration

NAMES = ("東京 キャンペーン", "서울 캠페인", "上海销售", "Launch 🚀", "Société ☎")
COLUMNS = (Column("campaign", "Campaign"), Column("calls", "Calls", ColumnKind.INTEGER))
CHART = Chart(
    "販売 per campaign 🎉",
    ChartKind.BARS,
    NAMES,
    (Series("Calls", (5.0, 4.0, 3.0, 2.0, 1.0)),),
)


@pytest.fixture(autouse=True)
def _temp_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint's copies of the faces' fonts go to pytest's folder, not /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _table(rows: int) -> DisplayTable:
    values = [[NAMES[n % len(NAMES)], f"{n:,}"] for n in range(rows)]
    return DisplayTable("地域 Regions", COLUMNS, values, None, rows)


@pytest.mark.parametrize("rows", [10, CELL_BUDGET], ids=["cells", "lines"])
def test_the_pdf_draws_every_script_with_a_face_that_has_it(
    rows: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heading = dataclasses.replace(
        pdf_heading(), platform_name="東京センター 📞", title="営業 Summary"
    )
    html = compose(heading, [_table(rows)], (), (CHART,))
    path = tmp_path / "scripts.pdf"
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        path.write_bytes(collected(to_pdf, html, (CHART,), "#2f5d8a"))
    assert not [r.getMessage() for r in caplog.records if ".notdef" in r.getMessage()]
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    assert "WenQuanYi-Micro-Hei" in fonts.stdout
    assert "Symbola" in fonts.stdout
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert all(name in text for name in ("東京センター", "서울 캠페인", "上海销售"))


@pytest.mark.parametrize("draw", [charts.png, charts.svg], ids=["png", "svg"])
def test_charts_draw_every_script_and_warn_of_no_missing_glyph(
    draw: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert callable(draw)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        assert draw(CHART, "#2f5d8a")
    assert not [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib")]
