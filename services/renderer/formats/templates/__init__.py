"""The renderer's Jinja2 templates, with autoescaping for every one of them."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape


def _css_string(value: str) -> str:
    """Text safe inside a CSS string literal (the PDF's page footer)."""
    return "".join(ch if ch.isprintable() and ch not in '"\\' else " " for ch in value)


templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["css_string"] = _css_string
