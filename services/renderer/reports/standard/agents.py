"""Agents and teams: calls handled against time logged in, time by state, callbacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from herald.services.renderer.calldata.groupings import CALLS, Document, Sums
from herald.services.renderer.calldata.records import Agent, PauseReason, Team, pause_field
from herald.services.renderer.calldata.sessions import UNCLIPPED
from herald.services.renderer.reports.chart import ChartKind
from herald.services.renderer.reports.figures import average_s, pct, per_hour
from herald.services.renderer.reports.model import Cell, Column, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard.charting import TableChart
from herald.services.renderer.reports.standard.definition import (
    AGENT_ONLY,
    BOTH,
    NO_CALLS,
    Computed,
    Figures,
    Inputs,
    Layout,
    Metric,
    Reads,
    ReportDefinition,
    add,
    label,
)

# -- the one occupancy, and who gets a row -------------------------------------------------

#: Shown for an agent without a team, and for the team of agents without one.
NO_TEAM = "(no team)"


def _occupancy(session: Sums) -> Cell:
    """(talk + wrap) / (login - pause), all from the agent's session time in the window:
    of the time available or on calls, the share on calls. One clock for both sides, so
    it is never over 100 %, and Agent Performance and Agent Time agree on it."""
    login, pause = session.get("login_s", 0), session.get("pause_s", 0)
    return pct(session.get("talk_s", 0) + session.get("wrap_s", 0), login - pause)


def _logged_in(inputs: Inputs) -> dict[str, Sums]:
    """Agents with session time inside the window (sessions wholly outside it count none)."""
    return {agent: s for agent, s in inputs.sessions.items() if s.get("login_s", 0) > 0}


def _session_notes(inputs: Inputs) -> tuple[str, ...]:
    unclipped = sum(s.get(UNCLIPPED, 0) for s in inputs.sessions.values())
    notes = [
        "Session time (login, ready, talk, wrap, pause) counts only its part inside the "
        f"window ({inputs.window.timezone}), each session cut at the window's bounds. "
        "Occupancy % = (talk + wrap) / (login - pause), all from sessions. Team is each "
        "agent's current team."
    ]
    if unclipped:
        notes.append(
            f"{unclipped} agent-day(s) on a day the window cuts have no state times "
            "and count whole."
        )
    return tuple(notes)


def _team_of(agents: Mapping[str, Document], agent_id: str) -> str | None:
    """The agent's current team: the one every agent report shows and adds up by."""
    team_id: str | None = agents.get(agent_id, {}).get("team_id")
    return team_id


# -- 2. Agent Performance, 4. Team Performance ----------------------------------------------

_HANDLING = (
    Column("handled", "Calls handled", K.INTEGER, summed=True),
    Column("talk", "Talk", K.DURATION, summed=True),
    Column("hold", "Hold", K.DURATION, summed=True),
    Column("wrap", "Wrap", K.DURATION, summed=True),
    Column("aht", "AHT", K.DURATION),
    Column("conversions", "Conversions", K.INTEGER, summed=True),
    Column("conversion_pct", "Conversion %", K.PERCENT),
    Column("sales_per_hour", "Sales per logged-in hour", K.RATE),
    Column("occupancy_pct", "Occupancy %", K.PERCENT),
)
_HANDLING_READS = Reads(CALLS, sessions=True, dimensions=(Agent, Team))


