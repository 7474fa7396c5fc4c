"""What runs inside a render worker process (`pool.py`): the PDF printed, its charts drawn.

A worker imports this module, `charts.py`, the chart data (`reports/chart.py`),
WeasyPrint and matplotlib (a print worker WeasyPrint alone: `start_printer`), and
nothing else of Herald: no pydantic, no settings, no contract (an import-linter
contract keeps it so). The models cost each worker 20 MB once warmed up (17 MB
and 0.3 s to import), and a worker needs none of them: it is sent an HTML string,
charts as plain dataclasses and a colour.
"""

from __future__ import annotations

import base64
import ctypes
import functools
import gc
import html
import multiprocessing.util
import os
import shutil
import tempfile
import urllib.parse
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from herald.services.renderer.formats import charts as drawing
from herald.services.renderer.formats import deferred
from herald.services.renderer.formats.faces import FAMILY, FONT_FACES
from herald.services.renderer.reports.chart import Chart, ChartKind, Series

if TYPE_CHECKING:
    import pydyf
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher


T = TypeVar("T")


def chart_slot(n: int) -> str:
    """Where `pdf.compose` leaves the n-th chart: a comment no escaped text can forge."""
    return f"<!--chart {n}-->"


_TEMP_PREFIX = "herald-pdf-worker-"


def own_temp_dir() -> None:
    """This process's temporary files go to a folder of its own, removed when it exits.

    WeasyPrint copies the faces' fonts (`FONT_FACES`, 0.8 MB) into a temporary
    folder it removes only when its font configuration is collected, and pebble
    ends a worker with `os._exit`: every replaced worker left one behind.
    multiprocessing's finalizers run on that exit, but pebble's stop can cut them
    short (its SIGTERM lands while the worker is already exiting), and a worker
    killed outright (SIGKILL) runs none: what they leave, the next worker to start
    and the pool's `close` remove (`remove_dead_workers_files`).
    """
    remove_dead_workers_files()
    folder = tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-")
    tempfile.tempdir = folder
    multiprocessing.util.Finalize(
        None, shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True}, exitpriority=0
    )


