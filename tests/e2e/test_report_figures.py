"""Issue 19's figures, delivered by the three services, against sums done here by hand.

The demo data is stored in UTC. The hand sums read the raw documents with plain
queries and use none of Herald's code:
- an Agent Time report of the last seven New York days gives every agent the
  occupancy of its session spans clipped to that week;
- a Campaign Summary's trailing 30-day outbound abandon rate is the count of
  abandoned over answered and abandoned outbound calls, and the campaign above
  the tenant's ceiling (set with `herald tenants set-compliance`) is flagged in
  words in the CSV, the PDF and the HTML email.
"""

from __future__ import annotations

import asyncio
import csv
import email
import io
import itertools
import json
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.schedule_spec import (
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleSpec,
)
from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import (
    Mailpit,
    command_client,
    create_and_run,
    run_cli,
    three_services,
    wait_until,
)

pytestmark = pytest.mark.e2e

TENANT = "acme"
NEW_YORK = ZoneInfo("America/New_York")
PAUSES = ("pause_break_s", "pause_lunch_s", "pause_training_s", "pause_meeting_s")
PAUSES += ("pause_personal_s",)


def _epoch(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), zone).timestamp())


async def _occupancy_by_hand(
    db: AsyncDatabase[Document], start: int, end: int
) -> dict[str, Decimal]:
    """Occupancy % per agent name: (talk + wrap) / (login - pause), spans cut at [start, end)."""
    names = {d["agent_id"]: d["name"] async for d in db["agents"].find({"tenant_id": TENANT})}
    seconds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    async for session in db["agent_sessions"].find({"tenant_id": TENANT}):
        for first, last, state in json.loads(session.get("spans") or "[]"):
            inside = min(last, end) - max(first, start)
            if inside > 0:
                agent = seconds[names[session["agent_id"]]]
                agent["login"] += inside
                agent[state] += inside
    occupancy = {
        name: Decimal(100 * (s["talk_s"] + s["wrap_s"])) / (s["login"] - sum(s[p] for p in PAUSES))
        for name, s in seconds.items()
        if s["login"]
    }
    assert occupancy, "the demo data has sessions in the week"
    return occupancy


async def _abandon_by_hand(
    db: AsyncDatabase[Document], first: date, end: date
) -> dict[str, Decimal]:
    """Outbound abandon % per campaign name over the UTC days [first, end)."""
    names = {d["campaign_id"]: d["name"] async for d in db["campaigns"].find({})}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    collections = set(await db.list_collection_names())
    day = first
    while day < end:
        if f"calls_{day:%Y%m%d}" in collections:
            found = db[f"calls_{day:%Y%m%d}"].find({"tenant_id": TENANT, "direction": "outbound"})
            async for call in found:
                counts[names[call["campaign_id"]]][call["status"]] += 1
        day += timedelta(days=1)
    return {
        name: Decimal(100 * c["abandoned"]) / (c["answered"] + c["abandoned"])
        for name, c in counts.items()
        if c["answered"] + c["abandoned"]
    }


def _ceiling_between(rates: dict[str, Decimal]) -> Decimal:
    """A ceiling, to a tenth, with campaigns on both sides of it."""
    ordered = sorted(set(rates.values()))
    low, high = max(itertools.pairwise(ordered), key=lambda pair: pair[1] - pair[0])
    ceiling = ((low + high) / 2).quantize(Decimal("0.1"))
    assert low < ceiling < high, f"campaigns too close to tell apart: {rates}"
    return ceiling


def _tables(text: str) -> dict[str, list[dict[str, str]]]:
    """A report's CSV by table title: tables apart by a blank line, each after a title line
    when the report has several."""
    tables: dict[str, list[dict[str, str]]] = {}
    blocks = text.strip().split("\r\n\r\n")
    for block in blocks:
        title, _, rest = block.partition("\r\n") if len(blocks) > 1 else ("", "", block)
        tables[title] = list(csv.DictReader(io.StringIO(rest)))
    return tables


