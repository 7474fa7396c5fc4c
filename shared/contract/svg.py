"""Whether an SVG logo is a picture and nothing more: no active content, nothing outside it.

A tenant's SVG logo is drawn in its PDFs and may be shown wherever the platform
shows the settings, so it is parsed, never judged by its text: a `<s:script>`, an
`onload`, an `x:href="javascript:..."` or a CSS `\\75rl(http://...)` look harmless
to a text search. The XML is read by expat, with no DTD of any kind loaded or
declared (no external entity is fetched, no entity expanded); elements and
attributes are judged by their local name whatever their prefix; CSS (style
elements, style and presentation attributes) by tinycss2, the tokenizer WeasyPrint
reads it with, so escapes and case are seen as the renderer sees them.

Allowed: any element but the active ones (scripts, embedded documents, media,
forms, animation), no event handler attribute, and references only inside the
logo (`#id`) or to an image it carries (`data:image/png|jpeg|gif`): a logo that
names a URL made the renderer fetch it (internal addresses, local files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

import tinycss2

#: Elements that run, embed another document or media, take input or animate (an
#: animation can set an `href` to `javascript:`), by local name in lower case.
ACTIVE_ELEMENTS = frozenset(
    {
        "script",
        "handler",
        "listener",
        "foreignobject",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "audio",
        "video",
        "source",
        "track",
        "canvas",
        "link",
        "meta",
        "base",
        "form",
        "input",
        "button",
        "textarea",
        "select",
        "set",
        "animate",
        "animatecolor",
        "animatemotion",
        "animatetransform",
        "discard",
    }
)
#: The one kind of URL a logo may name besides its own fragments: an image it carries.
_CARRIED_IMAGE = re.compile(r"data:image/(png|jpeg|gif)[;,]", re.IGNORECASE)
#: CSS functions whose string arguments are URLs too.
_IMAGE_FUNCTIONS = frozenset({"image", "image-set", "-webkit-image-set", "cross-fade"})
#: expat's separator of namespace, local name and prefix: a character XML cannot hold.
_SEP = "\x01"
#: Problems named in a refusal at most.
MAX_SHOWN = 5
_MAX_ECHO = 60


class NotSvg(ValueError):
    """The bytes are not an SVG document (not XML, or the root is not `<svg>`)."""


class _Stop(Exception):
    """A declaration that ends the reading at once (what follows would use it)."""


def allowed_url(url: str) -> bool:
    """A fragment of the logo itself, or an image carried in it (never fetched)."""
    url = url.strip()
    return url.startswith("#") or _CARRIED_IMAGE.match(url) is not None


def _echo(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 1] + "…"


def _nodes(nodes: Iterable[Any]) -> Iterator[Any]:
    """Every CSS node, nested ones too, without recursion (blocks may nest deep)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        for part in ("prelude", "content", "arguments", "value"):
            inner = getattr(node, part, None)
            if isinstance(inner, list):
                stack.extend(inner)


def css_problems(nodes: Iterable[Any]) -> Iterator[str]:
    """What in parsed CSS imports or names a URL other than an allowed one."""
    for node in _nodes(nodes):
        kind = getattr(node, "type", None)
        if kind in ("at-rule", "at-keyword") and node.lower_at_keyword == "import":
            yield "@import"
        elif kind == "url" and not allowed_url(node.value):
            yield f"url({_echo(node.value)})"
        elif kind == "function" and node.lower_name in ("url", "src"):
            given = [a for a in node.arguments if a.type not in ("whitespace", "comment")]
            if not (len(given) == 1 and given[0].type == "string" and allowed_url(given[0].value)):
                yield f"{node.lower_name}({_echo(tinycss2.serialize(node.arguments))})"
        elif kind == "function" and node.lower_name in _IMAGE_FUNCTIONS:
            for argument in node.arguments:
                if argument.type == "string" and not allowed_url(argument.value):
                    yield f'{node.lower_name}("{_echo(argument.value)}")'


