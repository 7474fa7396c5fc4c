"""Hypothesis strategies for bad input, and a deterministic way to draw many examples.

Shared by the fuzz tests of the command models (tests/unit/test_fuzz_commands.py),
of every consumed topic in memory (tests/unit/test_fuzz_topics.py) and on real
Kafka (tests/e2e/test_bad_input.py), so all three throw the same kinds of junk.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from herald.shared.contract.catalog import STANDARD_REPORTS
from herald.shared.contract.messages import (
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    RunStatus,
)
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.contract.tolerance import TOLERANT
from tests.samples import report_rendered, run_details

T = TypeVar("T")

#: Hypothesis settings for a reproducible run: CI fails or passes the same way each time.
REPRODUCIBLE: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


def draw(strategy: st.SearchStrategy[T], n: int) -> list[T]:
    """`n` examples of `strategy`, the same ones on every run (derandomized, generate only).

    Drawing inside a `@given` test keeps Hypothesis's own generation (shrinking
    is off, nothing is being checked) without `.example()`, which is random and
    meant for the REPL; the list then feeds an async test or a real broker.
    """
    drawn: list[T] = []

    @settings(max_examples=n, phases=[Phase.generate], **REPRODUCIBLE)
    @given(strategy)
    def collect(example: T) -> None:
        drawn.append(example)

    collect()
    return drawn


# --- JSON-shaped junk --------------------------------------------------------

_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc80b"])
#: Strings of every kind: any code point, very long ones, lone surrogates.
junk_text = st.one_of(
    st.text(max_size=30),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=201, max_value=5_000)),
    _SURROGATES,
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    junk_text,
)
#: Any JSON value, nested a little (costly to draw: used where the nesting matters).
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
#: A wrong value for a field: a leaf, or a flat list or object of them (cheap to draw).
wrong_values = st.one_of(
    json_leaves,
    st.lists(json_leaves, max_size=3),
    st.dictionaries(st.text(max_size=5), json_leaves, max_size=3),
)

#: Stands for "leave this field out".
MISSING = object()


def sometimes_wrong(
    valid: st.SearchStrategy[Any], missing: bool = True, weight: int = 4
) -> st.SearchStrategy[Any]:
    """Mostly (`weight` to 2) a plausible value, else a wrong one or none at all."""
    # Distinct objects: one_of would fold repeats of the same strategy into one branch.
    copies = [valid.map(_same) for _ in range(weight)]
    return st.one_of(*copies, wrong_values, st.just(MISSING if missing else None))


def _same(value: T) -> T:
    return value


def optional(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is as often left out as given."""
    return st.one_of(st.just(MISSING), valid)


def _present(doc: dict[str, Any]) -> dict[str, Any]:
    extras = doc.pop(_EXTRAS)
    return {k: v for k, v in doc.items() if v is not MISSING} | extras


_EXTRAS = "\0extras"


