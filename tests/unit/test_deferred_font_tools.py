"""fontTools' subsetter and instancer wait for their first use (`deferred.py`): importing
WeasyPrint leaves them out, and a use reaches the real fontTools.

In a fresh interpreter: this one imported WeasyPrint long ago."""

from __future__ import annotations

import subprocess
import sys

from herald.services.renderer.formats import deferred

CHECK = """
import subprocess
import sys

from herald.services.renderer.formats import deferred

deferred.defer_font_tools()
import weasyprint.pdf.fonts as fonts

loaded = sorted(m for m in sys.modules if m.startswith("fontTools."))
assert "fontTools.varLib" not in loaded, loaded
assert "fontTools.cffLib" not in loaded, loaded

from fontTools.ttLib import TTFont

path = subprocess.run(
    ["fc-match", "-f", "%{file}", "Liberation Sans"], capture_output=True, text=True, check=True
).stdout
try:
    fonts.instantiateVariableFont(TTFont(path), {"wght": 700})
except ValueError as error:  # the real instancer's answer for a font without axes
    assert "fvar" in str(error), error
else:
    raise AssertionError("a static font was instantiated")
import fontTools.subset

assert fonts.subset.Subsetter is fontTools.subset.Subsetter
assert sys.modules["fontTools.subset"] is fontTools.subset
"""


def test_weasyprint_imports_without_them_and_a_use_reaches_the_real_ones() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_deferred_modules_are_fonttools_own() -> None:
    """A name that no longer exists upstream would defer nothing, silently."""
    import importlib.util

    for name in deferred.DEFERRED:
        assert importlib.util.find_spec(name) is not None, name