@dataclass
class _Reader:
    """expat's handlers: collect what the logo may not carry."""

    parser: Any
    problems: list[str] = field(default_factory=list)
    root: str | None = None
    #: The text of the style element being read, and its line; None outside one.
    style: list[str] | None = None
    style_line: int = 0

    def _where(self) -> str:
        return f"line {self.parser.CurrentLineNumber}"

    def start(self, name: str, attributes: dict[str, str]) -> None:
        local, shown = _names(name)
        if self.root is None:
            self.root = local
        if self.style is not None:
            # A style sheet is text: an element in it would split it, and the part its
            # reader (WeasyPrint, a browser) takes as the sheet would go unread here.
            self.problems.append(f"<{shown}> inside a <style> ({self._where()})")
        if local.lower() in ACTIVE_ELEMENTS:
            self.problems.append(f"<{shown}> ({self._where()})")
        for attribute, value in attributes.items():
            attr_local, attr_shown = _names(attribute)
            lower = attr_local.lower()
            if lower.startswith("on"):
                self.problems.append(f"{attr_shown}= on <{shown}> ({self._where()})")
            elif lower == "href":
                if not allowed_url(value):
                    self.problems.append(f'{attr_shown}="{_echo(value)}" ({self._where()})')
            elif lower == "style":
                self._css(tinycss2.parse_blocks_contents(value), self.parser.CurrentLineNumber)
            elif "(" in value or "@" in value:
                self._css(tinycss2.parse_component_value_list(value), self.parser.CurrentLineNumber)
        if local.lower() == "style":
            self.style, self.style_line = [], self.parser.CurrentLineNumber

    def end(self, name: str) -> None:
        if self.style is not None and _names(name)[0].lower() == "style":
            sheet = tinycss2.parse_stylesheet("".join(self.style))
            self._css(sheet, self.style_line)
            self.style = None

    def text(self, data: str) -> None:
        if self.style is not None:
            self.style.append(data)

    def _css(self, nodes: Iterable[Any], line: int) -> None:
        self.problems.extend(f"{found} in a style (line {line})" for found in css_problems(nodes))

    def doctype(self, name: str, system: str | None, public: str | None, subset: int) -> None:
        # A bare DOCTYPE (older Illustrator exports) is read and never fetched; an
        # internal subset declares entities, which is how XML bombs and file reads start.
        if subset:
            raise _Stop(f"a DOCTYPE declaring entities ({self._where()})")

    def entity(self, *_: object) -> None:
        raise _Stop(f"an entity declaration ({self._where()})")

    def skipped(self, name: str, _parameter: int) -> None:
        raise _Stop(f"the undeclared entity &{name}; ({self._where()})")

    def instruction(self, target: str, _data: str) -> None:
        # `<?xml-stylesheet href=...?>` would load a style sheet from anywhere.
        self.problems.append(f"<?{target}?> ({self._where()})")


def _names(name: str) -> tuple[str, str]:
    """(local name, the name as written: `prefix:local`) of an expat name."""
    parts = name.split(_SEP)
    if len(parts) == 1:
        return parts[0], parts[0]
    local = parts[1]
    return local, f"{parts[2]}:{local}" if len(parts) > 2 else local


def problems(data: bytes) -> list[str]:
    """What an SVG document carries that a logo may not, each with its line; [] if none.

    Entity declarations end the reading there (refused whatever follows). `NotSvg`
    if it is no SVG at all.
    """
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    reader = _Reader(parser)
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.StartDoctypeDeclHandler = reader.doctype
    parser.EntityDeclHandler = reader.entity
    parser.UnparsedEntityDeclHandler = reader.entity
    parser.SkippedEntityHandler = reader.skipped
    parser.ProcessingInstructionHandler = reader.instruction
    try:
        parser.Parse(data, True)
    except _Stop as stop:
        return [*reader.problems, str(stop)]
    except expat.ExpatError as exc:
        reason = expat.errors.messages[exc.code]
        raise NotSvg(f"not well-formed XML ({reason}, line {exc.lineno})") from None
    if reader.root != "svg":
        raise NotSvg("its root element is not <svg>")
    return reader.problems


def refusal(found: list[str]) -> str:
    """The reason a command is refused for, naming the first few problems."""
    shown = "; ".join(found[:MAX_SHOWN])
    more = f"; and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
    return (
        "unsafe SVG logo (no scripts, event handlers, embedded content, animation, or URLs "
        f"but #id and data:image/png|jpeg|gif): {shown}{more}"
    )