def document(
    fields: dict[str, st.SearchStrategy[Any]], weight: int = 4
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with these fields, each sometimes missing or wrong, and sometimes extras."""
    extras = st.dictionaries(st.text(max_size=8), wrong_values, min_size=1, max_size=2)
    values = {name: sometimes_wrong(strategy, weight=weight) for name, strategy in fields.items()}
    values[_EXTRAS] = st.one_of(*[st.just({})] * 19, extras)
    return st.fixed_dictionaries(values).map(_present)


# --- plausible command fields ------------------------------------------------

valid_identifiers = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:@-]{0,20}\Z")
identifiers = st.one_of(
    valid_identifiers,
    valid_identifiers,
    st.sampled_from(["", " ", "a b", "x" * 129, "-lead", "ünïcode"]),
)
valid_uuids = st.uuids().map(str)
uuids = st.one_of(valid_uuids, st.sampled_from(["", "not-a-uuid", "0" * 32]))
timestamps = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.sampled_from(["2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "yesterday"]),
)
valid_addresses = st.emails()
addresses = st.one_of(
    valid_addresses,
    st.sampled_from(
        ["not an address", "@example.com", "a@", "a@b", "a@@example.com", "a b@example.com"]
    ),
    st.text(max_size=20),
)
names = st.one_of(
    st.text(min_size=1, max_size=60),
    st.text(min_size=0, max_size=210),
    st.sampled_from(["", "x" * 201, "line\nbreak", "tab\there", "nel\x85", "ls\u2028"]),
)
crons = st.one_of(
    st.sampled_from(
        [
            "* * * * *",
            "0 8 * * 1-5",
            "*/15 * * * *",
            "0 0 L * *",
            "@daily",
            "0 0 31 2 *",
            "0 0 29 2 *",
            "61 * * * *",
            "* * * * * *",
            "R * * * *",
            "0 0 1 1 * 0 2030",
            "",
        ]
    ),
    st.text(alphabet="0123456789*/-,LW# ", max_size=20),
)
windows = document(
    {
        "kind": st.sampled_from(
            [
                "last_hours",
                "last_days",
                "previous_day",
                "previous_week",
                "previous_month",
                "month_to_date",
                "forever",
            ]
        ),
        "n": st.integers(min_value=-2, max_value=366 * 24 + 2),
    }
)
zones = st.sampled_from(
    ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns", "Mars/Olympus", "", "../etc"]
)
report_ids = st.sampled_from([*STANDARD_REPORTS, "sales_magic", "herald_smtp_test"])
reports = document(
    {"kind": optional(st.sampled_from(["standard", "custom", "test", "other"])), "id": report_ids}
)
filters = document(
    {
        "campaign_ids": st.lists(identifiers, max_size=4),
        "agent_ids": st.lists(identifiers, max_size=4),
    }
)
recipient_lists = st.one_of(
    st.lists(valid_addresses, min_size=1, max_size=3),
    st.lists(addresses, max_size=6),
    st.just([f"r{i}@example.com" for i in range(1001)]),
)
SPEC_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": names,
    "report": reports,
    "filters": optional(filters),
    "frequency": st.sampled_from(["daily", "weekly", "monthly", "custom", "hourly"]),
    "weekday": optional(st.integers(min_value=-1, max_value=7)),
    "cron": optional(crons),
    "window": optional(windows),
    "time_of_day": optional(
        st.one_of(
            st.times().map(lambda t: t.isoformat()), st.sampled_from(["24:00", "8", "08:00 PM"])
        )
    ),
    "timezone": optional(zones),
    "recipients": recipient_lists,
    "format": optional(st.sampled_from([*ReportFormat, "xlsx"])),
    "enabled": optional(st.booleans()),
    "skip_if_empty": optional(st.booleans()),
    "catch_up_seconds": optional(st.integers(min_value=-5, max_value=10**9)),
}
specs = document(SPEC_FIELDS)
#: An update names a few fields; the rest stay as they are.
changes = st.fixed_dictionaries(
    {},
    optional={
        k: sometimes_wrong(v, missing=False) for k, v in SPEC_FIELDS.items() if k != "enabled"
    },
).map(lambda doc: {k: v for k, v in doc.items() if v is not MISSING})
versions = st.one_of(st.just(2), st.integers(min_value=-1, max_value=4))

#: The fields a reply is addressed with: mostly right, so the checks behind them run.
_ADDRESS: dict[str, st.SearchStrategy[Any]] = {
    "tenant_id": valid_identifiers,
    "schedule_id": valid_identifiers,
    "command_id": valid_uuids,
}
_ENVELOPE: dict[str, st.SearchStrategy[Any]] = {
    "event_id": optional(uuids),
    "occurred_at": optional(timestamps),
    "schema_version": optional(st.integers(min_value=0, max_value=2)),
    "correlation_id": optional(uuids),
}
#: What each command carries beyond the envelope.
COMMAND_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "CreateSchedule": {"spec": specs},
    "UpdateSchedule": {"changes": changes, "expected_version": versions},
    "EnableSchedule": {"expected_version": optional(versions)},
    "DisableSchedule": {"expected_version": optional(versions)},
    "DeleteSchedule": {"expected_version": optional(versions)},
    "RunNow": {},
    "SendTestEmail": {"recipients": recipient_lists},
}


def commands(command_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Documents shaped like `command_type`: its type tag (mostly), envelope and fields."""
    tag = {"type": st.sampled_from([command_type] * 9 + ["Nope"])}
    address = document(tag | _ADDRESS, weight=30)
    rest = document(_ENVELOPE | COMMAND_FIELDS[command_type], weight=12)
    return st.builds(lambda a, r: r | a, address, rest)


def dump(doc: Any, ascii_only: bool) -> bytes:
    """JSON bytes of a document; not ASCII-escaped, a lone surrogate becomes bad UTF-8."""
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def encoded(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.builds(dump, documents, st.booleans())


# --- raw bytes for a topic ----------------------------------------------------

_RUN = run_details()
#: One valid message per consumed model: the base that junk garbles.
SAMPLES: dict[type[BaseModel], BaseModel] = {
    ReportDue: ReportDue(tenant_id="acme", schedule_id="s-1", run=_RUN),
    ReportRendered: report_rendered(
        _RUN,
        artifact_id="a1",
        filename="brief.csv",
        content_type="text/csv",
        size=10,
        filters_summary="All",
    ),
    DeliveryStatus: DeliveryStatus(
        tenant_id="acme",
        schedule_id="s-1",
        run_id=_RUN.run_id,
        attempt=1,
        status=RunStatus.DUE,
        stage="scheduler",
        run=_RUN,
    ),
}


def _truncated(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.integers(min_value=0, max_value=len(valid) - 1).map(lambda n: valid[:n])


def _flipped(valid: bytes) -> st.SearchStrategy[bytes]:
    def flip(at: int, byte: int) -> bytes:
        return valid[:at] + bytes([byte]) + valid[at + 1 :]

    return st.builds(flip, st.integers(min_value=0, max_value=len(valid) - 1), st.integers(0, 255))


def _reshaped(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The valid message with one field dropped or replaced by junk: valid JSON, wrong shape."""

    def change(key: str, value: Any, drop: bool) -> dict[str, Any]:
        doc = dict(valid)
        if drop:
            doc.pop(key)
        else:
            doc[key] = value
        return doc

    return st.builds(change, st.sampled_from(sorted(valid)), json_values, st.booleans())


def raw_payloads(valid: bytes) -> st.SearchStrategy[bytes]:
    """Bytes a consumer of `valid`'s topic may meet: noise, broken or misshapen JSON."""
    doc = json.loads(valid)
    return st.one_of(
        st.binary(max_size=300),
        st.text(alphabet=string.printable, max_size=100).map(str.encode),
        _truncated(valid),
        _flipped(valid),
        encoded(json_values),
        encoded(_reshaped(doc)),
        st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(min_value=4301, max_value=6000).map(lambda n: b"1" * n),
    )


def accepted_by(model: type[BaseModel], raw: bytes) -> bool:
    """Whether a subscriber of event `model` might take these bytes.

    Either way a service reads them: FastStream's JSON decoding then pydantic
    (renderer, mailer), or pydantic's own JSON parser (the scheduler); both as
    tolerant readers, which leave out fields they do not know.
    """
    try:
        model.model_validate_json(raw, context=TOLERANT)
        return True
    except ValidationError:
        pass
    try:
        decoded: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        decoded = raw  # FastStream hands the bytes on as they are
    except (ValueError, RecursionError):
        return False
    try:
        model.model_validate(decoded, context=TOLERANT)
    except ValidationError:
        return False
    return True


def junk_for(model: type[BaseModel]) -> st.SearchStrategy[bytes]:
    """Payloads no subscriber of `model` can take: every one of them belongs in the DLQ."""
    valid = SAMPLES[model].model_dump_json().encode()
    return raw_payloads(valid).filter(lambda raw: not accepted_by(model, raw))
