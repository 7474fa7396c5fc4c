"""Saved custom reports: a tenant's own table of sums over calls or agent sessions.

A definition names its dataset, the fields to group by, the metrics to show
(counts, sums of numeric fields, ratios from a fixed set), fixed filters, a
sort and a row limit. Every name is checked against the allow-lists below when
the definition is saved and again when it is run, so a schedule never renders
a report built on a field that does not exist. Each reason names its field the
way pydantic locates it (`metrics.2.field`), so the CLI can show what to fix.
The allow-lists and the ratios are documented for users in `docs/reports.md`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from herald.services.renderer.calldata.groupings import COUNT
from herald.services.renderer.calldata.records import (
    CallStatus,
    Direction,
    PauseReason,
    pause_field,
)
from herald.shared.contract.schedule_spec import CleanText, Identifier

MAX_DIMENSIONS: Final = 4
MAX_METRICS: Final = 30
MAX_LIMIT: Final = 10_000
MAX_FILTER_VALUES: Final = 1000


class Unit(enum.StrEnum):
    """What a figure measures, which decides how it is shown."""

    COUNT = "count"
    SECONDS = "seconds"
    CENTS = "cents"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    #: Fields to group and filter by, with their column labels.
    dimensions: Mapping[str, str]
    #: Numeric fields a sum metric may add up, with their unit.
    sums: Mapping[str, Unit]


def _fields(unit: Unit, *names: str) -> dict[str, Unit]:
    return dict.fromkeys(names, unit)


CALLS: Final = Dataset(
    "calls",
    dimensions={
        "campaign_id": "Campaign",
        "agent_id": "Agent",
        "team_id": "Team",
        "list_id": "List",
        "queue_id": "Queue",
        "direction": "Direction",
        "status": "Status",
        "disposition": "Disposition",
        "carrier": "Carrier",
        "hangup_cause": "Hangup cause",
        "day": "Day",
        "hour": "Hour",
    },
    sums={
        **_fields(
            Unit.COUNT,
            "answered",
            "no_answer",
            "busy_failed",
            "abandoned",
            "inbound",
            "within_sl",
            "sale",
            "callback_scheduled",
            "callback_completed",
            "dnc_hit",
            "outside_hours",
        ),
        **_fields(
            Unit.SECONDS,
            "wait_s",
            "ring_s",
            "talk_s",
            "hold_s",
            "wrap_s",
            "handle_s",
            "answer_wait_s",
            "duration_s",
        ),
        **_fields(Unit.CENTS, "revenue_cents", "cost_cents"),
    },
)
SESSIONS: Final = Dataset(
    "agent_sessions",
    dimensions={"agent_id": "Agent", "team_id": "Team", "day": "Day"},
    sums=_fields(
        Unit.SECONDS,
        "login_s",
        "ready_s",
        "talk_s",
        "wrap_s",
        "pause_s",
        *(pause_field(reason) for reason in PauseReason),
    ),
)
DATASETS: Final[dict[str, Dataset]] = {d.name: d for d in (CALLS, SESSIONS)}

#: Values of the enumerated dimensions, so a misspelt filter value is caught on save.
CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "direction": tuple(d.value for d in Direction),
    "status": tuple(s.value for s in CallStatus),
}


@dataclass(frozen=True, slots=True)
class Formula:
    """A metric as arithmetic on sums: the numerator, divided by the denominator if any."""

    numerator: tuple[str, ...]
    unit: Unit
    denominator: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.numerator + self.denominator

    def text(self) -> str:
        """The formula as a reader checks it, e.g. `abandoned / (answered + abandoned), in %`."""

        def side(names: tuple[str, ...]) -> str:
            joined = " + ".join(names)
            return f"({joined})" if len(names) > 1 else joined

        if not self.denominator:
            return side(self.numerator)
        text = f"{side(self.numerator)} / {side(self.denominator)}"
        return f"{text}, in %" if self.unit is Unit.PERCENT else text


@dataclass(frozen=True, slots=True)
class Ratio:
    dataset: str
    formula: Formula


def _ratio(dataset: Dataset, numerator: str, denominator: str, unit: Unit) -> Ratio:
    """A ratio of sums; each side is one field or several joined by `+`."""
    return Ratio(
        dataset.name,
        Formula(tuple(numerator.split("+")), unit, tuple(denominator.split("+"))),
    )


#: The fixed set of derived figures, by name. Percentages have 1 decimal; average
#: seconds are shown as h:mm:ss; money per sale is in currency units (cents / 100).
RATIOS: Final[dict[str, Ratio]] = {
    "contact_rate": _ratio(CALLS, "answered", COUNT, Unit.PERCENT),
    "conversion_rate": _ratio(CALLS, "sale", "answered", Unit.PERCENT),
    "abandon_rate": _ratio(CALLS, "abandoned", "answered+abandoned", Unit.PERCENT),
    "service_level": _ratio(CALLS, "within_sl", COUNT, Unit.PERCENT),
    "callback_completion_rate": _ratio(
        CALLS, "callback_completed", "callback_scheduled", Unit.PERCENT
    ),
    "aht_s": _ratio(CALLS, "handle_s", "answered", Unit.SECONDS),
    "asa_s": _ratio(CALLS, "answer_wait_s", "answered", Unit.SECONDS),
    "average_wait_s": _ratio(CALLS, "wait_s", "answered+abandoned", Unit.SECONDS),
    "average_duration_s": _ratio(CALLS, "duration_s", COUNT, Unit.SECONDS),
    "revenue_per_sale": _ratio(CALLS, "revenue_cents", "sale", Unit.CENTS),
    "cost_per_sale": _ratio(CALLS, "cost_cents", "sale", Unit.CENTS),
    "utilisation": _ratio(SESSIONS, "talk_s+wrap_s", "login_s", Unit.PERCENT),
    "pause_share": _ratio(SESSIONS, "pause_s", "login_s", Unit.PERCENT),
    "ready_share": _ratio(SESSIONS, "ready_s", "login_s", Unit.PERCENT),
}

MetricKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
FilterValues = Annotated[list[str | int], Field(min_length=1, max_length=MAX_FILTER_VALUES)]


@dataclass(frozen=True, slots=True)
class _Problem:
    loc: tuple[str | int, ...]
    reason: str
    value: Any


def _reject(problems: Sequence[_Problem]) -> None:
    """Raise every problem at once, each at its own field location."""
    if problems:
        raise ValidationError.from_exception_data(
            "CustomReport",
            [
                InitErrorDetails(
                    type=PydanticCustomError("custom_report", "{reason}", {"reason": p.reason}),
                    loc=p.loc,
                    input=p.value,
                )
                for p in problems
            ],
        )


def _one_of(names: Sequence[str]) -> str:
    return ", ".join(names)


def _ratios_of(dataset: str) -> list[str]:
    return [name for name, r in RATIOS.items() if r.dataset == dataset]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(_Strict):
    """A column of figures: a count, a sum of one field, or a named ratio."""

    key: MetricKey
    label: CleanText = Field(min_length=1, max_length=200)
    kind: Literal["count", "sum", "ratio"]
    #: For `sum`: the numeric field to add up.
    field: str | None = None
    #: For `ratio`: a name from `RATIOS`.
    ratio: str | None = None

    def formula(self, dataset: Dataset) -> Formula:
        """What the metric computes, in a report of `dataset` (validated by `CustomReport`)."""
        if self.kind == "count":
            return Formula((COUNT,), Unit.COUNT)
        if self.kind == "sum":
            assert self.field is not None
            return Formula((self.field,), dataset.sums[self.field])
        assert self.ratio is not None
        return RATIOS[self.ratio].formula


class Sort(_Strict):
    #: A dimension or a metric key of the report.
    by: str
    descending: bool = False


class CustomReport(_Strict):
    """A saved custom report, valid for its dataset (see the module docstring)."""

    tenant_id: Identifier
    report_id: Identifier
    title: CleanText = Field(min_length=1, max_length=200)
    dataset: Literal["calls", "agent_sessions"]
    dimensions: list[str] = Field(max_length=MAX_DIMENSIONS)
    metrics: list[Metric] = Field(max_length=MAX_METRICS)
    #: Only rows whose field has one of the values count, e.g. {"direction": ["inbound"]}.
    filters: dict[str, FilterValues] = Field(default_factory=dict)
    #: None: rows in the order of their dimension values.
    sort: Sort | None = None
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT)

    @model_validator(mode="after")
    def _fits_dataset(self) -> CustomReport:
        dataset = self.base
        problems = [
            *_dimension_problems(dataset, self.dimensions),
            *_metric_problems(dataset, self.dimensions, self.metrics),
            *_filter_problems(dataset, self.filters),
        ]
        columns = [*self.dimensions, *(m.key for m in self.metrics)]
        if self.sort is not None and columns and self.sort.by not in columns:
            reason = (
                f"{self.sort.by!r} is neither a dimension nor a metric key of this report; "
                f"sort by one of {_one_of(columns)}"
            )
            problems.append(_Problem(("sort", "by"), reason, self.sort.by))
        _reject(problems)
        return self

    @property
    def base(self) -> Dataset:
        """The base dataset's allow-lists."""
        return DATASETS[self.dataset]

    @property
    def grouped_by(self) -> tuple[str, ...]:
        """The fields each group must keep: the dimensions, then the filtered fields."""
        return tuple(dict.fromkeys([*self.dimensions, *self.filters]))

    @property
    def summed(self) -> tuple[str, ...]:
        """The sums the metrics are computed from, each once."""
        fields = (f for m in self.metrics for f in m.formula(self.base).fields)
        return tuple(dict.fromkeys(fields))


