"""Keeps a delivered email where a person can look at it: the message, its HTML, its files,
page images of its PDFs and screenshots of the email in a real browser.

Reads the last message to a recipient from Mailpit's HTTP API. The HTML is saved
with its `cid:` images turned into `data:` URIs, so it opens as the mail client
shows it; PDFs become page images with poppler's `pdftoppm`; the email is
photographed by headless Chromium (`browser.py`) at a phone's width and a desktop's.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from pathlib import Path

from herald.cli import browser

#: Phone and desktop widths the email is photographed at, in CSS pixels.
WIDTHS = (375, 800)


@dataclass(slots=True)
class Kept:
    subject: str
    files: list[Path] = field(default_factory=list)


def last_message(mailpit_url: str, to: str) -> bytes:
    query = urllib.parse.urlencode({"query": f'to:"{to}"', "limit": 1})
    with urllib.request.urlopen(f"{mailpit_url}/api/v1/search?{query}") as found:
        messages = json.load(found)["messages"]
    if not messages:
        raise LookupError(f"Mailpit holds no message to {to}")
    with urllib.request.urlopen(f"{mailpit_url}/api/v1/message/{messages[0]['ID']}/raw") as raw:
        data: bytes = raw.read()
    return data


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        raise LookupError(f"the email's part {part.get_content_type()} holds no data")
    return data


def keep(raw: bytes, out: Path) -> Kept:
    """Everything a person needs to look at one email, written under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    kept = Kept(str(message["Subject"]))
    eml, html = out / "last-email.eml", out / "last-email.html"
    eml.write_bytes(raw)
    document = browser.email_document(message)
    html.write_text(document)
    kept.files += [eml, html]
    for part in message.iter_attachments():
        name = Path(part.get_filename() or "attachment").name
        path = out / name
        path.write_bytes(_payload(part))
        kept.files.append(path)
        if part.get_content_type() == "application/pdf":
            prefix = out / f"{path.stem}-page"
            subprocess.run(["pdftoppm", "-png", "-r", "80", str(path), str(prefix)], check=True)
            kept.files += sorted(out.glob(f"{prefix.name}-*.png"))
    for width in WIDTHS:
        shot = out / f"last-email-{width}px.png"
        browser.screenshot(document, width, shot)
        kept.files.append(shot)
    return kept
