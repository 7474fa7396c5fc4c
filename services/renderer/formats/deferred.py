"""fontTools' subsetter and variable-font instancer, imported when WeasyPrint first uses them.

WeasyPrint 70 imports both when it is imported, and they bring in most of fontTools:
8 MB of each render worker (a PDF worker settles at 87 MB, not 95). It uses them only
for fonts Herald's PDFs rarely meet (variable fonts, colour or bitmap glyphs, a
missing HarfBuzz subsetter); it subsets with HarfBuzz. So a worker, before it imports
WeasyPrint, puts stand-ins for the two modules in `sys.modules`; the first use of one
imports the real module.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

#: The modules deferred, each with the functions WeasyPrint imports from it by name
#: (`from m import f` reads `f` when WeasyPrint is imported: it gets a stand-in too).
DEFERRED = {
    "fontTools.subset": frozenset[str](),
    "fontTools.varLib.instancer": frozenset({"instantiateVariableFont"}),
}


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute of it is read."""

    def __init__(self, name: str, functions: frozenset[str]) -> None:
        super().__init__(name)
        self._functions = functions
        self._module: types.ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # the import system's own questions
            raise AttributeError(attribute)
        if attribute in self._functions and self._module is None:
            return _deferred_call(self, attribute)
        return getattr(self.real(), attribute)

    def real(self) -> types.ModuleType:
        if self._module is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            self._module = importlib.import_module(self.__name__)
        return self._module


def _deferred_call(module: _Deferred, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(module.real(), name)(*args, **kwargs)

    return call


def defer_font_tools() -> None:
    """Before WeasyPrint is imported: stand-ins for `DEFERRED`, where not imported yet."""
    for name, functions in DEFERRED.items():
        sys.modules.setdefault(name, _Deferred(name, functions))