def _received(mailpit: Mailpit, address: str) -> EmailMessage:
    (found,) = mailpit.to(address)
    parsed = email.message_from_bytes(mailpit.raw(found["ID"]), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _attachment(message: EmailMessage) -> bytes:
    (attached,) = list(message.iter_attachments())
    assert isinstance(attached, EmailMessage)
    content = attached.get_content()
    return content.encode() if isinstance(content, str) else bytes(content)


async def test_figures_match_the_sums_done_by_hand_from_the_raw_documents(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
) -> None:
    settings = topics_ready
    today = datetime.now(UTC).date()
    await demo.seed(db, tenant_id=TENANT, calls=4000, days=12, anchor=today)
    ny_today = datetime.now(NEW_YORK).date()
    week = (_epoch(ny_today - timedelta(days=7), NEW_YORK), _epoch(ny_today, NEW_YORK))
    occupancy = await _occupancy_by_hand(db, *week)
    trailing = await _abandon_by_hand(db, today - timedelta(days=30), today)
    to = {name: recipient.replace("@", f".{name}@") for name in ("time", "csv", "pdf", "html")}

    async with three_services(settings, log_dir):
        yesterday = await _abandon_by_hand(db, today - timedelta(days=1), today)
        ceiling = _ceiling_between({c: trailing[c] for c in yesterday if c in trailing})
        set_ceiling = await run_cli(
            settings, "tenants", "set-compliance", "--tenant", TENANT,
            "--period", "30d", "--threshold", str(ceiling),
        )  # fmt: skip
        assert set_ceiling.exit_code == 0, set_ceiling.output
        await asyncio.sleep(2)  # the renderer follows tenant.settings
        schedules = {
            "time": ("agent_time", Frequency.WEEKLY, "America/New_York", ReportFormat.CSV),
            "csv": ("campaign_summary", Frequency.DAILY, "UTC", ReportFormat.CSV),
            "pdf": ("campaign_summary", Frequency.DAILY, "UTC", ReportFormat.PDF),
            "html": ("campaign_summary", Frequency.DAILY, "UTC", ReportFormat.HTML),
        }
        runs: dict[str, str] = {}
        async with command_client(settings) as herald:
            for name, (report, frequency, zone, fmt) in schedules.items():
                spec = ScheduleSpec(
                    name=f"Figures {name}",
                    report=ReportRef(id=report),
                    frequency=frequency,
                    weekday=ny_today.weekday() if frequency is Frequency.WEEKLY else None,
                    timezone=zone,
                    recipients=[to[name]],
                    format=fmt,
                )
                runs[name] = await create_and_run(herald, TENANT, name, spec)
        history = db[history_store.RUNS]

        async def all_delivered() -> bool:
            found = [await history_store.get_run(history, TENANT, r) for r in runs.values()]
            return all(r is not None and r.status is RunStatus.DELIVERED for r in found)

        await wait_until(all_delivered, 180, "the four reports to be delivered")

    # Occupancy: every agent with session time in the New York week, as counted by hand.
    agents = _tables(_attachment(_received(mailpit, to["time"])).decode("utf-8-sig"))
    (rows,) = agents.values()
    shown = {row["Agent"]: Decimal(row["Occupancy %"]) for row in rows if row["Agent"] != "Total"}
    assert occupancy.keys() <= shown.keys()
    for name, hand in occupancy.items():
        assert abs(shown[name] - hand) <= Decimal("0.05"), (name, shown[name], hand)

    # The trailing abandon rate and its flag, per campaign, in the CSV.
    flag = f"above {ceiling.normalize():f} %"  # the threshold as written: 2, 2.5
    summary = _tables(_attachment(_received(mailpit, to["csv"])).decode("utf-8-sig"))
    outbound = {row["Campaign"]: row for row in summary["Outbound"] if row["Campaign"] != "Total"}
    assert outbound.keys() == yesterday.keys()
    for name, row in outbound.items():
        hand = trailing[name]
        assert abs(Decimal(row["Abandon %, trailing period"]) - hand) <= Decimal("0.05"), name
        assert row["Flag"] == (flag if hand > ceiling else ""), (name, hand, ceiling)
    flagged = [name for name, rate in trailing.items() if name in outbound and rate > ceiling]
    assert flagged, "the ceiling lies between the campaigns"

    # The same flag in words in the PDF and in the HTML email's table.
    pdf = PdfReader(io.BytesIO(_attachment(_received(mailpit, to["pdf"]))))
    pdf_text = "".join(page.extract_text() or "" for page in pdf.pages)
    assert flag in pdf_text
    html = _received(mailpit, to["html"]).get_body(("html",))
    assert html is not None
    # One flag a flagged campaign's cell, and the ceiling in the report's note under it.
    assert html.get_content().count(f">{flag}</td>") == len(flagged)
    assert f"flagged when that is {flag}" in html.get_content()
