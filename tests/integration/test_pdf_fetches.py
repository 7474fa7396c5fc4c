"""The PDF's printer fetches nothing: a tenant's SVG logo naming `http://` and `file://`
images and style sheets reaches no server and embeds no file of the worker's disk
(`worker._fetcher`); what the logo carries inside itself (`data:`) is still drawn."""

from __future__ import annotations

import base64
import http.server
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from herald.services.renderer.formats.pdf import compose
from herald.services.renderer.formats.worker import collected, fetchable, to_pdf
from tests.samples import pdf_heading

pytestmark = pytest.mark.integration

#: A one-pixel PNG, for the image a logo may carry inside itself.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


@pytest.fixture(autouse=True)
def _temp_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint's copies of the faces' fonts go to pytest's folder, not /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on a free port, and the paths it was asked for."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()


def _pdf_with_logo(svg: str) -> bytes:
    uri = f"data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}"
    return collected(to_pdf, compose(pdf_heading(logo_uri=uri), []), (), "#2f5d8a")


def test_an_svg_logo_reaches_no_server_and_embeds_no_file(
    listener: tuple[int, list[str]], tmp_path: Path
) -> None:
    port, asked = listener
    secret = tmp_path / "secret.png"
    secret.write_bytes(PIXEL)
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
        width="200" height="50">
      <style>@import url("http://127.0.0.1:{port}/import.css");</style>
      <image href="http://127.0.0.1:{port}/latest/meta-data/" width="10" height="10"/>
      <image xlink:href="file://{secret}" x="20" width="40" height="40"/>
      <rect width="10" height="10" style="fill: url(http://127.0.0.1:{port}/fill)"/>
    </svg>"""
    pdf = _pdf_with_logo(svg)
    assert pdf.startswith(b"%PDF")
    assert asked == []
    assert b"/Subtype /Image" not in pdf


def test_an_image_the_logo_carries_inside_itself_is_drawn() -> None:
    inside = base64.b64encode(PIXEL).decode()
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="200" height="50">
      <image href="data:image/png;base64,{inside}" width="40" height="40"/>
    </svg>"""
    assert b"/Subtype /Image" in _pdf_with_logo(svg)


@pytest.mark.parametrize(
    ("url", "fetched"),
    [
        ("data:image/png;base64,AAAA", True),
        ("DATA:text/css,p{}", True),
        ("file:///usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", True),
        ("file://localhost/usr/share/fonts/truetype/liberation/x.ttf", True),
        ("file:///usr/share/fonts/../../../etc/passwd", False),
        ("file://x.attacker.example/usr/share/fonts/a.ttf", False),
        ("file:///etc/passwd", False),
        ("file:///usr/share/fonts-other/x.ttf", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("https://example.com/logo.png", False),
        ("ftp://example.com/x", False),
        ("relative/path.png", False),
    ],
)
def test_only_data_urls_and_the_systems_font_files_are_fetched(url: str, fetched: bool) -> None:
    assert fetchable(url) is fetched
