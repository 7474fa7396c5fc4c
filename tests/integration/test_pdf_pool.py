"""PDF renders run in worker processes: time limits kill, workers recycle, the loop stays free;
and what they print is a tagged PDF whose text, headers and charts survive extraction."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.layout import CELL_BUDGET
from herald.services.renderer.formats.pdf import compose
from herald.services.renderer.pool import PdfPool, RenderTimeout
from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from herald.services.renderer.reports.model import Column, ColumnKind
from herald.services.renderer.reports.standard import REPORTS
from herald.shared.contract.messages import HeadlineTile, Tone
from herald.shared.runtime.settings import RendererSettings
from tests.memory import PDF_WORKER_MIB, peak_rss_mb, rss_mb
from tests.samples import pdf_heading

pytestmark = pytest.mark.integration

PAGE = "<h1>Report</h1>" + "<p>line</p>" * 50
#: Heavy enough to outlast a tiny time limit: thousands of table cells.
HEAVY = "<table>" + ("<tr>" + "<td>cell</td>" * 20 + "</tr>") * 3000 + "</table>"


async def test_a_render_over_its_limit_is_killed_and_the_next_one_works() -> None:
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=0.5)
    try:
        assert (await pool.render(PAGE)).startswith(b"%PDF")  # warm worker
        with pytest.raises(RenderTimeout, match="longer than"):
            await pool.render(HEAVY)
        # The killed worker was replaced: the retry of a normal render succeeds.
        assert (await pool.render(PAGE)).startswith(b"%PDF")
    finally:
        pool.close()


async def test_the_event_loop_keeps_running_while_a_pdf_renders() -> None:
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=60)
    try:
        await pool.render(PAGE)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        await pool.render(PAGE * 20)
        elapsed = time.monotonic() - started
        ticker.cancel()
        # A blocked loop would tick about zero times during the render.
        assert ticks >= 0.5 * elapsed / 0.01
    finally:
        pool.close()


async def test_workers_are_recycled_after_their_quota() -> None:
    pool = PdfPool(workers=1, renders_per_worker=2, timeout_s=60)
    try:
        pids = []
        for _ in range(3):
            pids.append(await pool.worker_pid())
            await pool.render(PAGE)
        # Each worker serves two jobs (a pid query, a render), then a fresh one takes over.
        assert len(set(pids)) == 3
    finally:
        pool.close()


LOGO = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
    "hgGAWjR9awAAAABJRU5ErkJggg=="
)
DAYS = tuple(f"{day} Nov" for day in range(1, 15))
CHART = Chart(
    "Calls per day",
    ChartKind.TREND,
    DAYS,
    (Series("Calls", tuple(float(100 + 7 * n) for n in range(14))),),
    "calls",
)
WIDE = (
    Column("campaign", "Campaign"),
    Column("dialed", "Dialed", ColumnKind.INTEGER),
    Column("no_answer", "No answer", ColumnKind.INTEGER),
    Column("contact", "Contact rate %", ColumnKind.PERCENT),
    Column("conversion", "Conversion %", ColumnKind.PERCENT),
    Column("talk", "Talk minutes", ColumnKind.DECIMAL),
    Column("sales_hour", "Sales per logged-in hour", ColumnKind.DECIMAL),
    Column("aht", "Average handling time", ColumnKind.DURATION),
    Column("revenue", "Revenue", ColumnKind.MONEY),
    Column("cost", "Cost", ColumnKind.MONEY),
    Column("net", "Net", ColumnKind.MONEY),
    Column("roi", "ROI %", ColumnKind.PERCENT),
)


def _row(n: int) -> list[str]:
    return [
        f"Campaign {n:04d} renewals",
        f"{1000 + n:,}",
        str(n % 97),
        f"{40 + n % 9}.5 %",
        f"{n % 12}.0 %",
        f"{1234 + n:,}.5",
        f"{n % 7}.25",
        f"0:0{n % 10}:12",
        f"{12345 + n:,}.00",
        f"{2345 + n:,}.00",
        f"{10000 + n:,}.00",
        f"{n % 50}.1 %",
    ]


def _walk(node: Any) -> Iterator[DictionaryObject]:
    """Every structure element under this one (pypdf objects)."""
    node = node.get_object()
    if isinstance(node, ArrayObject):
        for kid in node:
            yield from _walk(kid)
    elif isinstance(node, DictionaryObject):
        yield node
        if "/K" in node:
            yield from _walk(node["/K"])


def _pdftotext(path: Path) -> str:
    """poppler's text in content order (`-raw`): what was written where, not how it looks.

    Its default reading order rebuilds the page's look instead, and a header wrapped onto
    two lines comes out as two lines, between the other headers' lines.
    """
    out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode()


def _resources(reader: PdfReader) -> Iterator[Any]:
    """Every resource dictionary the PDF draws with: its pages', and their forms' within."""

    def visit(resources: Any) -> Iterator[Any]:
        resources = resources.get_object()
        yield resources
        for ref in resources.get("/XObject", {}).values():
            if "/Resources" in (xobject := ref.get_object()):
                yield from visit(xobject["/Resources"])

    for page in reader.pages:
        yield from visit(page["/Resources"])


def _images(reader: PdfReader) -> set[int]:
    """The raster images the PDF draws, by object number (inside forms too)."""
    return {
        ref.idnum
        for resources in _resources(reader)
        for ref in resources.get("/XObject", {}).values()
        if ref.get_object()["/Subtype"] == "/Image"
    }


def _fonts(reader: PdfReader) -> set[str]:
    """The fonts the PDF embeds, by name, without a subset's tag (`ABCDEF+`)."""
    return {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for resources in _resources(reader)
        for font in resources.get("/Font", {}).values()
    }


