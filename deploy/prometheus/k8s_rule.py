"""Write deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/herald-rules.yaml.

The plain rules file is the one source (promtool tests it); the Prometheus Operator's
PrometheusRule carries the same groups. tests/unit/test_alert_rules.py fails when they differ.

    .venv/bin/python deploy/prometheus/k8s_rule.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "herald-rules.yaml"
TARGET = HERE.parent / "k8s" / "base" / "prometheusrule.yaml"

HEADER = """\
# Generated from deploy/prometheus/herald-rules.yaml by deploy/prometheus/k8s_rule.py:
# edit that file and run the script, never this one (the tests compare the two).
# The Prometheus Operator loads it when its Prometheus selects it: add the label your
# Prometheus' ruleSelector wants (kube-prometheus-stack: release: <its release>) in an overlay.
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line PromQL stays a readable block, as in the source."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "herald", "labels": {"app.kubernetes.io/name": "herald"}},
        "spec": {"groups": rules["groups"]},
    }


def main() -> None:
    rules = yaml.safe_load(RULES.read_text())
    body = yaml.dump(prometheus_rule(rules), Dumper=_Dumper, sort_keys=False, width=1000)
    TARGET.write_text(HEADER + body)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
