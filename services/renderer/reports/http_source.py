"""Report data from the platform's own HTTP endpoint; the contract is `docs/http-source.md`.

A body that breaks the contract is a permanent failure (`ReportUnavailable`)
whose message names the offending place, because only a change on the
platform's side will fix it. Timeouts, connection errors and 5xx answers are
retried here a few times, then reported as transient (`SourceUnavailable`) so
the run is retried later. A `Retry-After` replaces the source's own delay when
it is no longer than `max_retry_after_s` and ends before the run's retry
deadline; a longer one ends the fetch as transient at once, naming it. A body
larger than `max_response_bytes` is refused (permanent) while it streams in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, Field, ValidationError

from herald.services.renderer.reports.model import (
    Cell,
    Column,
    ColumnKind,
    ReportData,
    ReportRequest,
    ReportUnavailable,
    Row,
    SourceUnavailable,
    Table,
)
from herald.shared.runtime.settings import HttpSourceSettings

log = logging.getLogger("herald.renderer.http_source")

_EXCERPT_CHARS = 200
#: What an excerpt reads of a body at most (a character is up to 4 bytes of UTF-8).
_EXCERPT_BYTES = _EXCERPT_CHARS * 4
_DIGITS = re.compile(r"[0-9]+")
#: A wait the service asks for is clamped to this when turned into an instant.
_FAR_S = 100 * 365 * 86400.0
#: Numbers are shown with up to 10 places; 15 digits before the point keep that within
#: Decimal's 28 significant digits.
_LARGEST_DIGITS = 15
_LARGEST = 10**_LARGEST_DIGITS
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\s]+")
#: Pydantic's wording for these names Herald's classes; the platform's authors think in JSON.
_JSON_WORDING = {
    "model_type": "Input should be a JSON object",
    "list_type": "Input should be a JSON array",
}


class MalformedBody(Exception):
    """The body broke the contract at `location` (a dotted path such as `tables.0.rows.3`)."""

    def __init__(self, location: str, problem: str) -> None:
        super().__init__(f"{location}: {problem}")


# The body's shape. Unknown fields are ignored, so the platform can add some
# without breaking Herald; cells are checked against their column's kind
# afterwards, where the column is known.


class _ColumnBody(BaseModel):
    key: str = Field(min_length=1)
    label: str
    kind: ColumnKind
    decimals: int = Field(default=1, ge=0, le=10)


class _TableBody(BaseModel):
    title: str | None = None
    columns: list[_ColumnBody] = Field(min_length=1)
    rows: list[list[Any]]
    totals: list[Any] | None = None


class _ReportBody(BaseModel):
    title: str
    tables: list[_TableBody] = Field(min_length=1)
    notes: list[str] = []


class _SingleTableBody(BaseModel):
    title: str
    columns: list[_ColumnBody] = Field(min_length=1)
    rows: list[list[Any]]
    totals: list[Any] | None = None
    notes: list[str] = []


def parse_report(content: bytes | bytearray, zone: ZoneInfo) -> ReportData:
    """The report in a response body; datetimes come out naive, local to `zone`."""
    try:
        data = json.loads(content, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
        raise MalformedBody("body", f"not JSON ({exc})") from exc
    try:
        if isinstance(data, dict) and "tables" in data:
            body = _ReportBody.model_validate(data)
            tables = tuple(
                _table(table, zone, f"tables.{n}.") for n, table in enumerate(body.tables)
            )
            return ReportData(title=body.title, tables=tables, notes=tuple(body.notes))
        single = _SingleTableBody.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc) from exc
    table = _TableBody(columns=single.columns, rows=single.rows, totals=single.totals)
    return ReportData(
        title=single.title, tables=(_table(table, zone, ""),), notes=tuple(single.notes)
    )


def excerpt(content: bytes | bytearray) -> str:
    """A short, single-line, printable piece of a body, safe to put in a message or log."""
    head = content[:_EXCERPT_BYTES].decode("utf-8", errors="replace")
    text = _UNPRINTABLE.sub(" ", head).strip()
    if len(text) > _EXCERPT_CHARS:
        return text[:_EXCERPT_CHARS] + "..."
    return text or "(empty body)"


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _from_validation(exc: ValidationError) -> MalformedBody:
    errors = exc.errors(include_url=False)
    first = errors[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return MalformedBody(location, _JSON_WORDING.get(first["type"], first["msg"]) + more)


def _table(body: _TableBody, zone: ZoneInfo, where: str) -> Table:
    columns = tuple(
        Column(key=c.key, label=c.label, kind=c.kind, decimals=c.decimals) for c in body.columns
    )
    seen: set[str] = set()
    for n, column in enumerate(columns):
        if column.key in seen:
            raise MalformedBody(f"{where}columns.{n}.key", f"duplicate column key {column.key!r}")
        seen.add(column.key)
    rows = tuple(
        _row(cells, columns, zone, f"{where}rows.{n}") for n, cells in enumerate(body.rows)
    )
    totals = None if body.totals is None else _row(body.totals, columns, zone, f"{where}totals")
    return Table(columns=columns, rows=rows, totals=totals, title=body.title)


def _row(cells: Sequence[Any], columns: Sequence[Column], zone: ZoneInfo, where: str) -> Row:
    if len(cells) != len(columns):
        raise MalformedBody(where, f"expected {len(columns)} cells, got {len(cells)}")
    converted: list[Cell] = []
    for n, (value, column) in enumerate(zip(cells, columns, strict=True)):
        try:
            converted.append(None if value is None else _cell(value, column.kind, zone))
        except (TypeError, ValueError, OverflowError) as exc:
            raise MalformedBody(
                f"{where}.{n} (column {column.key!r}, {column.kind})", f"{exc}, got {_shown(value)}"
            ) from exc
    return tuple(converted)


def _cell(value: object, kind: ColumnKind, zone: ZoneInfo) -> Cell:
    """The Python value of one non-null cell; the exception says what was expected."""
    match kind:
        case ColumnKind.TEXT:
            if isinstance(value, str):
                return value
            raise TypeError("expected a string")
        case ColumnKind.INTEGER:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise TypeError("expected an integer")
        case ColumnKind.DECIMAL | ColumnKind.PERCENT | ColumnKind.RATE | ColumnKind.DURATION:
            return _number(value)
        case ColumnKind.MONEY:
            return Decimal(_number(value))
        case ColumnKind.DATE:
            if isinstance(value, str):
                with suppress(ValueError):
                    return date.fromisoformat(value)
            raise ValueError("expected an ISO 8601 date such as 2024-05-31")
        case ColumnKind.DATETIME:
            if isinstance(value, str):
                with suppress(ValueError):
                    return _local(datetime.fromisoformat(value), zone)
            raise ValueError("expected an ISO 8601 date-time such as 2024-05-31T14:05:00+02:00")
        case ColumnKind.FLAG:
            if isinstance(value, bool):
                return value
            raise TypeError("expected true or false")


def _number(value: object) -> int | Decimal:
    """An integer as sent, else an exact Decimal; bounded so formatting to fixed places works."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise TypeError("expected a number or a numeric string")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else value
    except InvalidOperation:
        raise ValueError("expected a number or a numeric string") from None
    if isinstance(number, Decimal) and not number.is_finite():
        raise ValueError("expected a finite number")
    if abs(number) >= _LARGEST:
        raise ValueError(f"expected at most {_LARGEST_DIGITS} digits before the decimal point")
    return number


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Naive local time in the window's zone, as the built-in source gives it."""
    return moment if moment.tzinfo is None else moment.astimezone(zone).replace(tzinfo=None)


