"""The alert rules and the Grafana dashboard, checked offline.

promtool (Debian's `prometheus` package, installed by `deploy/local/infra up`) checks
deploy/prometheus/herald-rules.yaml and runs its unit tests, herald-rules.test.yaml, in
which every alert fires on some series and stays quiet on others. The rest holds the rules
and the dashboard to what Herald exposes and to their runbooks in docs/operations.md.
tests/integration/test_prometheus.py runs both against a real Prometheus scraping Herald.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from herald.shared.runtime import metrics
from tests.promql import (
    OPERATIONS,
    RULE_TESTS,
    RULES,
    alerts,
    dashboard,
    dashboard_queries,
    documented_faststream_series,
    for_prometheus,
    herald_series,
    load_yaml,
    metric_names,
    panels,
    recorded,
    rules,
)

SEVERITIES = {"critical", "warning", "info"}
#: Rules may also use what Prometheus and kube-state-metrics expose; the dashboard does not.
EXTERNAL = {
    "up",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    """The project installs it (deploy/local/infra up): missing is a failure, not a skip."""
    found = shutil.which("promtool")
    assert found, "promtool is missing: run deploy/local/infra up (Debian package prometheus)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _section(title: str) -> str:
    return OPERATIONS.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_metric_name_reader() -> None:
    """Guards the tests below: names, not functions, labels, ranges or keywords."""
    assert metric_names(
        'sum by (le) (rate(a_bucket{le=~"300(\\\\.0)?", job="x"}[5m])) / on (pod) b offset 1h'
    ) == {"a_bucket", "b"}
    assert metric_names('absent(up{c="s"} == 1) or vector(1e3) > bool 2') == {"up"}
    assert metric_names("deriv(sum(x)[15m:1m]) and ignoring(a) group_left(b) y:z") == {"x", "y:z"}
    assert metric_names("rate(c_total[$__rate_interval])") == {"c_total"}


def test_promtool_checks_the_rules(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_pass(promtool: str) -> None:
    tested = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "never seen firing"
    assert names - quiet == set(), "never seen quiet"


def test_every_alert_waits_has_a_severity_a_summary_and_its_runbook() -> None:
    anchors = _anchors(_section("Alerts"))
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "runbook_url"}, name
        assert annotations["summary"].strip(), name
        assert annotations["runbook_url"] == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in anchors, f"no runbook heading for {name} in docs/operations.md"


def test_the_alerts_table_lists_every_alert() -> None:
    rows = re.findall(r"^\| \[(\w+)\]\(#([\w-]+)\) \| (\w+) \|", _section("Alerts"), re.M)
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in alerts()}
    assert sorted(name for name, _, _ in rows) == sorted(severity)
    for name, anchor, listed in rows:
        assert (anchor, listed) == (name.lower(), severity[name]), name


def test_the_metrics_table_names_every_metric_herald_exposes() -> None:
    """An operator reads what a series means there (three were missing, found by an audit)."""
    rows = re.findall(r"^\| `(herald_\w+)", _section("Metrics"), re.M)
    documented = {name.removesuffix("_total") for name in rows}  # a counter's family name
    exposed = {
        family.name
        for value in vars(metrics).values()
        if isinstance(value, MetricWrapperBase)
        for family in value.describe()
    }
    assert exposed - documented == set()
    assert documented - exposed == set()


def test_the_rules_name_metrics_that_exist() -> None:
    known = herald_series() | documented_faststream_series()
    known |= set(recorded()) | EXTERNAL
    for rule in rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, (rule.get("alert") or rule["record"], unknown)
    # Each recording rule is used by an alert or the dashboard.
    used = {n for rule in alerts() for n in metric_names(rule["expr"])}
    used |= {n for _, query in dashboard_queries() for n in metric_names(query)}
    assert set(recorded()) <= used


def test_the_slo_threshold_is_a_bucket_of_the_lateness_histogram() -> None:
    """The on-time ratio reads the le="300" bucket: without that exact bound it is wrong."""
    assert 300 in metrics.DELIVERY_LATENESS._upper_bounds


def test_the_dashboard_queries_prometheus_in_every_panel() -> None:
    board = dashboard()
    (variable,) = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    prometheus = {"type": "prometheus", "uid": "${datasource}"}
    found = panels()
    assert found
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in found:
        title = panel["title"]
        assert panel["datasource"] == prometheus, title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target.get("datasource", prometheus) == prometheus, title
            assert target["expr"].strip(), title
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, title


def test_the_dashboard_names_metrics_that_exist() -> None:
    known = herald_series() | documented_faststream_series()
    known |= set(recorded())
    for title, query in dashboard_queries():
        unknown = metric_names(query) - known
        assert not unknown, (title, unknown)


def test_the_dashboard_shows_what_operators_need() -> None:
    """The SLO, the herd, each service's golden signals, Kafka and SMTP."""
    shown = {n for _, query in dashboard_queries() for n in metric_names(query)}
    assert {
        "herald:delivery_on_time:ratio_rate1h",
        "herald_delivery_lateness_seconds_bucket",
        "herald_firing_lateness_seconds_count",
        "herald_firing_lateness_seconds_bucket",
        "faststream_received_messages_total",
        "faststream_received_processed_messages_total",
        "faststream_received_processed_messages_exceptions_total",
        "faststream_received_processed_messages_duration_seconds_bucket",
        "faststream_received_messages_in_process",
        "herald_dead_letters_total",
        "herald_consumer_lag",
        "herald_emails_total",
    } <= shown


def test_every_dashboard_query_parses(promtool: str, tmp_path: Path) -> None:
    """promtool parses each query as it checks a rule's expression: no Prometheus needed."""
    queries = [for_prometheus(query) for _, query in dashboard_queries()]
    probe = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{n}", "expr": q} for n, q in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(probe))
    checked = _run(promtool, "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