def _dimension_problems(dataset: Dataset, dimensions: list[str]) -> list[_Problem]:
    if not dimensions:
        reason = f"group by at least one dimension: {_one_of(list(dataset.dimensions))}"
        return [_Problem(("dimensions",), reason, dimensions)]
    problems = []
    for i, name in enumerate(dimensions):
        if name not in dataset.dimensions:
            reason = (
                f"{name!r} is not a dimension of {dataset.name}; "
                f"choose one of {_one_of(list(dataset.dimensions))}"
            )
            problems.append(_Problem(("dimensions", i), reason, name))
        elif name in dimensions[:i]:
            problems.append(_Problem(("dimensions", i), f"{name!r} is listed twice", name))
    return problems


def _metric_problems(
    dataset: Dataset, dimensions: list[str], metrics: list[Metric]
) -> list[_Problem]:
    if not metrics:
        reason = "add at least one metric (a count, a sum or a ratio)"
        return [_Problem(("metrics",), reason, metrics)]
    problems = []
    for i, metric in enumerate(metrics):
        problems += _kind_problems(i, metric)
        if metric.key in (m.key for m in metrics[:i]):
            reason = f"metric key {metric.key!r} is used twice; each metric needs its own key"
            problems.append(_Problem(("metrics", i, "key"), reason, metric.key))
        elif metric.key in dimensions:
            reason = f"{metric.key!r} is a dimension of this report; give the metric another key"
            problems.append(_Problem(("metrics", i, "key"), reason, metric.key))
        if metric.field is not None and metric.field not in dataset.sums:
            reason = (
                f"{metric.field!r} is not a summable field of {dataset.name}; "
                f"choose one of {_one_of(list(dataset.sums))}"
            )
            problems.append(_Problem(("metrics", i, "field"), reason, metric.field))
        if metric.ratio is not None and (reason := _ratio_problem(dataset, metric.ratio)):
            problems.append(_Problem(("metrics", i, "ratio"), reason, metric.ratio))
    return problems


