"""Wires the mailer: settings, broker, ledger, the `report.rendered` subscriber."""

from __future__ import annotations

from faststream import FastStream

from services.mailer import handlers
from shared.service import build_runtime, make_app


def create_app() -> FastStream:
    runtime = build_runtime("mailer")
    handlers.register(runtime)
    return make_app(runtime)