async def test_a_report_pdf_is_tagged_text_with_whole_headers_tiles_and_a_vector_chart(
    tmp_path: Path,
) -> None:
    small = DisplayTable(
        "Headline figures",
        (Column("metric", "Metric"), Column("value", "This period", ColumnKind.INTEGER)),
        [["Calls", "1,204"], ["Conversions", "88"]],
        None,
        2,
    )
    rows = [_row(n) for n in range(120)]  # past the cell budget: set as lines
    big = DisplayTable("By campaign", WIDE, rows, ["Total", *_row(0)[1:]], len(rows))
    assert len(rows) * len(WIDE) > CELL_BUDGET
    tiles = [
        HeadlineTile(
            label="Calls", value="1,204", previous="1,000", change="+20.4 %", tone=Tone.GOOD
        )
    ]
    html = compose(pdf_heading(LOGO), [small, big], tiles, [CHART])
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=120)
    try:
        data = await pool.render(html, [CHART], "#2f5d8a")
        png = await pool.png(CHART, "#2f5d8a")
    finally:
        pool.close()
    assert png.startswith(b"\x89PNG")
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    reader = PdfReader(path)

    # Tagged (PDF/UA): a structure tree with tables, headers, cells and the chart's alt text.
    root: Any = reader.root_object  # pypdf's objects are typed loosely
    assert root["/MarkInfo"]["/Marked"]
    assert root["/Lang"] == "en"
    elements = list(_walk(root["/StructTreeRoot"]["/K"]))
    kinds = {element.get("/S") for element in elements}
    assert {"/Table", "/TH", "/TD", "/Figure", "/H1", "/L"} <= kinds
    alts = [str(element["/Alt"]) for element in elements if element.get("/S") == "/Figure"]
    assert any(alt.startswith("Line chart: Calls per day") for alt in alts)

    # Text in the order it was written (the tag order): every header whole, every row.
    pages = (await asyncio.to_thread(_pdftotext, path)).split("\f")[: len(reader.pages)]
    text = " ".join(" ".join(pages).split())
    for column in (*small.columns, *WIDE):
        assert column.label in text, column.label
    for row in [*small.rows, *rows]:
        assert " ".join(row) in text, row
    assert f"Page 1 of {len(reader.pages)}" in " ".join(pages[0].split())
    assert "Calls 1,204 prev. 1,000 ▲ +20.4 %" in text
    # The chart is vector, its words real text: the logo is the only raster image.
    assert len(_images(reader)) == 1
    assert "Calls per day" in pages[0]
    # The chart's text is set in the PDF's own face: no other font is embedded (and subset).
    assert _fonts(reader) == {"Herald-Sans", "Herald-Sans-Bold"}
    assert all(day in text for day in ("1 Nov", "7 Nov"))


