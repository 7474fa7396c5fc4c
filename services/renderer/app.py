"""Wires the renderer: settings, broker, GridFS artifacts, the `report.due` subscriber."""

from __future__ import annotations

from faststream import FastStream

from services.renderer import handlers
from shared.service import build_runtime, make_app


def create_app() -> FastStream:
    runtime = build_runtime("renderer")
    handlers.register(runtime)
    return make_app(runtime)
