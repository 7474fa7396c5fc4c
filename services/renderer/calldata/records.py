"""The contact-center data reports are computed from, as the platform hands it to Herald.

These models validate what comes in (the platform's CDRs, agent sessions and
dimensions) and turn each into the stored document. Money is in integer
cents and durations in whole seconds, so a sum is exact whichever server or
roll-up computes it. Status becomes 0/1 flags and the start time a local
`day` and `hour`, so every report is a `$match` + `$group` with `$sum`
(docs/architecture.md, "Storage rules").
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s/$]+$")]
Seconds = Annotated[int, Field(ge=0, le=7 * 24 * 3600)]
Cents = Annotated[int, Field(ge=0)]
Flag = Annotated[int, Field(ge=0, le=1)]

#: An inbound call answered within this many seconds of waiting meets the service level.
SERVICE_LEVEL_S = 20
#: The validation context key of the data's zone (`{DATA_ZONE: zone}`): given it, a session
#: whose spans lie outside its local day there fails validation, not later when stored.
DATA_ZONE = "data_zone"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class CallStatus(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    ABANDONED = "abandoned"


class PauseReason(enum.StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    PERSONAL = "personal"


class AgentState(enum.StrEnum):
    READY = "ready"
    TALK = "talk"
    WRAP = "wrap"
    PAUSE = "pause"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: Id


class Call(_Record):
    """One call detail record."""

    call_id: Id
    started_at: AwareDatetime
    direction: Direction
    campaign_id: Id
    list_id: Id | None = None
    lead_id: Id | None = None
    queue_id: Id | None = None
    agent_id: Id | None = None
    team_id: Id | None = None
    #: Already masked by the platform (Herald never stores a full number).
    phone: str = Field(default="", max_length=40)
    status: CallStatus
    disposition: str = Field(default="", max_length=100)
    carrier: str = Field(default="", max_length=100)
    hangup_cause: str = Field(default="", max_length=100)
    wait_s: Seconds = 0
    ring_s: Seconds = 0
    talk_s: Seconds = 0
    hold_s: Seconds = 0
    wrap_s: Seconds = 0
    cost_cents: Cents = 0
    sale: Flag = 0
    revenue_cents: Cents = 0
    callback_scheduled: Flag = 0
    callback_completed: Flag = 0
    dnc_hit: Flag = 0
    outside_hours: Flag = 0

    @model_validator(mode="after")
    def _consistent(self) -> Call:
        answered = self.status is CallStatus.ANSWERED
        if not answered and (self.talk_s or self.hold_s or self.wrap_s):
            raise ValueError("talk_s, hold_s and wrap_s must be 0 for a call not answered")
        if answered and self.agent_id is None:
            raise ValueError("an answered call needs agent_id")
        if self.revenue_cents and not self.sale:
            raise ValueError("revenue_cents needs sale = 1")
        if self.callback_completed and not self.callback_scheduled:
            raise ValueError("callback_completed needs callback_scheduled = 1")
        return self

    def document(self, zone: ZoneInfo) -> dict[str, Any]:
        """The stored call: its fields plus the local day/hour and the flags reports sum."""
        local = self.started_at.astimezone(zone)
        answered = self.status is CallStatus.ANSWERED
        doc = self.model_dump()
        doc.update(
            _id=f"{self.tenant_id}/{self.call_id}",
            started_at=self.started_at.astimezone(ZoneInfo("UTC")),
            day=local.date().isoformat(),
            hour=local.hour,
            answered=int(answered),
            no_answer=int(self.status is CallStatus.NO_ANSWER),
            busy_failed=int(self.status in (CallStatus.BUSY, CallStatus.FAILED)),
            abandoned=int(self.status is CallStatus.ABANDONED),
            inbound=int(self.direction is Direction.INBOUND),
            within_sl=int(answered and self.wait_s <= SERVICE_LEVEL_S),
            answer_wait_s=self.wait_s if answered else 0,
            handle_s=self.talk_s + self.hold_s + self.wrap_s if answered else 0,
            duration_s=self.ring_s + self.wait_s + self.talk_s + self.hold_s,
        )
        return doc


class StateSpan(BaseModel):
    """One stretch of an agent's day in one state, to the second: [start, end)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: AgentState
    start: AwareDatetime
    end: AwareDatetime
    #: Why the agent paused: a pause has one, other states none.
    reason: PauseReason | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StateSpan:
        if self.end <= self.start:
            raise ValueError("a span ends after it starts")
        if self.start.microsecond or self.end.microsecond:
            raise ValueError("span times are whole seconds")
        if (self.state is AgentState.PAUSE) != (self.reason is not None):
            raise ValueError("a pause span needs a reason, and only a pause span has one")
        return self

    @property
    def field(self) -> str:
        """The session sum this span's seconds add to."""
        return pause_field(self.reason) if self.reason is not None else f"{self.state.value}_s"