def remove_dead_workers_files() -> None:
    """The temporary folders of workers that are gone (each named by its pid), and no other."""
    for stale in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*-*"):
        pid = stale.name.removeprefix(_TEMP_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def start_worker() -> None:
    """A worker's initializer: `prepare`, then `settle` on `warm_up`."""
    prepare()
    settle(warm_up)


def start_printer() -> None:
    """A print worker's initializer: as `start_worker`, warmed up without matplotlib."""
    prepare()
    settle(warm_up_printer)


def prepare() -> None:
    """What a worker does before anything imports WeasyPrint: its own temporary folder
    (`own_temp_dir`), and fontTools' rarely used parts left for their first use
    (`deferred.py`)."""
    own_temp_dir()
    deferred.defer_font_tools()


def settle(warm: Callable[[], object]) -> None:
    """Warms up (`warm`), then freezes what that built out of the garbage collector's
    view (`gc.freeze`).

    A render allocates enough for several full collections, and each walked all of
    start-up's objects: 5 % of a 1,000-row PDF. Raising the thresholds instead saved
    3 % more but cost 30 MB.
    """
    warm()
    gc.collect()  # what start-up left over is freed, not frozen
    gc.freeze()


def collected(job: Callable[..., T], *args: object) -> T:
    """Runs in a worker: the job, then a collection of what it left behind.

    A render's boxes and a chart's artists are webs of reference cycles; left to
    the collector's own schedule they piled up between full collections (a peak
    of 182 MB over 250 charts, against 147 MB collected after each; the e2e
    herd's renderer 432 -> 396 MB). With the worker's start-up frozen
    (`start_worker`) a collection walks only the job's leftovers: 12 ms after a
    370 ms PDF, some of which the collector would have spent anyway. Then what
    was freed goes back to the system (`_trim`).

    During the job the collector is off: it ran every few thousand allocations
    and found little, since a render's boxes live until the PDF is written. Off,
    a 1,000-row PDF with a chart took 60 ms less (6 %) and peaked 2 MB higher.
    """
    gc.disable()
    try:
        return job(*args)
    finally:
        gc.enable()
        gc.collect()
        _trim()


def _malloc_trim() -> Callable[[], object]:
    """glibc's `malloc_trim(0)`, or nothing where the C library has none (musl)."""
    trim: Callable[[int], object] | None = getattr(ctypes.CDLL(None), "malloc_trim", None)
    return (lambda: trim(0)) if trim is not None else (lambda: None)


#: After a job, the free memory glibc keeps is given back (1-2 ms): a worker that printed
#: 2,000 rows of cells held 60 MB over its start otherwise, 18 MB after a trim.
_trim = _malloc_trim()


@functools.cache
def _fonts() -> FontConfiguration:
    """One font configuration per worker, shared by its renders.

    A configuration of its own per render cost a quarter of the render's CPU
    (57 ms against 41), and the fonts each one loaded stayed in the worker: 25 MB
    more every hundred renders. The only `@font-face` rules are `FONT_FACES`: the
    first render loads them into the configuration, the next ones find them there.
    """
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _image(svg: str, alt: str) -> str:
    """A vector image with its text alternative, as a chart's slot takes it."""
    data = base64.b64encode(svg.encode()).decode()
    return f'<img class="chart" src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}">'


def figures(charts: Sequence[Chart], brand: str) -> tuple[str, ...]:
    """Runs in a worker with matplotlib: the charts as images for `print_pdf`'s slots."""
    return tuple(_image(drawing.svg(chart, brand), drawing.alt_text(chart)) for chart in charts)


def to_pdf(html_: str, charts: Sequence[Chart], brand: str) -> bytes:
    """Runs in a pool worker: draws the charts into their slots and prints a tagged PDF."""
    drawn = figures(charts, brand)
    gc.collect(0)  # the charts' figures, cycles the job's disabled collector would keep
    return print_pdf(html_, drawn)


def print_pdf(html_: str, drawn: Sequence[str]) -> bytes:
    """Runs in any pool worker, a print worker too: the charts' images (`figures`) into
    their slots, then a tagged PDF printed."""
    import weasyprint  # imported by the worker's initializer already; cheap here

    for n, figure in enumerate(drawn):
        html_ = html_.replace(chart_slot(n), figure, 1)
    pdf: bytes = weasyprint.HTML(string=html_, url_fetcher=_fetcher()).write_pdf(
        font_config=_fonts(), pdf_variant="pdf/ua-1", finisher=_deflated
    )
    return pdf


#: Where the system's fonts are (Debian's, in the image too): `local()` font faces are
#: fetched from there as `file://` URLs.
FONT_DIRS = ("/usr/share/fonts/", "/usr/local/share/fonts/")


@functools.cache
def _fetcher() -> URLFetcher:
    """Fetches `data:` URLs and the system's font files, nothing else.

    All a PDF shows comes inside its HTML (the logo, the charts) or is a font named
    by its local name, but a tenant's SVG logo may name `http://` or `file://`
    images and style sheets, which WeasyPrint's own fetcher follows: the worker
    would reach any service the cluster can (the cloud's metadata address), and a
    file of its disk would be embedded in a PDF mailed out. Refused, a reference is
    a warning in the log and an empty space in the logo.
    """
    from weasyprint.urls import URLFetcher

    class EmbeddedOrFont(URLFetcher):  # type: ignore[misc]  # WeasyPrint has no types
        def fetch(self, url: str, headers: dict[str, str] | None = None) -> object:
            if not fetchable(url):
                raise ValueError(f"not fetched: only data: URLs and fonts are ({url[:80]})")
            return super().fetch(url, headers)

    fetcher: URLFetcher = EmbeddedOrFont()
    return fetcher


def fetchable(url: str) -> bool:
    """A `data:` URL, or a `file:` URL of a file in the system's font folders, on this host."""
    scheme = url.partition(":")[0].lower()
    if scheme == "data":
        return True
    if scheme != "file":
        return False
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):  # urllib would look the host up
        return False
    path = urllib.parse.unquote(parts.path)
    return os.path.normpath(path).startswith(FONT_DIRS)  # no way out with `..`


