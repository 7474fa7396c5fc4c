"""The renderer's Jinja2 templates, with autoescaping for every one of them."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup


def _css_string(value: str) -> Markup:
    """Text safe inside a CSS string literal in the `<style>` element (the PDF's page footer).

    A style element's text is not HTML: an entity there shows as typed (`&amp;`),
    so the text is not HTML-escaped but made safe for CSS: quotes, backslashes
    and unprintables become spaces, and `<` and `>` CSS escapes (`\\3c `: the
    space ends the escape and is not shown), so no `</style>` can end the
    element early.
    """
    return Markup(
        "".join(
            " " if not ch.isprintable() or ch in '"\\' else f"\\{ord(ch):x} " if ch in "<>" else ch
            for ch in value
        )
    )


templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["css_string"] = _css_string
