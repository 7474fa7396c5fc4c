"""Reading a report service's answer: every cell kind, errors that name their place, Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from herald.services.renderer.reports.http_source import (
    MalformedBody,
    excerpt,
    parse_report,
    retry_after,
)
from herald.services.renderer.reports.model import Cell

NEW_YORK = ZoneInfo("America/New_York")


def _body(kind: str, *cells: Any, **column: Any) -> bytes:
    return json.dumps(
        {
            "title": "T",
            "columns": [{"key": "x", "label": "X", "kind": kind, **column}],
            "rows": [[cell] for cell in cells],
        }
    ).encode()


def _cells(kind: str, *cells: Any) -> list[Cell]:
    (table,) = parse_report(_body(kind, *cells), NEW_YORK).tables
    assert isinstance(table.rows, tuple)
    return [row[0] for row in table.rows]


def _problem(content: bytes) -> str:
    with pytest.raises(MalformedBody) as raised:
        parse_report(content, NEW_YORK)
    return str(raised.value)


@pytest.mark.parametrize(
    ("kind", "cells", "expected"),
    [
        ("text", ["a", "", None], ["a", "", None]),
        ("integer", [0, -12, None], [0, -12, None]),
        ("decimal", [1.25, 3, "-0.5", None], [Decimal("1.25"), 3, Decimal("-0.5"), None]),
        ("percent", [12.5, 100], [Decimal("12.5"), 100]),
        ("duration", [90, 0.5], [90, Decimal("0.5")]),
        ("money", [3, 0.1, "19.99"], [Decimal(3), Decimal("0.1"), Decimal("19.99")]),
        ("money", ["-999999999999999.99"], [Decimal("-999999999999999.99")]),
        ("date", ["2024-02-29"], [date(2024, 2, 29)]),
        ("flag", [True, False, None], [True, False, None]),
    ],
)
def test_cells_become_the_python_type_of_their_kind(
    kind: str, cells: list[Any], expected: list[Cell]
) -> None:
    got = _cells(kind, *cells)
    assert got == expected
    assert [type(cell) for cell in got] == [type(cell) for cell in expected]


def test_numbers_keep_the_digits_the_service_sent() -> None:
    content = b"""{"title": "T", "columns": [{"key": "x", "label": "X", "kind": "decimal"}],
                   "rows": [[0.1234567890123456789], [0.30], [1e3]]}"""
    (table,) = parse_report(content, NEW_YORK).tables
    assert isinstance(table.rows, tuple)
    assert [str(row[0]) for row in table.rows[:2]] == ["0.1234567890123456789", "0.30"]
    assert table.rows[2] == (Decimal(1000),)


def test_datetimes_are_shown_local_to_the_window_zone() -> None:
    assert _cells("datetime", "2024-07-01T12:00:00+00:00", "2024-07-01T12:00:00Z") == [
        datetime(2024, 7, 1, 8, 0),
        datetime(2024, 7, 1, 8, 0),
    ]
    assert _cells("datetime", "2024-07-01T12:00:00") == [datetime(2024, 7, 1, 12, 0)]


@pytest.mark.parametrize(
    ("kind", "cell", "problem"),
    [
        ("text", 5, "expected a string, got 5"),
        ("integer", 1.5, "expected an integer, got 1.5"),
        ("integer", True, "expected an integer, got true"),
        ("integer", "7", 'expected an integer, got "7"'),
        ("decimal", "12,5", 'expected a number or a numeric string, got "12,5"'),
        ("decimal", "NaN", 'expected a finite number, got "NaN"'),
        ("money", False, "expected a number or a numeric string, got false"),
        ("money", 10**15, "expected at most 15 digits before the decimal point, got 1000"),
        ("percent", "-1e16", 'expected at most 15 digits before the decimal point, got "-1e16"'),
        ("duration", [1], "expected a number or a numeric string, got [1]"),
        ("date", "2024-02-30", 'expected an ISO 8601 date such as 2024-05-31, got "2024-02-30"'),
        ("date", 20240501, "expected an ISO 8601 date such as 2024-05-31, got 20240501"),
        ("datetime", "yesterday", "expected an ISO 8601 date-time"),
        ("datetime", "0001-01-01T00:00:00+05:00", "date value out of range"),
        ("flag", "yes", 'expected true or false, got "yes"'),
    ],
)
def test_a_cell_of_the_wrong_kind_is_named_by_row_cell_and_column(
    kind: str, cell: Any, problem: str
) -> None:
    message = _problem(_body(kind, None, cell))
    assert message.startswith(f"rows.1.0 (column 'x', {kind}): {problem}")


def test_rows_and_totals_must_match_the_columns() -> None:
    two_columns = {
        "title": "T",
        "columns": [
            {"key": "a", "label": "A", "kind": "text"},
            {"key": "b", "label": "B", "kind": "integer"},
        ],
        "rows": [["x", 1], ["y"]],
    }
    assert _problem(json.dumps(two_columns).encode()) == "rows.1: expected 2 cells, got 1"
    totals = two_columns | {"rows": [], "totals": ["x", 1, 2]}
    assert _problem(json.dumps(totals).encode()) == "totals: expected 2 cells, got 3"


def test_the_shape_is_checked_with_json_words_and_locations() -> None:
    table = {"columns": [{"key": "a", "label": "A", "kind": "text"}], "rows": []}
    assert _problem(b"[]") == "body: Input should be a JSON object"
    assert _problem(json.dumps({"tables": [table]}).encode()) == "title: Field required"
    assert _problem(json.dumps({"title": "T", "tables": []}).encode()).startswith(
        "tables: List should have at least 1 item"
    )
    bad_kind = {
        "title": "T",
        "tables": [table, table | {"columns": [{"key": "a", "label": "A", "kind": "money!"}]}],
    }
    assert _problem(json.dumps(bad_kind).encode()).startswith(
        "tables.1.columns.0.kind: Input should be"
    )
    not_rows = {"title": "T", "tables": [table | {"rows": [["a"], "b"]}]}
    assert (
        _problem(json.dumps(not_rows).encode()) == "tables.0.rows.1: Input should be a JSON array"
    )
    duplicate = table | {"title": "T", "columns": table["columns"] * 2}
    assert _problem(json.dumps(duplicate).encode()) == "columns.1.key: duplicate column key 'a'"
    many = {"title": 1, "tables": [table | {"rows": "none", "totals": 0}]}
    assert (
        _problem(json.dumps(many).encode())
        == "title: Input should be a valid string (and 2 more problems)"
    )


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>oops</html>", b'{"title": "T"', b"\xff\xfe\x00", b'{"title": NaN}'],
)
def test_a_body_that_is_not_json_is_malformed(content: bytes) -> None:
    assert _problem(content).startswith("body: not JSON (")


def test_unknown_fields_are_ignored_and_decimals_default_to_one() -> None:
    body = {
        "title": "T",
        "version": 3,
        "columns": [{"key": "a", "label": "A", "kind": "decimal", "unit": "s"}],
        "rows": [[1.5]],
        "notes": ["n"],
    }
    report = parse_report(json.dumps(body).encode(), NEW_YORK)
    assert report.notes == ("n",)
    assert report.tables[0].columns[0].decimals == 1


def test_an_excerpt_is_one_printable_line_of_bounded_length() -> None:
    assert excerpt(b"  line one\r\n\tline\x00two\x1b[0m ") == "line one line two [0m"
    assert excerpt(b"") == "(empty body)"
    assert excerpt("é".encode() + b"\xff") == "é\ufffd"
    long = excerpt(b"x" * 5000)
    assert long == "x" * 200 + "..."


NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 09:28:30 +0200", 30.0),
        ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),  # RFC 850, still allowed to arrive
        ("Wed Oct 21 07:28:05 2015", 5.0),  # asctime
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # already past: no wait
        ("9" * 400, float("inf")),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str, seconds: float) -> None:
    assert retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", ["", "-5", "1.5", "soon", "1e3", "٣", "Wed, 32 Oct 2015"])
def test_a_retry_after_that_is_neither_is_ignored(value: str) -> None:
    assert retry_after(value, NOW) is None
