"""Starts and stops OrderFlow's own processes (worker, indexer, api) around the local stack
(infra/stack.sh). Used by `make run` / `make up` / `make down` and by the test session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api import keys
from ops import admin
from orderflow import config, roles
from orderflow.config import REPO_ROOT

STACK = REPO_ROOT / "infra" / "stack.sh"
RUN_DIR = REPO_ROOT / ".stack" / "run"
LOG_DIR = REPO_ROOT / ".stack" / "logs"
DEV_KEY = REPO_ROOT / ".stack" / "api-key"  # the development key itself (mode 600)
# One worker process per role (orderflow/roles.py), then the indexer and the API.
WORKERS = tuple(f"worker-{role}" for role in roles.NAMES)
NAMES = (*WORKERS, "indexer", "api")


# A role's further instances are `worker-<role>-<n>` (n = 2, 3, ...): each its own web port,
# this many above the role's, and so its own RocksDB directory (streams/app.py).
INSTANCE_PORT_STEP = 100


def instance_name(role: str, n: int) -> str:
    """The process name of instance n (1: the one `make up` starts) of a worker role."""
    return f"worker-{role}" if n == 1 else f"worker-{role}-{n}"


def _instance(name: str) -> tuple[str, int]:
    """A worker process name's role and instance number."""
    _, role, *n = name.split("-")
    return role, int(n[0]) if n else 1


def command_of(name: str) -> list[str]:
    """`worker-inventory` (and `worker-inventory-2`, ...) run `orderflow worker inventory`;
    the others are their own name."""
    return ["worker", _instance(name)[0]] if name.startswith("worker-") else [name]


def instance_port(settings: config.Settings, name: str) -> int:
    """A worker instance's web port: the role's, this many steps up for instance n."""
    role, n = _instance(name)
    return settings.worker_port(role) + INSTANCE_PORT_STEP * (n - 1)


def _worker_port(name: str, settings: config.Settings) -> int | None:
    """An extra instance's web port; None for a role's first instance (its usual port)."""
    return None if _instance(name)[1] == 1 else instance_port(settings, name)


def stack(action: str, *servers: str) -> None:
    """infra/stack.sh ACTION [SERVER...]: all servers, or only those named."""
    subprocess.run(["bash", str(STACK), action, *servers], check=True)