def _deflated(_document: object, pdf: pydyf.PDF) -> None:
    """WeasyPrint's finisher: the streams deflated at zlib's default level, not pydyf's 9.

    pydyf deflates every stream at level 9: for a 1,000-row PDF that was 7 % of
    the render (40-60 ms) to make the file 7 % smaller than the default level does.
    A stream holding anything but bytes, text and PDF objects is left to pydyf.
    """
    import pydyf

    for stream in pdf.objects:
        if not isinstance(stream, pydyf.Stream) or not stream.compress:
            continue
        parts = stream.stream
        if not all(isinstance(part, bytes | str | pydyf.Object) for part in parts):
            continue
        stream.stream = [zlib.compress(b"\n".join(map(_pdf_bytes, parts)))]
        stream.compress = False
        stream.extra["Filter"] = "/FlateDecode"


def _pdf_bytes(part: bytes | str | pydyf.Object) -> bytes:
    """A stream's part as pydyf writes it: bytes as they are, text in ASCII, an object's data."""
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode("ascii")
    data: bytes = part.data
    return data


#: A report's page in small (`pdf.compose` makes the real ones): its faces, a headline
#: tile, a chart, a table's header and zebra-striped lines, a link.
_WARM = (
    f'<html lang="en"><head><title>warm</title><style>{FONT_FACES}'
    " th { background: #e4ebf3 } td.lines { white-space: pre }"
    " tbody tr:nth-child(even) { background: #f1f4f8 } .tile span { display: block }</style>"
    f'</head><body style="font-family: {FAMILY}"><h1>Warm</h1>'
    '<ul><li class="tile"><span>Calls</span><b>1,234</b></li></ul>'
    f"<figure>{chart_slot(0)}</figure><table><thead><tr><th>A</th><th>B</th></tr></thead><tbody>"
    + '<tr><td class="lines" colspan="2">Campaign   1,234   5.6 %</td></tr>' * 2
    + '</tbody></table><footer><a href="https://example.com/">link</a></footer></body></html>'
)
_WARM_CHART = Chart("warm", ChartKind.TREND, ("a", "b"), (Series("x", (1.0, 2.0)),))


def warm_up() -> None:
    """Before a worker's first job: import WeasyPrint and matplotlib, load fonts, draw once.

    A report's page in small, not a line of text: what a render builds once per process
    (the faces, cffi's types for each Pango call, WeasyPrint's caches) is then built here,
    before `settle` freezes it, and not amid the first job's garbage, where each such
    object kept a 1 MiB block of it from being freed. A 1,000-row PDF with a chart peaked
    2 MB lower after this page than after a line of text.
    """
    to_pdf(_WARM, (_WARM_CHART,), drawing.OKABE_ITO[0])
    drawing.warm_up()


#: A chart's image in small, as matplotlib draws one (`svg.fonttype` none): a print
#: worker's warm-up page has it in its slot, drawn without matplotlib.
_WARM_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="60pt" height="30pt" viewBox="0 0 60 30">'
    '<g><path d="M 2 28 L 20 28 L 20 8 L 2 8 z" style="fill: #0072b2"/>'
    '<path d="M 0 28 L 60 28" style="fill: none; stroke: #cccccc; stroke-width: 0.8"/>'
    f'<text style="font-size: 8px; font-family: \'{FAMILY}\'; fill: #444444" x="24" y="20">'
    "1,234</text></g></svg>"
)


def warm_up_printer() -> None:
    """`warm_up` for a print worker: the same page, its chart already drawn (`_WARM_SVG`)."""
    print_pdf(_WARM, (_image(_WARM_SVG, "warm"),))
