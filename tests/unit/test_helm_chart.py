"""deploy/orderflow, the Helm chart: rendered with `helm template` for its default values and
for values-production.yaml, every manifest validated against the Kubernetes JSON schemas
(kubernetes-validate, strict: an unknown field is an error too), and the properties that make
it OrderFlow's deployment checked against the code itself (roles, settings, health pages).

Helm is built by `make tools` (a prerequisite of `make test`) into ~/.cache/orderflow/bin;
ORDERFLOW_HELM names another binary. Without one the tests are skipped, except under
CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from orderflow import roles

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "orderflow"
PRODUCTION = CHART / "values-production.yaml"
CACHED_HELM = Path.home() / ".cache" / "orderflow" / "bin" / "helm"
# The newest Kubernetes the package has schemas for, and the oldest the chart claims
# (Chart.yaml: kubeVersion ">=1.25.0-0").
OLDEST = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
KUBERNETES_VERSIONS = (
    kubernetes_validate.utils.latest_version(),
    OLDEST.removeprefix(">=").removesuffix("-0"),
)
# A key line as `orderflow api-key` prints it (a digest; no key here is real).
KEY_LINE = "shop sha256:" + "5e" * 32 + " orders:read,orders:write"
ADDRESSES = {
    "ORDERFLOW_KAFKA_BOOTSTRAP": "broker-a.test:9092,broker-b.test:9092",
    "ORDERFLOW_REGISTRY_URL": "http://registry.test:8080/apis/ccompat/v7",
    "ORDERFLOW_ES_URL": "http://search.test:9200",
}
Manifest = dict[str, Any]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@cache
def _helm() -> str | None:
    for candidate in (os.environ.get("ORDERFLOW_HELM"), str(CACHED_HELM), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = _helm()
    if binary is None:
        _unavailable(f"no helm binary (`make tools` builds it into {CACHED_HELM.parent})")
    assert binary is not None
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


@cache
def render(values_file: Path | None = None, overrides: str = "") -> tuple[Manifest, ...]:
    """`helm template` of the chart (release `of`, namespace `shop`): every manifest, hooks
    included, with values_file and then the YAML text `overrides` applied."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
        extra.write(overrides)
        extra.flush()
        files = [str(values_file)] if values_file else []
        args = [arg for file in (*files, extra.name) for arg in ("-f", file)]
        done = helm("template", "of", str(CHART), "--namespace", "shop", *args)
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def default() -> tuple[Manifest, ...]:
    return render()


def production() -> tuple[Manifest, ...]:
    return render(PRODUCTION)


RENDERINGS = {"default": default, "production": production}


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    [found] = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    return found


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(manifests: tuple[Manifest, ...]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for m in manifests:
        if m["kind"] in {"Deployment", "StatefulSet", "Job"}:
            for container in pod_spec(m)["containers"]:
                yield m, container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or the valueFrom object); the last one wins, as in Kubernetes."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def workers(manifests: tuple[Manifest, ...]) -> dict[str, Manifest]:
    """role -> its StatefulSet (the role is the container's `orderflow worker ROLE`)."""
    found: dict[str, Manifest] = {}
    for sts in of_kind(manifests, "StatefulSet"):
        [container] = pod_spec(sts)["containers"]
        assert container["command"][:2] == ["orderflow", "worker"], container["command"]
        role = container["command"][2]
        assert role not in found, f"two StatefulSets for role {role}"
        found[role] = sts
    return found


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def api(manifests: tuple[Manifest, ...]) -> tuple[Manifest, dict[str, Any]]:
    [deployment] = [
        m
        for m, c in containers(manifests)
        if m["kind"] == "Deployment" and c["command"] == ["orderflow", "api"]
    ]
    [container] = pod_spec(deployment)["containers"]
    return deployment, container


# --- the chart is valid --------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_helm_lint_is_clean(values: Path | None) -> None:
    done = helm("lint", "--strict", str(CHART), *(["-f", str(values)] if values else []))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("rendering", RENDERINGS)
def test_every_manifest_is_valid_kubernetes(rendering: str, version: str) -> None:
    manifests = RENDERINGS[rendering]()
    assert {m["kind"] for m in manifests} >= {
        "Deployment",
        "StatefulSet",
        "Service",
        "Job",
        "PodDisruptionBudget",
    }
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except SchemaNotFoundError:
            # a custom resource has no schema here; the chart's own kinds all do
            group = manifest["apiVersion"].rpartition("/")[0]
            assert "." in group and not group.endswith(".k8s.io"), manifest["kind"]
        except kubernetes_validate.ValidationError as exc:
            name = f"{manifest['kind']}/{manifest['metadata']['name']}"
            pytest.fail(f"{name} against Kubernetes {version}: {exc.message} at {exc.path}")


