"""The PDF's text face, named once for the two that draw text into it: WeasyPrint and matplotlib.

Imports nothing: the render worker, the PDF template and the charts all read it.
"""

from __future__ import annotations

#: The family the PDF's text and its charts' text are set in: Liberation Sans as
#: `layout.py` measures it, under a name of Herald's own (`FONT_FACES`).
FAMILY = "Herald Sans"
#: The system faces behind `FAMILY`, by weight: their local (Fontconfig) names.
LOCAL_FACES = {"normal": "Liberation Sans", "bold": "Liberation Sans Bold"}
#: Their family, as matplotlib's font manager knows it from the font files.
LOCAL_FAMILY = "Liberation Sans"


def _face(weight: str, local: str) -> str:
    return (
        f'@font-face {{ font-family: "{FAMILY}"; font-weight: {weight}; src: local("{local}"); '
        'font-feature-settings: "kern" 0, "liga" 0, "clig" 0, "tnum" 1; }'
    )


#: `FAMILY` for WeasyPrint: kerning and ligatures off, figures tabular. Set on the face, not
#: with `font-kerning` and `font-variant-*`: WeasyPrint 70 (`Layout.setup`) leaks a Pango
#: attribute and its list for every line of text styled with those properties (about 150
#: bytes a line, 0.9 MB per 1,000-row PDF); a face's features are Fontconfig's, set once
#: when the face is first loaded.
FONT_FACES = "\n".join(_face(weight, local) for weight, local in LOCAL_FACES.items())