async def test_a_worker_prints_and_draws_without_importing_the_models() -> None:
    """pydantic and the contract cost each worker 20 MB; a worker is sent only plain data.

    The import-linter contract sees the worker's own imports; this sees what
    unpickling its jobs and their charts loaded: pydantic's compiled core is
    never mapped, matplotlib's is.
    """
    chart = Chart("Calls per day", ChartKind.TREND, ("1", "2"), (Series("calls", (3.0, 4.0)),))
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=60)
    try:
        assert (await pool.render(PAGE, [chart])).startswith(b"%PDF")
        assert (await pool.png(chart, "#0b5fff")).startswith(b"\x89PNG")
        maps = await asyncio.to_thread(Path(f"/proc/{await pool.worker_pid()}/maps").read_text)
    finally:
        pool.close()
    assert "ft2font" in maps
    assert "pydantic_core" not in maps


async def test_a_worker_gives_back_what_a_large_render_freed() -> None:
    """glibc keeps freed memory for reuse: 60 MB after 2,000 rows of cells, if not trimmed."""
    rows = "".join(f"<tr><td>Campaign {n}</td><td>{n * 7}</td></tr>" for n in range(2000))
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=120)
    try:
        await pool.render(PAGE)
        pid = await pool.worker_pid()
        before = await asyncio.to_thread(rss_mb, pid)
        await pool.render(f"<table>{rows}</table>")
        assert await pool.worker_pid() == pid
        after = await asyncio.to_thread(rss_mb, pid)
    finally:
        pool.close()
    assert after - before < 35, (before, after)


def _by_page(path: Path) -> list[list[str]]:
    """Each page's lines of text as laid out (`-layout`), one space between words, blank
    lines left out."""
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return [
        [" ".join(line.split()) for line in page.splitlines() if line.strip()]
        for page in out.stdout.decode().split("\f")
    ]


async def test_a_total_row_and_its_footnote_never_start_a_page(tmp_path: Path) -> None:
    """Campaign Summary's Inbound total sat alone on a page under the repeated header,
    summing rows out of sight; so can a footnote on the rows that miss it. The last row
    goes over with them."""
    columns = (Column("campaign", "Campaign"), Column("calls", "Calls", ColumnKind.INTEGER))
    note = "Totals are computed from unrounded values, so the rounded rows miss them."

    def table(rows: int) -> DisplayTable:
        lines = [[f"Row{n:03d}", f"{n:,}"] for n in range(rows)]
        return DisplayTable("Inbound", columns, lines, ["Total", "9,999"], rows, footnote=note)

    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=120)

    async def pages(rows: int) -> list[list[str]]:
        path = tmp_path / f"{rows}.pdf"
        path.write_bytes(await pool.render(compose(pdf_heading(), [table(rows)])))
        return await asyncio.to_thread(_by_page, path)

    try:
        # As many rows as fill the first page: then the Total row, and before it
        # the footnote, would be the first thing on the next one.
        first = [ln for ln in (await pages(100))[0] if ln.startswith("Row")]
        for rows in (len(first), len(first) - 1):
            laid_out = await pages(rows)
            [at] = [n for n, page in enumerate(laid_out) if "Total 9,999" in page]
            page = laid_out[at]
            assert at == 1, rows
            assert page.index(f"Row{rows - 1:03d} {rows - 1:,}") < page.index("Total 9,999")
            assert note in page, rows
            assert f"Row{rows - 2:03d} {rows - 2:,}" in laid_out[0]
    finally:
        pool.close()


#: A value of each kind, as wide as real ones get (a text column's at its longest).
_VALUES: dict[ColumnKind, Callable[[int], str]] = {
    ColumnKind.TEXT: lambda n: f"Outbound renewals {n:05d}, north region",
    ColumnKind.INTEGER: lambda n: f"{10_000 + n:,}",
    ColumnKind.DECIMAL: lambda n: f"{1_000 + n:,}.25",
    ColumnKind.PERCENT: lambda n: f"{n % 100}.5 %",
    ColumnKind.RATE: lambda n: f"{n % 9}.75",
    ColumnKind.DURATION: lambda n: f"1:{n % 60:02d}:07",
    ColumnKind.MONEY: lambda n: f"{120_000 + n:,}.50",
    ColumnKind.DATE: lambda n: f"2026-11-{n % 30 + 1:02d}",
    ColumnKind.DATETIME: lambda n: f"2026-11-30 17:{n % 60:02d}:12",
    ColumnKind.FLAG: lambda n: "Yes" if n % 2 else "No",
}