def _pidfile(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:  # reap it if it is our own child that exited (a zombie still answers kill 0)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pid_of(name: str) -> int | None:
    try:
        pid = int(_pidfile(name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def log_of(name: str) -> Path:
    return LOG_DIR / f"{name}.log"


def start(name: str, env: dict[str, str] | None = None) -> int:
    running = pid_of(name)
    if running:
        return running
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        "ORDERFLOW_LOG_FILE": str(log_of(name)),
        **(env or {}),
    }  # its size bound: orderflow/logs.py
    if name.startswith("worker-") and (port := _worker_port(name, config.load())) is not None:
        env["ORDERFLOW_WORKER_WEB_PORT"] = str(port)
    with log_of(name).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", *command_of(name)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    _pidfile(name).write_text(str(process.pid))
    return process.pid


def stop(*names: str, timeout_s: float = 20.0) -> None:
    """SIGTERM them all at once, wait for them to exit, SIGKILL whatever is left."""
    running = {name: pid for name in names if (pid := pid_of(name)) is not None}
    for pid in running.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_of(name) for name in running):
        time.sleep(0.2)
    for name in names:
        if pid := pid_of(name):
            os.kill(pid, signal.SIGKILL)
        _pidfile(name).unlink(missing_ok=True)


def kill(name: str) -> None:
    """SIGKILL, as a crash would (the crash test's chaos)."""
    if pid := pid_of(name):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    _pidfile(name).unlink(missing_ok=True)


def _ready(name: str, settings: config.Settings) -> bool:
    if name.startswith("worker-") and (port := _worker_port(name, settings)) is not None:
        url = f"http://{settings.worker_web_host}:{port}/readyz/"
    elif name.startswith("worker-"):
        url = f"{settings.worker_url(command_of(name)[1])}/readyz/"
    elif name == "api":
        url = f"http://{settings.api_host}:{settings.api_port}/healthz"
    else:
        return pid_of(name) is not None
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(
    settings: config.Settings, timeout_s: float = 120.0, names: tuple[str, ...] = NAMES
) -> None:
    deadline = time.monotonic() + timeout_s
    for name in names:
        while not _ready(name, settings):
            if pid_of(name) is None or time.monotonic() > deadline:
                tail = log_of(name).read_text(errors="replace").splitlines()[-30:]
                raise RuntimeError(
                    f"{name} did not become ready; log {log_of(name)}:\n" + "\n".join(tail)
                )
            time.sleep(0.5)


def operator_keys() -> bool:
    """Whether the operator configured the API's keys (then no development key is made)."""
    return bool(os.environ.get("ORDERFLOW_API_KEYS") or os.environ.get("ORDERFLOW_API_KEYS_FILE"))


def development_key(settings: config.Settings) -> str | None:
    """With no key configured: the development key (every scope), made once and kept in
    .stack/api-key (mode 600), its digest in the keys file the API reads. None when the
    operator configured keys."""
    if operator_keys():
        return None
    DEV_KEY.parent.mkdir(parents=True, exist_ok=True)
    if not DEV_KEY.exists():
        _private_write(DEV_KEY, keys.new_key() + "\n")
    key = DEV_KEY.read_text().strip()
    _private_write(
        settings.api_keys_file,
        "# written by `orderflow up`: the development key in .stack/api-key, every scope\n"
        + keys.key_line("development", key)
        + "\n",
    )
    return key


def client_key() -> str:
    """The key OrderFlow's own clients (load, bench, tests) send: ORDERFLOW_API_KEY, or the
    development key `make up` wrote."""
    key = os.environ.get("ORDERFLOW_API_KEY") or (
        DEV_KEY.read_text().strip() if DEV_KEY.exists() else ""
    )
    if not key:
        raise RuntimeError(f"no API key: set ORDERFLOW_API_KEY, or run `make up` to make {DEV_KEY}")
    return key


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {client_key()}"}


def _private_write(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def up(settings: config.Settings) -> None:
    stack("up")
    development_key(settings)
    admin.init(settings)
    for name in NAMES:
        start(name)
    wait_ready(settings)
    seeded = admin.seed(settings)
    print(f"demo: {seeded} SKUs and customers added or priced")


def down() -> None:
    stop("api")  # no new orders first, then everything else together
    extra = tuple(p.stem for p in RUN_DIR.glob("worker-*-*.pid"))  # further instances
    stop(*NAMES, *extra)


def banner(settings: config.Settings) -> str:
    api = f"http://127.0.0.1:{settings.api_port}"
    key = development_key(settings)
    if key is None:
        auth, who = "$ORDERFLOW_KEY", "  API keys        as configured (ORDERFLOW_API_KEYS[_FILE])"
    else:
        auth, who = f"$(cat {DEV_KEY})", f"  API key         {key}  (every scope; in {DEV_KEY})"
    live = f"{api}/live#key={key}" if key else f"{api}/live  (asks for a key)"
    return f"""
OrderFlow is running.
{who}
  Live page       {live}
  Swagger UI      {api}/docs  (Authorize: paste the key)
  Elasticsearch   {settings.elasticsearch_url}/orders/_search?pretty
  Registry        {settings.registry_url}/subjects
  Logs            {LOG_DIR}/

Place an order:
  curl -si -X POST {api}/orders -H "Authorization: Bearer {auth}" \\
    -H 'Content-Type: application/json' -d '{{
    "customer_id": "alice", "customer_email": "alice@example.com", "currency": "EUR",
    "items": [{{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}}],
    "shipping_address": {{"country": "NL", "city": "Amsterdam"}}}}'

Watch the events go by (raw, with headers):
  kcat -b {settings.kafka_bootstrap} -C -t orders.events.v1 -f '%t [%p] @%o %k %h\\n'
Decoded from Avro:
  .venv/bin/orderflow watch orders.events.v1

Its timeline in Elasticsearch (replace ORDER_ID):
  curl -s '{settings.elasticsearch_url}/orders/_doc/ORDER_ID?pretty'
  curl -s -H "Authorization: Bearer {auth}" '{api}/orders/ORDER_ID/timeline'
"""