def _kind_problems(i: int, metric: Metric) -> list[_Problem]:
    """Field goes with a sum and ratio with a ratio, and only with them."""
    problems = []
    for name, kind, value, what in (
        ("field", "sum", metric.field, "the numeric field to add up"),
        ("ratio", "ratio", metric.ratio, f"one of {_one_of(list(RATIOS))}"),
    ):
        if metric.kind == kind and value is None:
            reason = f"a {kind} metric needs {name}: {what}"
            problems.append(_Problem(("metrics", i, name), reason, None))
        elif metric.kind != kind and value is not None:
            reason = f"only a {kind} metric takes {name}; a {metric.kind} metric has none"
            problems.append(_Problem(("metrics", i, name), reason, value))
    return problems


def _ratio_problem(dataset: Dataset, name: str) -> str:
    available = _one_of(_ratios_of(dataset.name))
    ratio = RATIOS.get(name)
    if ratio is None:
        return f"{name!r} is not a known ratio; ratios of {dataset.name}: {available}"
    if ratio.dataset != dataset.name:
        return (
            f"ratio {name!r} is computed from {ratio.dataset}, not {dataset.name}; "
            f"ratios of {dataset.name}: {available}"
        )
    return ""


def _filter_problems(dataset: Dataset, filters: dict[str, list[str | int]]) -> list[_Problem]:
    problems = []
    for name, values in filters.items():
        if name not in dataset.dimensions:
            reason = (
                f"{name!r} cannot be filtered on in {dataset.name}; "
                f"filter on one of {_one_of(list(dataset.dimensions))}"
            )
            problems.append(_Problem(("filters", name), reason, name))
            continue
        for i, value in enumerate(values):
            reason = _value_problem(name, value)
            if reason:
                problems.append(_Problem(("filters", name, i), reason, value))
    return problems


def _value_problem(name: str, value: str | int) -> str:
    """Why a filter value can never match the stored field (empty when it can)."""
    if name == "hour":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
            return f"{value!r} is not an hour; hours are whole numbers 0 to 23"
        return ""
    if not isinstance(value, str):
        return f"{name} values are text; write {str(value)!r} in quotes"
    if name == "day" and not _is_day(value):
        return f"{value!r} is not a day; write days as YYYY-MM-DD"
    if name in CHOICES and value not in CHOICES[name]:
        return f"{value!r} is not a {name}; choose one of {_one_of(CHOICES[name])}"
    return ""


def _is_day(value: str) -> bool:
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def reasons(error: ValidationError) -> list[str]:
    """Each problem of a rejected definition as `field.path: reason`, for people."""
    return [
        f"{'.'.join(map(str, e['loc'])) or 'definition'}: {e['msg']}"
        for e in error.errors(include_url=False)
    ]