class AgentSession(_Record):
    """One agent's time on one local day, by state; pauses by reason.

    `spans`, when the platform has them, say when that time was spent, so a
    report window that cuts the day counts only the part inside it; a session
    without them counts whole on such a day (docs/reports.md).
    """

    agent_id: Id
    team_id: Id | None = None
    day: date
    login_s: Seconds
    ready_s: Seconds = 0
    talk_s: Seconds = 0
    wrap_s: Seconds = 0
    pauses: dict[PauseReason, Seconds] = Field(default_factory=dict)
    #: The day's time in state spans, in time order, not overlapping; their sums are the totals.
    spans: tuple[StateSpan, ...] = ()

    @model_validator(mode="after")
    def _spans_add_up(self) -> AgentSession:
        if not self.spans:
            return self
        for before, after in zip(self.spans, self.spans[1:], strict=False):
            if after.start < before.end:
                raise ValueError("spans must be in time order and not overlap")
        spent: dict[str, int] = {}
        for span in self.spans:
            spent[span.field] = spent.get(span.field, 0) + _seconds(span.start, span.end)
        totals = {
            "ready_s": self.ready_s,
            "talk_s": self.talk_s,
            "wrap_s": self.wrap_s,
            **{pause_field(reason): self.pauses.get(reason, 0) for reason in PauseReason},
        }
        if sum(spent.values()) != self.login_s or any(
            spent.get(name, 0) != seconds for name, seconds in totals.items()
        ):
            raise ValueError("login_s, ready_s, talk_s, wrap_s and pauses must add up the spans")
        return self

    @model_validator(mode="after")
    def _spans_in_the_day(self, info: ValidationInfo) -> AgentSession:
        """Given the data's zone (an import), a session the store would refuse is refused
        here, with the other invalid input, rather than midway through storing a batch."""
        zone = (info.context or {}).get(DATA_ZONE)
        if zone is not None:
            self.check_day(zone)
        return self

    def check_day(self, zone: ZoneInfo) -> None:
        """ValueError unless the spans lie within the session's local day in `zone` (the
        data's), where a session is stored and clipped to a report's window."""
        if self.spans and {
            self.spans[0].start.astimezone(zone).date(),
            (self.spans[-1].end - timedelta(seconds=1)).astimezone(zone).date(),
        } != {self.day}:
            raise ValueError(
                f"session {self.tenant_id}/{self.day}/{self.agent_id}: its spans, "
                f"{self.spans[0].start.isoformat()} to {self.spans[-1].end.isoformat()}, "
                f"lie outside {self.day} in {zone.key}, the data's zone"
            )

    def document(self, zone: ZoneInfo) -> dict[str, Any]:
        """The stored session; its spans must lie within its local day in `zone`."""
        self.check_day(zone)
        day = self.day.isoformat()
        doc: dict[str, Any] = {
            "_id": f"{self.tenant_id}/{day}/{self.agent_id}",
            "tenant_id": self.tenant_id,
            "day": day,
            "agent_id": self.agent_id,
            "team_id": self.team_id,
            "login_s": self.login_s,
            "ready_s": self.ready_s,
            "talk_s": self.talk_s,
            "wrap_s": self.wrap_s,
            "pause_s": sum(self.pauses.values()),
            # [start, end, field] per span in epoch seconds: one string reads fast on FerretDB.
            "spans": _encoded(self.spans),
        }
        doc.update({pause_field(reason): self.pauses.get(reason, 0) for reason in PauseReason})
        return doc


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def _encoded(spans: tuple[StateSpan, ...]) -> str | None:
    if not spans:
        return None
    rows = [[int(s.start.timestamp()), int(s.end.timestamp()), s.field] for s in spans]
    return json.dumps(rows, separators=(",", ":"))


def pause_field(reason: PauseReason) -> str:
    return f"pause_{reason.value}_s"


class Agent(_Record):
    agent_id: Id
    name: str = Field(min_length=1, max_length=200)
    team_id: Id | None = None

    def document(self) -> dict[str, Any]:
        return {"_id": f"{self.tenant_id}/{self.agent_id}", **self.model_dump()}


class Team(_Record):
    team_id: Id
    name: str = Field(min_length=1, max_length=200)

    def document(self) -> dict[str, Any]:
        return {"_id": f"{self.tenant_id}/{self.team_id}", **self.model_dump()}


class Campaign(_Record):
    campaign_id: Id
    name: str = Field(min_length=1, max_length=200)
    revenue_per_sale_cents: Cents = 0
    cost_per_call_cents: Cents = 0
    cost_per_agent_hour_cents: Cents = 0
    #: Accepted as platforms send it, not used: the abandon-rate ceiling reports flag is
    #: the tenant's compliance setting (`TenantCompliance`), the regulator's per jurisdiction.
    abandon_threshold_pct: float = Field(default=3.0, ge=0, le=100)

    def document(self) -> dict[str, Any]:
        return {"_id": f"{self.tenant_id}/{self.campaign_id}", **self.model_dump()}


class CallList(_Record):
    list_id: Id
    campaign_id: Id
    name: str = Field(min_length=1, max_length=200)
    #: Leads loaded into the list: the denominator of penetration.
    size: int = Field(ge=0)

    def document(self) -> dict[str, Any]:
        return {"_id": f"{self.tenant_id}/{self.list_id}", **self.model_dump()}


#: The reference data a report may name its rows by.
Dimension = Agent | Team | Campaign | CallList
