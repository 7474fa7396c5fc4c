"""An email's HTML laid out by a real browser: Debian's headless `chromium`.

Headless Chromium never makes its window narrower than 500 px (asked for
375, it lays the page out at 500 and crops the screenshot), so the document
is shown in an iframe exactly `width` px wide, which is then the viewport its
layout and media queries see. A script in the page around it measures the
document once everything has loaded (the iframe's `load`) and writes the
figures into the DOM that `--dump-dom` prints; the screenshot is the
top-left `width` px, the iframe. Scrollbars are hidden, as on a phone.

Images referred to as `cid:` are inlined as `data:` URIs from the email's
related parts first, so they load and show.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType
from typing import Any

CHROMIUM = "chromium"
#: How long the page may run in virtual time (it fast-forwards when idle).
BUDGET_MS = 5000
TIMEOUT_S = 60
NOTHING: Mapping[str, str] = MappingProxyType({})

#: Runs in the page around the iframe; `__MEASURE__` is the caller's {name: CSS selector}.
_SCRIPT = """
const frame = document.getElementById("email");
frame.addEventListener("load", () => {
  const win = frame.contentWindow, doc = frame.contentDocument, root = doc.documentElement;
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
            scrollWidth: el.scrollWidth, clientWidth: el.clientWidth};
  };
  const result = {
    innerWidth: win.innerWidth,
    scrollWidth: root.scrollWidth,
    scrollHeight: root.scrollHeight,
    overflows: root.scrollWidth > win.innerWidth,
    brokenImages: [...doc.images].filter((i) => !i.complete || i.naturalWidth === 0)
      .map((i) => i.src.slice(0, 80)),
    measured: Object.fromEntries(Object.entries(__MEASURE__)
      .map(([name, selector]) => [name, [...doc.querySelectorAll(selector)].map(box)])),
    dom: root.outerHTML,
  };
  document.getElementById("layout").textContent = JSON.stringify(result);
});
"""


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or left no measurements."""


@dataclass(frozen=True, slots=True)
class Box:
    """An element's place in the viewport and, if it scrolls, its content's width."""

    left: float
    right: float
    top: float
    bottom: float
    width: float
    scroll_width: int
    client_width: int


@dataclass(frozen=True, slots=True)
class Layout:
    """The document as Chromium laid it out in a viewport `viewport_width` px wide."""

    viewport_width: int
    scroll_width: int
    scroll_height: int
    #: `document.documentElement.scrollWidth > window.innerWidth`: the page scrolls sideways.
    overflows: bool
    #: The `src` (cut to 80 characters) of each image that did not load.
    broken_images: tuple[str, ...]
    #: The elements each `measure` selector matched, in document order, by its name.
    measured: Mapping[str, tuple[Box, ...]]
    #: The document's DOM after loading (`documentElement.outerHTML`).
    dom: str
    #: Wall-clock seconds the Chromium run took.
    seconds: float


def chromium() -> str:
    """The browser's path; it is part of the set-up (`deploy/local/infra`), so never skipped."""
    path = shutil.which(CHROMIUM)
    if path is None:
        raise BrowserError(
            "chromium is not installed: it is one of deploy/local/infra's APT_PACKAGES "
            "(`deploy/local/infra up` as root, or `apt-get install chromium`)"
        )
    return path


def email_document(message: EmailMessage) -> str:
    """The email's HTML part with each `cid:` image inlined from its related parts."""
    body = message.get_body(("html",))
    if body is None:
        raise ValueError("the email has no HTML part")
    images: dict[str, str] = {}
    for part in message.walk():
        cid = part["Content-ID"]
        if cid is not None and not part.is_multipart():
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            uri = f"data:{part.get_content_type()};base64,{base64.b64encode(data).decode()}"
            images[str(cid).strip().strip("<>")] = uri
    return re.sub(
        r'src="cid:([^"]+)"',
        lambda m: f'src="{images.get(html.unescape(m[1]), "cid:" + m[1])}"',
        str(body.get_content()),
    )


def _host_page(document: str, width: int, height: int, measure: Mapping[str, str]) -> str:
    script = _SCRIPT.replace("__MEASURE__", json.dumps(dict(measure)))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="margin:0;background:#000;">'
        f'<iframe id="email" style="display:block;border:0;width:{width}px;height:{height}px;"'
        f' srcdoc="{html.escape(document, quote=True)}"></iframe>'
        f'<pre id="layout" hidden></pre><script>{script}</script></body></html>'
    )


def _run(
    document: str, width: int, height: int, measure: Mapping[str, str], png: Path | None
) -> Layout:
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="herald-chromium-") as scratch:
        page = Path(scratch) / "page.html"
        page.write_text(_host_page(document, width, height, measure), encoding="utf-8")
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={scratch}/profile",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={BUDGET_MS}",
            *([f"--screenshot={png}"] if png is not None else []),
            "--dump-dom",
            page.as_uri(),
        ]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        seconds = time.monotonic() - started
    found = re.search(r'<pre id="layout"[^>]*>(.*?)</pre>', done.stdout, re.DOTALL)
    if done.returncode != 0 or found is None or not found[1]:
        raise BrowserError(
            f"chromium exited {done.returncode} without measuring the page:\n{done.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(html.unescape(found[1]))
    if result["innerWidth"] != width:
        raise BrowserError(f"the viewport is {result['innerWidth']} px wide, not {width}")
    return Layout(
        viewport_width=result["innerWidth"],
        scroll_width=result["scrollWidth"],
        scroll_height=result["scrollHeight"],
        overflows=result["overflows"],
        broken_images=tuple(result["brokenImages"]),
        measured={
            name: tuple(
                Box(
                    b["left"],
                    b["right"],
                    b["top"],
                    b["bottom"],
                    b["width"],
                    b["scrollWidth"],
                    b["clientWidth"],
                )
                for b in boxes
            )
            for name, boxes in result["measured"].items()
        },
        dom=result["dom"],
        seconds=seconds,
    )


def layout(
    document: str, width: int, *, height: int = 900, measure: Mapping[str, str] = NOTHING
) -> Layout:
    """How Chromium lays `document` out `width` px wide; `measure` names elements to place."""
    return _run(document, width, height, measure, None)


def screenshot(
    document: str, width: int, path: Path, *, measure: Mapping[str, str] = NOTHING
) -> Layout:
    """A PNG of the whole document `width` px wide at `path`, and the layout it shows.

    The first run finds the document's height, the second shows all of it.
    """
    height = layout(document, width).scroll_height
    path.parent.mkdir(parents=True, exist_ok=True)
    return _run(document, width, height, measure, path)
