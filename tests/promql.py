"""What the alert rules (deploy/prometheus) and the dashboard (deploy/grafana) query.

Shared by tests/unit/test_alert_rules.py, which checks them offline, and
tests/integration/test_prometheus.py, which runs them on a real Prometheus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

from herald.shared.runtime import metrics
from tests.infra import REPO

RULES = REPO / "deploy" / "prometheus" / "herald-rules.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "herald-rules.test.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "herald.json"
OPERATIONS = REPO / "docs" / "operations.md"

#: What Grafana replaces in a query before Prometheus sees it, with values for a short test.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}

# Words of PromQL that are not metric names.
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left"}
_KEYWORDS |= {"group_right", "bool", "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (`rate(x_total{a="b"}[5m])` -> {"x_total"}).

    Label matchers, ranges, strings and grouping clauses are dropped first; of the words
    left, those followed by `(` are functions or aggregations.
    """
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    expr = _STRING.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = _GROUPING.sub(" ", expr)
    names = set()
    for match in _NAME.finditer(expr):
        word = match.group()
        if word.lower() in _KEYWORDS or expr[match.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    """Every recording and alerting rule of herald-rules.yaml, in order."""
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded() -> dict[str, str]:
    """Recording rule name -> its expression."""
    return {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included; rows themselves are not panels."""
    found = []
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard."""
    return [(panel["title"], target["expr"]) for panel in panels() for target in panel["targets"]]


def for_prometheus(expr: str) -> str:
    """A dashboard query as Grafana sends it: its variables replaced."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _series_names(name: str, kind: str) -> set[str]:
    """The names a metric's samples carry in the exposition format."""
    if kind == "counter":
        return {f"{name.removesuffix('_total')}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return {name}


def herald_series() -> set[str]:
    """Every series name Herald's own metrics (shared/runtime/metrics.py) expose."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= _series_names(family.name, family.type)
    return names


def documented_faststream_series() -> set[str]:
    """FastStream's metrics as docs/operations.md's "Metrics" table lists them."""
    section = OPERATIONS.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in re.finditer(r"^\| `(faststream_[a-z_]+)(?:\{[^}]*\})?` \| (\w+) \|", section, re.M):
        names |= _series_names(row.group(1), row.group(2))
    return names