def test_missing_addresses_fail_with_the_value_named() -> None:
    done = helm("template", "of", str(CHART), "--set", "kafka.bootstrapServers=")
    assert done.returncode != 0
    assert "kafka.bootstrapServers" in done.stderr


# --- workers -------------------------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_one_statefulset_per_role_with_its_own_state_volume(rendering: str) -> None:
    manifests = RENDERINGS[rendering]()
    by_role = workers(manifests)
    assert sorted(by_role) == sorted(roles.NAMES)
    for role, sts in by_role.items():
        [claim] = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"]["requests"]["storage"]
        [container] = pod_spec(sts)["containers"]
        # the claim is mounted where the worker keeps its RocksDB tables
        state_dir = env_of(container)["ORDERFLOW_STATE_DIR"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts[claim["metadata"]["name"]] == state_dir, role
        # the governing Service exists and is headless
        service = named(manifests, "Service", sts["spec"]["serviceName"])
        assert service["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_worker_readiness_is_its_readyz_page_on_its_web_port(rendering: str) -> None:
    manifests = RENDERINGS[rendering]()
    for role, sts in workers(manifests).items():
        [container] = pod_spec(sts)["containers"]
        env = env_of(container)
        web_port = int(env["ORDERFLOW_WORKER_WEB_PORT"])
        probe = container["readinessProbe"]["httpGet"]
        # Faust registers the worker's pages with a trailing slash (streams/app.py)
        assert probe["path"] == "/readyz/", role
        assert port_number(container, probe["port"]) == web_port, role
        for liveness in ("livenessProbe", "startupProbe"):
            assert container[liveness]["httpGet"]["path"] == "/healthz/", role
            assert port_number(container, container[liveness]["httpGet"]["port"]) == web_port
        # bound to and advertised as the pod's own address, which the role's other workers
        # use to forward a table read to the key's owner
        assert env["ORDERFLOW_WORKER_WEB_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        selector = sts["spec"]["selector"]["matchLabels"]
        services = [s for s in of_kind(manifests, "Service") if s["spec"]["selector"] == selector]
        assert len(services) == 2, role  # the API's way in and the headless one
        for service in services:
            [port] = service["spec"]["ports"]
            assert port_number(container, port["targetPort"]) == web_port


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_processes_get_sigterm_and_time_to_stop(rendering: str) -> None:
    """The container's command is the OrderFlow process itself (no shell that would swallow
    SIGTERM); workers get long enough to commit and close their tables."""
    manifests = RENDERINGS[rendering]()
    for workload, container in containers(manifests):
        assert container["command"][0] == "orderflow", workload["metadata"]["name"]
    for role, sts in workers(manifests).items():
        assert pod_spec(sts)["terminationGracePeriodSeconds"] >= 30, role
        assert sts["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    deployment, container = api(manifests)
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > int(
        container["lifecycle"]["preStop"]["exec"]["command"][1]
    )


# --- the API and the indexer ---------------------------------------------------------------


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_api_probes_and_its_way_to_the_workers(rendering: str) -> None:
    manifests = RENDERINGS[rendering]()
    _, container = api(manifests)
    env = env_of(container)
    port = int(env["ORDERFLOW_API_PORT"])
    assert env["ORDERFLOW_API_HOST"] == "0.0.0.0"
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], port_number(container, ready["port"])) == ("/readyz", port)
    assert (live["path"], port_number(container, live["port"])) == ("/healthz", port)
    # each worker URL the API reads through is a rendered Service of that role, on its port
    by_role = workers(manifests)
    for role in ("order", "customer", "inventory", "analytics"):
        url = env[f"ORDERFLOW_{role.upper()}_URL"]
        host, _, service_port = url.removeprefix("http://").partition(":")
        service = named(manifests, "Service", host)
        assert service["spec"]["selector"] == by_role[role]["spec"]["selector"]["matchLabels"]
        assert service["spec"].get("clusterIP") != "None", role
        assert [p["port"] for p in service["spec"]["ports"]] == [int(service_port)]


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_indexer_exposes_its_metrics_port(rendering: str) -> None:
    manifests = RENDERINGS[rendering]()
    [indexer] = [c for m, c in containers(manifests) if c["command"] == ["orderflow", "indexer"]]
    port = int(env_of(indexer)["ORDERFLOW_INDEXER_METRICS_PORT"])
    assert env_of(indexer)["ORDERFLOW_WORKER_WEB_HOST"] == "0.0.0.0"
    assert port_number(indexer, "metrics") == port
    assert indexer["livenessProbe"]["httpGet"]["path"] == "/metrics"


def test_init_job_runs_before_install_and_upgrade() -> None:
    [job] = of_kind(default(), "Job")
    [container] = pod_spec(job)["containers"]
    assert container["command"] == ["orderflow", "init"]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert sorted(hooks) == ["pre-install", "pre-upgrade"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert not of_kind(render(overrides="init: {enabled: false}"), "Job")


# --- values reach the processes ------------------------------------------------------------


def test_every_process_gets_the_addresses_and_layout_from_values() -> None:
    values = {
        "kafka": {
            "bootstrapServers": ADDRESSES["ORDERFLOW_KAFKA_BOOTSTRAP"],
            "partitions": 9,
            "replicationFactor": 3,
            "minInsyncReplicas": 2,
        },
        "schemaRegistry": {"url": ADDRESSES["ORDERFLOW_REGISTRY_URL"]},
        "elasticsearch": {"url": ADDRESSES["ORDERFLOW_ES_URL"]},
        "workers": {"tableStandbyReplicas": 2},
        "extraEnv": [{"name": "ORDERFLOW_SHIP_DELAY_S", "value": "7"}],
    }
    manifests = render(overrides=yaml.safe_dump(values))
    seen = set()
    for workload, container in containers(manifests):
        env = env_of(container)
        for name, value in ADDRESSES.items():
            assert env[name] == value, (workload["metadata"]["name"], name)
        assert env["ORDERFLOW_PARTITIONS"] == "9"
        assert env["ORDERFLOW_REPLICATION_FACTOR"] == "3"
        assert env["ORDERFLOW_MIN_INSYNC_REPLICAS"] == "2"
        assert env["ORDERFLOW_TABLE_STANDBY_REPLICAS"] == "2"
        assert env["ORDERFLOW_SHIP_DELAY_S"] == "7"
        seen.add(container["command"][1])
    assert seen == {"api", "worker", "indexer", "init"}


def test_one_role_scales_alone() -> None:
    by_role = workers(render(overrides="workers: {roles: {inventory: {replicas: 3}}}"))
    assert by_role["inventory"]["spec"]["replicas"] == 3
    assert {r: s["spec"]["replicas"] for r, s in by_role.items() if r != "inventory"} == {
        r: 1 for r in roles.NAMES if r != "inventory"
    }


def test_production_values() -> None:
    wanted = yaml.safe_load(PRODUCTION.read_text())
    manifests = production()
    by_role = workers(manifests)
    for role, sts in by_role.items():
        replicas = wanted["workers"]["roles"][role]["replicas"]
        assert sts["spec"]["replicas"] == replicas
        assert replicas >= 2, role
    deployment, _ = api(manifests)
    assert deployment["spec"]["replicas"] == wanted["api"]["replicas"] >= 2
    brokers = wanted["kafka"]["bootstrapServers"].split(",")
    assert len(brokers) == 3
    for workload, c in containers(manifests):
        env = env_of(c)
        assert env["ORDERFLOW_KAFKA_BOOTSTRAP"].split(",") == brokers
        assert env["ORDERFLOW_REPLICATION_FACTOR"] == "3"
        assert env["ORDERFLOW_MIN_INSYNC_REPLICAS"] == "2"
        assert int(env["ORDERFLOW_TABLE_STANDBY_REPLICAS"]) >= 1
        assert int(env["ORDERFLOW_PARTITIONS"]) >= max(
            s["spec"]["replicas"] for s in by_role.values()
        )
        resources = c.get("resources", {})
        assert resources.get("requests") and resources.get("limits"), workload["metadata"]["name"]
        assert c["image"] == f"{wanted['image']['repository']}:{wanted['image']['tag']}"
    # the keys come from the operator's Secret; the chart makes none
    assert not of_kind(manifests, "Secret")
    [volume] = [v for v in pod_spec(deployment)["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == wanted["apiKeys"]["existingSecret"]


# --- API keys ------------------------------------------------------------------------------


def test_api_keys_come_from_a_secret_and_nowhere_else() -> None:
    manifests = render(overrides=f"apiKeys: {{lines: ['{KEY_LINE}']}}")
    [secret] = of_kind(manifests, "Secret")
    assert secret["stringData"]["api-keys"].splitlines() == [KEY_LINE]
    digest = KEY_LINE.split()[1]
    holders = [m["kind"] for m in manifests if digest in yaml.safe_dump(m)]
    assert holders == ["Secret"]
    assert not of_kind(manifests, "ConfigMap")
    # the API reads them as a file mounted from that Secret
    deployment, container = api(manifests)
    [volume] = [v for v in pod_spec(deployment)["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    [item] = volume["secret"]["items"]
    env = env_of(container)
    assert env["ORDERFLOW_API_KEYS_FILE"] == f"{mount['mountPath']}/{item['path']}"
    assert "ORDERFLOW_API_KEYS" not in env
    # only the API reads keys
    for workload, c in containers(manifests):
        if c is not container:
            assert "ORDERFLOW_API_KEYS_FILE" not in env_of(c), workload["metadata"]["name"]


def test_without_keys_there_is_no_secret_and_no_keys_file() -> None:
    manifests = default()
    assert not of_kind(manifests, "Secret")
    _, container = api(manifests)
    assert "ORDERFLOW_API_KEYS_FILE" not in env_of(container)
