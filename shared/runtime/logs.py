"""Structured logs: one JSON object per line, carrying the ids of what a line is about.

A FastStream middleware reads `tenant_id`, `schedule_id`, `command_id` and
`run_id` from each message it consumes into a context variable; a logging
filter adds them to every record written while that message is handled, so
`grep run_id` finds a run's whole story across services. With tracing on, a
line written inside a span also carries its `trace_id` and `span_id`
(`shared/runtime/tracing.py`). Secrets never reach a log line: settings hold
them as `SecretStr`, and messages carry none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from opentelemetry import trace

#: The ids of the message being handled in this task.
_context: ContextVar[dict[str, str]] = ContextVar("herald_log_context", default={})  # noqa: B039
FIELDS = ("tenant_id", "schedule_id", "command_id", "run_id")
#: The current span's ids, when there is one (tracing on).
TRACE_FIELDS = ("trace_id", "span_id")


def ids_of(body: object) -> dict[str, str]:
    """The ids a Herald message carries (a run's id may sit in its `run` object).

    A batch (a list of bodies) has none of its own: its handler binds each record's.
    """
    if not isinstance(body, bytes | str):
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        # Bad UTF-8 or JSON, integers past 4,300 digits, nesting past the parser's depth:
        # no ids to log. Raising here would bypass the DLQ and redeliver the message forever.
        return {}
    if not isinstance(document, dict):
        return {}
    found = {name: document[name] for name in FIELDS if isinstance(document.get(name), str)}
    run = document.get("run")
    if "run_id" not in found and isinstance(run, dict) and isinstance(run.get("run_id"), str):
        found["run_id"] = run["run_id"]
    return found


class LogContext(BaseMiddleware):
    """Binds the consumed message's ids to every log line written while handling it."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        with bound(ids_of(msg.body)):
            return await call_next(msg)


@contextmanager
def bound(ids: dict[str, str]) -> Iterator[None]:
    """Log lines written inside carry these ids."""
    token = _context.set(ids)
    try:
        yield
    finally:
        _context.reset(token)


def _trace_ids() -> dict[str, str]:
    """The current span's trace and span ids, in hex; none outside a span."""
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return {}
    return {"trace_id": format(found.trace_id, "032x"), "span_id": format(found.span_id, "016x")}


class _WithContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() | _trace_ids()).items():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        # Stamped by the handler's filter when the line was written; else the span current now.
        traced = {n: getattr(record, n) for n in TRACE_FIELDS if hasattr(record, n)}
        line.update(traced or _trace_ids())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(service: str, *, level: str, json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_WithContext())
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
