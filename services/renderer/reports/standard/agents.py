"""Agents and teams: calls handled against time logged in, time by state, callbacks."""

from __future__ import annotations

from herald.services.renderer.calldata.groupings import CALLS, Sums
from herald.services.renderer.calldata.records import Agent, PauseReason, Team, pause_field
from herald.services.renderer.reports.figures import pct, per_hour, ratio
from herald.services.renderer.reports.model import ChartKind, Column, Row
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

# -- 2. Agent Performance, 4. Team Performance ----------------------------------------------

_HANDLING = (
    Column("handled", "Calls handled", K.INTEGER),
    Column("talk", "Talk", K.DURATION),
    Column("hold", "Hold", K.DURATION),
    Column("wrap", "Wrap", K.DURATION),
    Column("aht", "AHT", K.DURATION),
    Column("conversions", "Conversions", K.INTEGER),
    Column("conversion_pct", "Conversion %", K.PERCENT),
    Column("sales_per_hour", "Sales per logged-in hour", K.DECIMAL),
    Column("occupancy_pct", "Occupancy %", K.PERCENT),
)
_HANDLING_READS = Reads(CALLS, sessions=True, dimensions=(Agent, Team))


def _handling(s: Sums, session: Sums) -> Row:
    s = NO_CALLS | s
    login, pause = session.get("login_s", 0), session.get("pause_s", 0)
    return (
        s["answered"],
        s["talk_s"],
        s["hold_s"],
        s["wrap_s"],
        ratio(s["handle_s"], s["answered"]),
        s["sale"],
        pct(s["sale"], s["answered"]),
        per_hour(s["sale"], login),
        pct(s["handle_s"], login - pause),
    )


def _agent_performance(inputs: Inputs) -> Computed:
    calls = inputs.cells.fold("agent_id")
    sessions, agents = inputs.sessions, inputs.dimensions[Agent]
    teams = inputs.names(Team)
    ids = sorted({k[0] for k in calls if k[0] is not None} | set(sessions))
    rows: list[Row] = []
    for agent_id in ids:
        agent = agents.get(agent_id, {})
        row = _handling(calls.get((agent_id,), NO_CALLS), sessions.get(agent_id, {}))
        rows.append((str(agent.get("name", agent_id)), label(teams, agent.get("team_id")), *row))
    total_calls = add([calls.get((a,), NO_CALLS) for a in ids])
    totals = ("Total", "", *_handling(total_calls, add(list(sessions.values()))))
    return Computed((Figures(rows, totals),))


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
    by_team = inputs.cells.fold("team_id")
    by_team_agent = inputs.cells.fold("team_id", "agent_id")
    agents = inputs.dimensions[Agent]
    teams = inputs.names(Team)
    # Sessions count for the agent's current team.
    team_sessions: dict[str, list[Sums]] = {}
    for agent_id, sums in inputs.sessions.items():
        team_id = agents.get(agent_id, {}).get("team_id")
        if team_id is not None:
            team_sessions.setdefault(team_id, []).append(sums)
    ids = sorted({k[0] for k in by_team if k[0] is not None} | set(team_sessions))
    rows: list[Row] = []
    all_agents = set()
    for team_id in ids:
        handled_by = {k[1] for k, s in by_team_agent.items() if k[0] == team_id and s["answered"]}
        all_agents |= handled_by
        session = add(team_sessions.get(team_id, []))
        row = _handling(by_team.get((team_id,), NO_CALLS), session)
        rows.append((label(teams, team_id), len(handled_by), *row))
    total_calls = add([by_team.get((t,), NO_CALLS) for t in ids])
    total_session = add([s for t in ids for s in team_sessions.get(t, [])])
    totals = ("Total", len(all_agents), *_handling(total_calls, total_session))
    return Computed((Figures(rows, totals),))


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
    )


def _agent_time(inputs: Inputs) -> Computed:
    sessions, agents = inputs.sessions, inputs.dimensions[Agent]
    teams = inputs.names(Team)
    rows: list[Row] = []
    for agent_id in sorted(sessions):
        agent = agents.get(agent_id, {})
        name, team = str(agent.get("name", agent_id)), label(teams, agent.get("team_id"))
        rows.append((name, team, *_time_figures(sessions[agent_id])))
    totals = ("Total", "", *_time_figures(add(list(sessions.values()))))
    return Computed((Figures(rows, totals),))


AGENT_TIME = ReportDefinition(
    id="agent_time",
    title="Agent Time and Pauses",
    filters=AGENT_ONLY,
    layouts=(
        Layout(
            (
                Column("agent", "Agent"),
                Column("team", "Team"),
                Column("login", "Login", K.DURATION),
                Column("ready", "Ready", K.DURATION),
                Column("talk", "Talk", K.DURATION),
                Column("wrap", "Wrap", K.DURATION),
                Column("pause", "Pause", K.DURATION),
                *(Column(f"pause_{r.value}", f"Pause: {r.value}", K.DURATION) for r in PauseReason),
                Column("utilisation_pct", "Utilisation %", K.PERCENT),
            )
        ),
    ),
    reads=Reads(sessions=True, dimensions=(Agent, Team)),
    compute=_agent_time,
    metrics=(Metric("login", None), Metric("talk", None), Metric("utilisation_pct")),
    charts=(
        TableChart(
            "Utilisation by agent", ChartKind.BARS, (("Utilisation", "utilisation_pct"),), unit="%"
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
                Column("scheduled", "Scheduled", K.INTEGER),
                Column("completed", "Completed", K.INTEGER),
                Column("missed", "Missed", K.INTEGER),
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
