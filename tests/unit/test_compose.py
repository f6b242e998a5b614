"""docker-compose.yml: valid for Compose, and it keeps the external contract.

Only `config` is run, which needs a Compose binary but no Docker engine. Compose v2
(`docker compose`) is preferred; Compose v1.29 (`docker-compose`, Debian's `docker-compose`
package) works too. Without either, the tests are skipped, except under CI=true, where they
fail and say how to install one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ops import services as services_module
from orderflow import config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
TOOLS_PROFILE = "tools"
# DESIGN.md, "External contract": these host ports, and the services behind them.
CONTRACT_PORTS = {8000: "api", 9092: "kafka", 8081: "registry", 9200: "elasticsearch"}
# One worker per role, named like the local processes (ops/services.py).
WORKERS = services_module.WORKERS
INSTALL_HINT = (
    "no Docker Compose binary found (neither `docker compose` nor `docker-compose`). "
    "Install one, e.g. on Debian/Ubuntu: "
    "`apt-get install -y --no-install-recommends docker-compose` (Compose v1.29), "
    "or Docker's `docker-compose-plugin` (Compose v2)."
)
# A YAML -> JSON filter for Compose v1's output, run by v1's own Python (see _parse_yaml).
_YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def _find_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def _env() -> dict[str, str]:
    # The result must depend on the file alone, not on the caller's Compose settings.
    return {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}


def _run_config(compose: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose, "-f", str(COMPOSE_FILE), "--profile", TOOLS_PROFILE, "config", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _parse_yaml(compose: list[str], text: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        pass
    else:
        loaded: dict[str, Any] = yaml.safe_load(text)
        return loaded
    # Compose v1 is a Python program that depends on PyYAML: its own interpreter can parse it.
    shebang = Path(compose[0]).read_bytes()[:200].split(b"\n", 1)[0].decode(errors="replace")
    interpreter = shebang[2:].strip().split() if shebang.startswith("#!") else []
    if interpreter and "python" in Path(interpreter[-1]).name:
        converted = subprocess.run(
            [*interpreter, "-c", _YAML_TO_JSON], input=text, capture_output=True, text=True
        )
        if converted.returncode == 0:
            loaded = json.loads(converted.stdout)
            return loaded
    _unavailable("cannot read `config` output as YAML: install PyYAML (pip install pyyaml)")
    raise AssertionError("unreachable")


@cache
def _model(compose: tuple[str, ...]) -> dict[str, Any]:
    """The resolved model, every profile included, as Compose itself normalises it."""
    # v2 prints JSON on request; v1 has no --format (it prints its usage, even with exit 0).
    as_json = _run_config(list(compose), "--format", "json")
    if as_json.returncode == 0:
        try:
            loaded: dict[str, Any] = json.loads(as_json.stdout)
            return loaded
        except json.JSONDecodeError:
            pass
    as_yaml = _run_config(list(compose))
    assert as_yaml.returncode == 0, as_yaml.stderr
    return _parse_yaml(list(compose), as_yaml.stdout)


@pytest.fixture(scope="module")
def compose() -> Iterator[list[str]]:
    found = _find_compose()
    if found is None:
        _unavailable(INSTALL_HINT)
    assert found is not None
    yield found


@pytest.fixture(scope="module")
def services(compose: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = _model(tuple(compose))["services"]
    return found


# --- helpers over the normalised model (v2 JSON and v1 YAML differ in places) ---------------
def _ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host_ip, published, target) for each published port."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # v2: {"host_ip", "published": "8000", "target": 8000}
            if port.get("published") not in (None, ""):
                found.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/", 1)[0].rsplit(":", 2)  # v1: "127.0.0.1:8000:8000/tcp"
        if len(parts) == 3:
            found.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            found.append(("", int(parts[0]), int(parts[1])))
    return found


def _has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test") or []
    return bool(test) and not check.get("disable") and test[0] != "NONE"


def _is_one_shot(service: dict[str, Any]) -> bool:
    # Runs to completion: never restarted once it exits 0.
    restart = str(service.get("restart") or "no")
    return restart == "no" or restart.startswith("on-failure")


def _is_tool(service: dict[str, Any]) -> bool:
    return TOOLS_PROFILE in (service.get("profiles") or [])


def _conditions(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def _named_volumes(service: dict[str, Any]) -> list[str]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):  # v2
            if volume.get("type") == "volume" and volume.get("source"):
                found.append(volume["source"])
        elif not str(volume).startswith(("/", ".", "~")):  # v1: "kafka-data:/path:rw"
            found.append(str(volume).split(":", 1)[0])
    return found


# --- the tests -------------------------------------------------------------------------------
def test_compose_config_is_valid(compose: list[str]) -> None:
    result = _run_config(compose, "-q")
    assert result.returncode == 0, f"{' '.join(compose)} config -q failed:\n{result.stderr}"


def test_no_version_key() -> None:
    # The `version:` key is obsolete in the Compose Specification (v2 warns about it).
    assert not re.search(r"^version\s*:", COMPOSE_FILE.read_text(), re.MULTILINE)


def test_contract_ports_are_published_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = {
        port: (name, host_ip)
        for name, service in services.items()
        for host_ip, port, _ in _ports(service)
    }
    for port, owner in CONTRACT_PORTS.items():
        assert port in published, f"host port {port} is not published"
        assert published[port][0] == owner, f"host port {port} goes to {published[port][0]}"
    exposed = {port: ip for port, (_, ip) in published.items() if ip != "127.0.0.1"}
    assert not exposed, f"ports published beyond 127.0.0.1: {exposed}"


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    unchecked = [
        name
        for name, service in services.items()
        if not _is_tool(service) and not _has_healthcheck(service) and not _is_one_shot(service)
    ]
    assert not unchecked, f"neither a healthcheck nor a one-shot: {unchecked}"
    for name in ("kafka", "registry", "elasticsearch", *WORKERS, "api"):
        assert _has_healthcheck(services[name]), f"{name} has no healthcheck"
    for name in ("init", "seed"):
        assert _is_one_shot(services[name]), f"{name} should run once, not be restarted"


def test_tools_do_not_start_by_default(services: dict[str, dict[str, Any]]) -> None:
    assert _is_tool(services["kcat"])
    assert "kcat" in services["kcat"]["image"]


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    healthy, done = "service_healthy", "service_completed_successfully"
    for server in ("kafka", "registry", "elasticsearch"):
        assert _conditions(services["init"]).get(server) == healthy, f"init before {server}"
    for process in (*WORKERS, "indexer", "api"):
        assert _conditions(services[process]).get("init") == done, f"{process} before init"
    assert _conditions(services["seed"]).get("worker-inventory") == healthy
    for reads_from in ("worker-inventory", "worker-analytics"):
        assert _conditions(services["api"]).get(reads_from) == healthy
    assert _conditions(services["registry"]).get("kafka") == healthy  # kafkasql storage
    # Every dependency on a service is on one that can satisfy the condition.
    for name, service in services.items():
        for dependency, condition in _conditions(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == healthy:
                assert _has_healthcheck(services[dependency]), f"{name}: {dependency} unchecked"
            if condition == done:
                assert _is_one_shot(services[dependency]), f"{name}: {dependency} never ends"


def test_orderflow_settings(services: dict[str, dict[str, Any]]) -> None:
    def env(name: str) -> dict[str, str]:
        found: dict[str, str] = services[name].get("environment") or {}
        return found

    defaults = config.Settings()
    for worker in WORKERS:
        assert env(worker)["ORDERFLOW_WORKER_WEB_HOST"] == "0.0.0.0", worker
        role = worker.removeprefix("worker-")
        probe = " ".join(services[worker]["healthcheck"]["test"])
        assert f":{defaults.worker_port(role)}/readyz/" in probe, worker
    for client in ("api", "seed"):
        for role in ("order", "inventory", "analytics", "customer"):
            url = env(client)[f"ORDERFLOW_{role.upper()}_URL"]
            assert url == f"http://worker-{role}:{defaults.worker_port(role)}", (client, url)
    assert env("api")["ORDERFLOW_API_HOST"] == "0.0.0.0"
    for process in ("init", *WORKERS, "indexer", "api", "seed", "watch"):
        settings = env(process)
        assert settings["ORDERFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092", process
        assert settings["ORDERFLOW_REGISTRY_URL"].startswith("http://registry:"), process
        assert settings["ORDERFLOW_REGISTRY_URL"].endswith("/apis/ccompat/v7"), process
        assert settings["ORDERFLOW_ES_URL"] == "http://elasticsearch:9200", process


def test_data_lives_in_named_volumes(compose: list[str]) -> None:
    model = _model(tuple(compose))
    declared = set(model.get("volumes") or {})
    for name in ("kafka", "elasticsearch", *WORKERS, "api"):
        volumes = _named_volumes(model["services"][name])
        assert volumes, f"{name} keeps its data in no named volume"
        assert set(volumes) <= declared, f"{name}: undeclared volumes {volumes}"
