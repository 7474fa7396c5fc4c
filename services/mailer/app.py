"""Wires the mailer: settings, broker, ledger, the `report.rendered` subscriber."""

from __future__ import annotations

from faststream import FastStream

from herald.services.mailer import handlers
from herald.services.mailer.smtp import SmtpPool
from herald.shared.runtime.service import build_runtime, make_app


def create_app() -> FastStream:
    runtime = build_runtime("mailer")
    pool = SmtpPool(runtime.settings.smtp)
    mailer = handlers.register(runtime, pool)
    app = make_app(runtime)
    app.after_shutdown(mailer.close)
    return app