@dataclass(frozen=True, slots=True)
class _Handling:
    """Calls and session time per agent, for the agents that get a row.

    An agent gets a row when logged in during the window or with a handled call in it.
    With a campaign filter only the calls narrow (sessions have no campaign): then only
    agents with a handled call of those campaigns get one, occupancy covers all their
    time, and sales per logged-in hour is left empty rather than set against time spent
    on other campaigns.
    """

    calls: dict[str, Sums]
    sessions: dict[str, Sums]
    narrowed: bool

    @classmethod
    def of(cls, inputs: Inputs) -> _Handling:
        calls = {k[0]: s for k, s in inputs.cells.fold("agent_id").items() if k[0] is not None}
        narrowed = bool(inputs.filters.campaign_ids)
        handled = {agent for agent, s in calls.items() if s["answered"]}
        logged_in = _logged_in(inputs)
        ids = sorted(handled if narrowed else handled | set(logged_in))
        return cls(
            {a: calls.get(a, NO_CALLS) for a in ids},
            {a: inputs.sessions.get(a, {}) for a in ids},
            narrowed,
        )

    def figures(self, agents: Sequence[str]) -> Row:
        s = add([self.calls[a] for a in agents]) or NO_CALLS
        session = add([self.sessions[a] for a in agents])
        return (
            s["answered"],
            s["talk_s"],
            s["hold_s"],
            s["wrap_s"],
            average_s(s["handle_s"], s["answered"]),
            s["sale"],
            pct(s["sale"], s["answered"]),
            None if self.narrowed else per_hour(s["sale"], session.get("login_s", 0)),
            _occupancy(session),
        )

    def notes(self, inputs: Inputs) -> tuple[str, ...]:
        rows = "An agent has a row when logged in during the window or with a handled call in it."
        if self.narrowed:
            rows = (
                "Campaign filter: call figures cover the chosen campaigns and only agents with "
                "a handled call of them have a row. Sessions have no campaign, so occupancy "
                "covers all their time and sales per logged-in hour is left empty."
            )
        return (rows, *_session_notes(inputs))


def _agent_performance(inputs: Inputs) -> Computed:
    handling = _Handling.of(inputs)
    agents, teams = inputs.dimensions[Agent], inputs.names(Team)
    rows: list[Row] = [
        (
            label(inputs.names(Agent), agent_id),
            label(teams, _team_of(agents, agent_id), NO_TEAM),
            *handling.figures([agent_id]),
        )
        for agent_id in handling.calls
    ]
    totals = ("Total", "", *handling.figures(list(handling.calls)))
    return Computed((Figures(rows, totals),), handling.notes(inputs))


AGENT_PERFORMANCE = ReportDefinition(
    id="agent_performance",
    title="Agent Performance",
    filters=BOTH,
    layouts=(Layout((Column("agent", "Agent"), Column("team", "Team"), *_HANDLING)),),
    reads=_HANDLING_READS,
    compute=_agent_performance,
    metrics=(
        Metric("handled"),
        Metric("aht", None),
        Metric("conversions"),
        Metric("conversion_pct"),
        Metric("sales_per_hour"),
    ),
    charts=(
        TableChart(
            "Conversions by agent", ChartKind.BARS, (("Conversions", "conversions"),), unit="sales"
        ),
    ),
)


def _team_performance(inputs: Inputs) -> Computed:
    """Agent Performance's rows added up by their Team column (the agent's current team)."""
    handling = _Handling.of(inputs)
    agents, teams = inputs.dimensions[Agent], inputs.names(Team)
    by_team: dict[str | None, list[str]] = {}
    for agent_id in handling.calls:
        by_team.setdefault(_team_of(agents, agent_id), []).append(agent_id)

    def handled(members: Sequence[str]) -> int:
        return sum(1 for a in members if handling.calls[a]["answered"])

    rows: list[Row] = [
        (label(teams, team_id, NO_TEAM), handled(members), *handling.figures(members))
        for team_id, members in sorted(
            by_team.items(), key=lambda item: (item[0] is None, item[0] or "")
        )
    ]
    everyone = list(handling.calls)
    totals = ("Total", handled(everyone), *handling.figures(everyone))
    return Computed((Figures(rows, totals),), handling.notes(inputs))


TEAM_PERFORMANCE = ReportDefinition(
    id="team_performance",
    title="Team Performance",
    filters=BOTH,
    layouts=(Layout((Column("team", "Team"), Column("agents", "Agents", K.INTEGER), *_HANDLING)),),
    reads=_HANDLING_READS,
    compute=_team_performance,
    metrics=(Metric("handled"), Metric("conversions"), Metric("conversion_pct")),
    charts=(
        TableChart(
            "Conversions by team", ChartKind.BARS, (("Conversions", "conversions"),), unit="sales"
        ),
    ),
)

# -- 3. Agent Time and Pauses ---------------------------------------------------------------