def _shown(value: object) -> str:
    text = str(value) if isinstance(value, Decimal) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:60] + "..."


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Answer:
    """One response: its whole body when it succeeded, the start of it when not."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content: bytes | bytearray

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class ServerAskedToWait(SourceUnavailable):
    """Transient: the service's `Retry-After` is longer than the source may wait in place.

    `retry_at` is the instant the service named, for a caller that can schedule by it.
    """

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


def retry_after(value: str, now: datetime) -> float | None:
    """Seconds a `Retry-After` value asks for (delay-seconds or an HTTP date); None: invalid.

    A date in the past asks for no wait.
    """
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(value)  # inf for an absurd number of digits, which no cap allows
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class HttpSource:
    """Fetches each report with one GET, retrying what a later attempt may fix."""

    def __init__(self, settings: HttpSourceSettings) -> None:
        if not settings.url:
            raise ValueError("the http report source needs a URL (HERALD_REPORTS__HTTP__URL)")
        url = httpx.URL(settings.url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("the report service URL must be an absolute http(s) URL")
        self.url = url
        #: The URL as messages and logs show it: no credentials, no query.
        self.shown_url = str(url.copy_with(userinfo=b"", query=None, fragment=None))
        self.settings = settings
        headers = {"Accept": "application/json", "User-Agent": "herald-renderer"}
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        # Each attempt as a whole is bounded in `_attempt`, so httpx's own per-phase
        # timeouts are off.
        self._client = httpx.AsyncClient(headers=headers, timeout=None)

    async def fetch(self, request: ReportRequest) -> ReportData:
        """The report; `request.deadline`, the run's retry deadline, is never waited past
        (without one, only `max_retry_after_s` bounds a wait the service asks for)."""
        deadline = request.deadline
        attempts = self.settings.retries + 1
        problem = ""
        for attempt in range(attempts):
            asked: float | None = None
            try:
                answer = await self._attempt(request)
            except TimeoutError:
                problem = f"no complete answer within {self.settings.timeout_s:g} s"
            except httpx.RequestError as exc:
                problem = f"{type(exc).__name__}: {exc}".removesuffix(": ")
            else:
                if answer.is_success:
                    return self._report(answer, request)
                status = f"HTTP {answer.status_code} {answer.reason_phrase}".rstrip()
                problem = f"{status}: {excerpt(answer.content)}"
                if not _transient(answer.status_code):
                    raise ReportUnavailable(
                        f"report service at {self.shown_url} answered {_what(request)} "
                        f"with {problem}"
                    )
                header = answer.headers.get("retry-after")
                if header is not None:
                    asked = retry_after(header, datetime.now(UTC))
                    problem += f" (Retry-After: {excerpt(header.encode())})"
            if attempt + 1 == attempts:
                break
            delay = self.settings.retry_base_s * 2**attempt if asked is None else asked
            self._may_wait(request, attempt + 1, problem, delay, asked is not None, deadline)
            log.warning(
                "report service at %s failed (%s) for %s; attempt %d of %d, next in %g s%s",
                self.shown_url,
                problem,
                _what(request),
                attempt + 1,
                attempts,
                delay,
                " as it asked" if asked is not None else "",
            )
            await asyncio.sleep(delay)
        raise SourceUnavailable(
            f"report service at {self.shown_url} failed {attempts} time(s) for "
            f"{_what(request)}; last: {problem}"
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _may_wait(
        self,
        request: ReportRequest,
        failed: int,
        problem: str,
        delay: float,
        asked: bool,
        deadline: datetime | None,
    ) -> None:
        """Raises the transient failure when waiting `delay` s in place is not allowed."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=min(delay, _FAR_S))
        cap = self.settings.max_retry_after_s
        if asked and delay > cap:
            why = f"it asks for {delay:g} s, more than the {cap:g} s the source waits in place"
        elif deadline is not None and until > deadline:
            why = f"a wait of {delay:g} s would pass the run's retry deadline {_utc(deadline)}"
        else:
            return
        message = (
            f"report service at {self.shown_url} failed {failed} time(s) for "
            f"{_what(request)}; last: {problem}; {why}"
        )
        raise ServerAskedToWait(message, until) if asked else SourceUnavailable(message)

    async def _attempt(self, request: ReportRequest) -> _Answer:
        async with (
            asyncio.timeout(self.settings.timeout_s),
            self._client.stream(
                "GET",
                self.url,
                params=_query(request),
                headers={"X-Herald-Tenant": request.tenant_id},
            ) as response,
        ):
            if response.is_success:
                content = await self._body(response, request)
            else:
                content = await _head(response, _EXCERPT_BYTES)
            return _Answer(response.status_code, response.reason_phrase, response.headers, content)

    async def _body(self, response: httpx.Response, request: ReportRequest) -> bytearray:
        """The whole body, refused once it is known to pass `max_response_bytes`.

        Content-Length is believed when it is over the limit; the bytes read are
        counted in any case, and reading stops before the buffer would pass it.
        """
        limit = self.settings.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and _DIGITS.fullmatch(declared) and int(declared) > limit:
            raise self._too_large(request, declared, limit)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            if len(body) + len(chunk) > limit:
                raise self._too_large(request, f"at least {len(body) + len(chunk)}", limit)
            body += chunk
        return body

    def _too_large(self, request: ReportRequest, size: str, limit: int) -> ReportUnavailable:
        return ReportUnavailable(
            f"report service at {self.shown_url} answered {_what(request)} with {size} bytes, "
            f"more than the allowed {limit} (HERALD_REPORTS__HTTP__MAX_RESPONSE_BYTES)"
        )

    def _report(self, answer: _Answer, request: ReportRequest) -> ReportData:
        try:
            return parse_report(answer.content, ZoneInfo(request.window.timezone))
        except MalformedBody as exc:
            raise ReportUnavailable(
                f"report service at {self.shown_url} returned a malformed body: {exc}"
            ) from exc


async def _head(response: httpx.Response, size: int) -> bytearray:
    """The first `size` bytes of a body, for a message; the rest is not read."""
    head = bytearray()
    async for chunk in response.aiter_bytes():
        head += chunk[: size - len(head)]
        if len(head) >= size:
            break
    return head


def _query(request: ReportRequest) -> dict[str, str | list[str]]:
    window = request.window
    return {
        "tenant_id": request.tenant_id,
        "report_kind": request.report.kind,
        "report_id": request.report.id,
        "start": _utc(window.start),
        "end": _utc(window.end),
        "timezone": window.timezone,
        "campaign_id": request.filters.campaign_ids,
        "agent_id": request.filters.agent_ids,
    }


def _transient(status: int) -> bool:
    """Server errors, a request timeout and rate limiting may pass; other statuses will not."""
    return status >= 500 or status in (408, 429)


def _what(request: ReportRequest) -> str:
    return f"report {request.report.kind}/{request.report.id} of tenant {request.tenant_id}"