def _at_most_rows(report_id: str) -> list[DisplayTable]:
    """Each of the report's tables at the most rows a PDF shows (`pdf_max_rows`)."""
    n = RendererSettings().pdf_max_rows
    return [
        DisplayTable(
            layout.title,
            layout.columns,
            [[_VALUES[column.kind](row) for column in layout.columns] for row in range(n)],
            None,
            n,
        )
        for layout in REPORTS[report_id].layouts
    ]


async def test_a_worker_prints_the_largest_pdfs_within_its_share_of_the_memory_limit() -> None:
    """The renderer's memory limit gives each PDF worker PDF_WORKER_MIB (`tests/memory.py`):
    the report with the most columns and the one with the widest table, every table at
    `pdf_max_rows` and with three charts, printed by one worker, peak within it."""

    def columns(report_id: str) -> list[int]:
        return [len(layout.columns) for layout in REPORTS[report_id].layouts]

    largest = dict.fromkeys(
        (max(REPORTS, key=lambda r: sum(columns(r))), max(REPORTS, key=lambda r: max(columns(r))))
    )
    charts = [CHART] * 3
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=300)
    try:
        for report_id in largest:
            html = compose(pdf_heading(LOGO), _at_most_rows(report_id), (), charts)
            await pool.render(html, charts, "#2f5d8a")
        peak = await asyncio.to_thread(peak_rss_mb, await pool.worker_pid())
    finally:
        pool.close()
    assert peak < PDF_WORKER_MIB, (list(largest), peak)


async def test_workers_leave_no_temporary_files_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WeasyPrint copies the faces' fonts into a temporary folder per worker, and pebble ends
    a worker with `os._exit`: each replaced worker left 0.8 MB in /tmp."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the workers' temporary folder
    pool = PdfPool(workers=1, renders_per_worker=3, timeout_s=60)
    try:
        pids = set()
        for _ in range(3):
            pids.add(await pool.worker_pid())
            assert (await pool.render(PAGE)).startswith(b"%PDF")
            # The worker, one job left, keeps its fonts in its own folder here.
            assert await asyncio.to_thread(os.listdir, tmp_path)
            await pool.render(PAGE)
        assert len(pids) == 3
    finally:
        pool.close()
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_a_starting_worker_removes_what_killed_workers_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed outright (SIGKILL, the OOM killer) runs no finalizer: the next one
    to start removes the folders of workers that are gone, and no other."""
    ended = await asyncio.create_subprocess_exec("true")
    await ended.wait()
    gone = tmp_path / f"herald-pdf-worker-{ended.pid}-abc"
    alive = tmp_path / f"herald-pdf-worker-{os.getpid()}-abc"
    for folder in (gone, alive):
        (folder / "weasyprint-x").mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=60)
    try:
        worker = await pool.worker_pid()
        left = await asyncio.to_thread(os.listdir, tmp_path)
    finally:
        pool.close()
    # While the pool runs: the live test process's folder and the worker's own.
    assert alive.name in left
    assert next(name for name in left if name != alive.name).startswith(
        f"herald-pdf-worker-{worker}-"
    )
    assert len(left) == 2


async def test_a_print_worker_prints_a_charted_pdf_without_ever_loading_matplotlib() -> None:
    """A full worker draws the chart, the print worker prints the page: the PDF has the
    chart's text and its alternative, and the print worker never mapped matplotlib.

    Each worker here is replaced after two jobs, so the print worker's pid changing
    around the render shows the render was its job."""
    chart = Chart("Calls per day", ChartKind.TREND, ("1", "2"), (Series("calls", (3.0, 4.0)),))
    html = compose(pdf_heading(), [], [], [chart])
    pool = PdfPool(workers=1, renders_per_worker=2, timeout_s=60, print_workers=1)
    try:
        printer = await pool.worker_pid(printer=True)
        maps = await asyncio.to_thread(Path(f"/proc/{printer}/maps").read_text)
        data = await pool.render(html, [chart], "#2f5d8a")  # both idle: the print worker's
        assert await pool.worker_pid(printer=True) != printer
    finally:
        pool.close()
    assert "libpango" in maps  # it warmed up on a page of its own
    assert "ft2font" not in maps
    reader = PdfReader(io.BytesIO(data))
    assert "Calls per day" in reader.pages[0].extract_text()
    root: Any = reader.root_object
    alts = [
        str(e["/Alt"]) for e in _walk(root["/StructTreeRoot"]["/K"]) if e.get("/S") == "/Figure"
    ]
    assert any(alt.startswith("Line chart: Calls per day") for alt in alts)