def _time_figures(s: Sums) -> Row:
    pauses = tuple(s.get(pause_field(reason), 0) for reason in PauseReason)
    return (
        s.get("login_s", 0),
        s.get("ready_s", 0),
        s.get("talk_s", 0),
        s.get("wrap_s", 0),
        s.get("pause_s", 0),
        *pauses,
        pct(s.get("talk_s", 0) + s.get("wrap_s", 0), s.get("login_s", 0)),
        _occupancy(s),
    )


def _agent_time(inputs: Inputs) -> Computed:
    """A row per agent logged in during the window."""
    sessions, agents = _logged_in(inputs), inputs.dimensions[Agent]
    teams, names = inputs.names(Team), inputs.names(Agent)
    rows: list[Row] = [
        (
            label(names, agent_id),
            label(teams, _team_of(agents, agent_id), NO_TEAM),
            *_time_figures(sessions[agent_id]),
        )
        for agent_id in sorted(sessions)
    ]
    totals = ("Total", "", *_time_figures(add(list(sessions.values()))))
    notes = (
        "An agent has a row when logged in during the window. Utilisation % = "
        "(talk + wrap) / login.",
        *_session_notes(inputs),
    )
    return Computed((Figures(rows, totals),), notes)


AGENT_TIME = ReportDefinition(
    id="agent_time",
    title="Agent Time and Pauses",
    filters=AGENT_ONLY,
    layouts=(
        Layout(
            (
                Column("agent", "Agent"),
                Column("team", "Team"),
                Column("login", "Login", K.DURATION, summed=True),
                Column("ready", "Ready", K.DURATION, summed=True),
                Column("talk", "Talk", K.DURATION, summed=True),
                Column("wrap", "Wrap", K.DURATION, summed=True),
                Column("pause", "Pause", K.DURATION, summed=True),
                *(
                    Column(f"pause_{r.value}", f"Pause: {r.value}", K.DURATION, summed=True)
                    for r in PauseReason
                ),
                Column("utilisation_pct", "Utilisation %", K.PERCENT),
                Column("occupancy_pct", "Occupancy %", K.PERCENT),
            )
        ),
    ),
    reads=Reads(sessions=True, dimensions=(Agent, Team)),
    compute=_agent_time,
    metrics=(
        Metric("login", None),
        Metric("talk", None),
        Metric("utilisation_pct"),
        Metric("occupancy_pct"),
    ),
    charts=(
        TableChart(
            "Occupancy by agent", ChartKind.BARS, (("Occupancy", "occupancy_pct"),), unit="%"
        ),
    ),
)

# -- 11. Callbacks ------------------------------------------------------------------------


def _callback_figures(s: Sums) -> Row:
    scheduled, completed = s["callback_scheduled"], s["callback_completed"]
    return (scheduled, completed, scheduled - completed, pct(completed, scheduled))


def _callbacks(inputs: Inputs) -> Computed:
    agents = inputs.names(Agent)
    folded = {
        k: s
        for k, s in inputs.cells.fold("agent_id").items()
        if k[0] is not None and (s["callback_scheduled"] or s["callback_completed"])
    }
    rows = [(label(agents, k[0]), *_callback_figures(s)) for k, s in folded.items()]
    totals = ("Total", *_callback_figures(add(list(folded.values())) or NO_CALLS))
    return Computed((Figures(rows, totals),))


CALLBACKS = ReportDefinition(
    id="callbacks",
    title="Callbacks",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("agent", "Agent"),
                Column("scheduled", "Scheduled", K.INTEGER, summed=True),
                Column("completed", "Completed", K.INTEGER, summed=True),
                Column("missed", "Missed", K.INTEGER, summed=True),
                Column("completion_pct", "Completion %", K.PERCENT),
            )
        ),
    ),
    reads=Reads(CALLS, dimensions=(Agent,)),
    compute=_callbacks,
    metrics=(
        Metric("scheduled", None),
        Metric("completed"),
        Metric("missed", up_is_good=False),
        Metric("completion_pct"),
    ),
    charts=(
        TableChart(
            "Callbacks by agent",
            ChartKind.BARS,
            (("Completed", "completed"), ("Missed", "missed")),
            unit="callbacks",
        ),
    ),
)

DEFINITIONS = (AGENT_PERFORMANCE, AGENT_TIME, TEAM_PERFORMANCE, CALLBACKS)
