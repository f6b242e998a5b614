"""The one configuration module: every setting comes from an environment variable with a
default that works against the local stack (`make up`)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from orderflow import roles

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# An Idempotency-Key is honoured at least this long (DESIGN.md, "Over time and in operation"):
# the floor of every window that retires what a repeated request would need.
IDEMPOTENCY_WINDOW_S = 24 * 3600


def local_bootstrap(brokers: int) -> str:
    """The local stack's Kafka addresses (infra/stack.sh): one broker on 9092, or a cluster of
    three on 9092, 9094 and 9096."""
    return ",".join(f"127.0.0.1:{9092 + 2 * node}" for node in range(brokers))


def _brokers() -> int:
    return _env_int("ORDERFLOW_BROKERS", 1)


@dataclass(frozen=True)
class Settings:
    # The local stack's Kafka: one broker, or a cluster of three (`orderflow up --brokers 3`),
    # which also makes three copies of every topic the default, two of them in sync.
    brokers: int = field(default_factory=_brokers)
    kafka_bootstrap: str = field(
        default_factory=lambda: _env("ORDERFLOW_KAFKA_BOOTSTRAP", local_bootstrap(_brokers()))
    )
    registry_url: str = field(
        default_factory=lambda: _env(
            "ORDERFLOW_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"
        )
    )
    elasticsearch_url: str = field(
        default_factory=lambda: _env("ORDERFLOW_ES_URL", "http://127.0.0.1:9200")
    )
    # Every order-keyed topic has this many partitions, so the saga table is co-partitioned
    # with each topic the order agent reads.
    partitions: int = field(default_factory=lambda: _env_int("ORDERFLOW_PARTITIONS", 6))
    # Copies of every topic the project creates (its own, the changelogs), and how many must
    # have a write before it counts (acks=all): 1 and 1 on the single local broker; 3 and 2 on
    # a cluster (`orderflow up --brokers 3`, docs/scaling.md).
    replication_factor: int = field(
        default_factory=lambda: _env_int("ORDERFLOW_REPLICATION_FACTOR", min(_brokers(), 3))
    )
    min_insync_replicas: int = field(
        default_factory=lambda: _env_int(
            "ORDERFLOW_MIN_INSYNC_REPLICAS", 2 if _brokers() > 1 else 1
        )
    )
    # Faust standby replicas: each table kept warm on this many other workers of its role,
    # which take over a dead owner's partitions without replaying the changelog.
    table_standby_replicas: int = field(
        default_factory=lambda: _env_int("ORDERFLOW_TABLE_STANDBY_REPLICAS", 0)
    )
    # How long command and reply topics keep their records (history topics and dead letters
    # keep every record: ops/admin.py, topic_configs); never below the idempotency window.
    command_retention_s: float = field(
        default_factory=lambda: max(
            float(IDEMPOTENCY_WINDOW_S),
            _env_float("ORDERFLOW_COMMAND_RETENTION_S", 7 * 24 * 3600.0),
        )
    )
    # How long a finished order's state stays in the saga's, payment's and fulfillment's tables
    # after it ended (streams/retirement.py); a command that would create such state and is
    # older than this is refused (dead-lettered `too-old`): it can only be a repeat.
    retire_after_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_RETIRE_AFTER_S", 7 * 24 * 3600.0)
    )
    app_id: str = field(default_factory=lambda: _env("ORDERFLOW_APP_ID", "orderflow"))
    # The role a worker process runs (orderflow/roles.py); set by `orderflow worker ROLE`.
    role: str = field(default_factory=lambda: _env("ORDERFLOW_ROLE", ""))
    # Worker web servers: role number i (in orderflow.roles.ROLES order) listens on base + i.
    worker_web_host: str = field(
        default_factory=lambda: _env("ORDERFLOW_WORKER_WEB_HOST", "127.0.0.1")
    )
    worker_web_port_base: int = field(
        default_factory=lambda: _env_int("ORDERFLOW_WORKER_WEB_PORT_BASE", 6066)
    )
    # The indexer's Prometheus endpoint (GET /metrics); it has no other web server.
    indexer_metrics_port: int = field(
        default_factory=lambda: _env_int("ORDERFLOW_INDEXER_METRICS_PORT", 6075)
    )
    # This worker process's own port, instead of its role's (a second worker of a role).
    worker_web_port: int = field(default_factory=lambda: _env_int("ORDERFLOW_WORKER_WEB_PORT", 0))
    # Where the API and seed reach the workers that serve reads from their tables: one address,
    # or several instances of the role separated by commas (any instance answers for every
    # key; the API asks the next when one cannot be reached).
    order_url: str = field(default_factory=lambda: _env("ORDERFLOW_ORDER_URL", ""))
    customer_url: str = field(default_factory=lambda: _env("ORDERFLOW_CUSTOMER_URL", ""))
    inventory_url: str = field(default_factory=lambda: _env("ORDERFLOW_INVENTORY_URL", ""))
    analytics_url: str = field(default_factory=lambda: _env("ORDERFLOW_ANALYTICS_URL", ""))
    api_host: str = field(default_factory=lambda: _env("ORDERFLOW_API_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: _env_int("ORDERFLOW_API_PORT", 8000))
    # API keys (api/keys.py): digests and scopes, from the environment and/or a file. The file
    # by default is the development key `make up` writes when nothing else is configured.
    api_keys: str = field(default_factory=lambda: _env("ORDERFLOW_API_KEYS", ""))
    api_keys_file: Path = field(
        default_factory=lambda: Path(
            _env("ORDERFLOW_API_KEYS_FILE", str(REPO_ROOT / ".stack" / "api-keys"))
        )
    )
    # How long the API waits for Kafka to acknowledge a command before answering 503.
    produce_timeout_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_PRODUCE_TIMEOUT_S", 5.0)
    )
    # Tables (RocksDB) and the API's idempotency keys: their Kafka's, so the local cluster
    # keeps its own beside the single broker's (each table's offsets are those of its changelog).
    state_dir: Path = field(
        default_factory=lambda: Path(
            _env(
                "ORDERFLOW_STATE_DIR",
                str(
                    REPO_ROOT
                    / ".stack"
                    / "data"
                    / ("orderflow" if _brokers() == 1 else "orderflow-cluster")
                ),
            )
        )
    )
    # The simulated carrier: time from scheduled to shipped, and shipped to delivered.
    ship_delay_s: float = field(default_factory=lambda: _env_float("ORDERFLOW_SHIP_DELAY_S", 2.0))
    deliver_delay_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_DELIVER_DELAY_S", 3.0)
    )
    carrier_tick_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_CARRIER_TICK_S", 0.5)
    )
    # Gateway retries: first retry after this many seconds, doubling each time.
    payment_backoff_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_PAYMENT_BACKOFF_S", 0.2)
    )
    # A customer's email may not change again within this many seconds (issue 15's rule)
    email_cooldown_s: float = field(
        default_factory=lambda: max(0.0, _env_float("ORDERFLOW_EMAIL_COOLDOWN_S", 86400.0))
    )
    # Fraud rule: authorized spend per customer per window may not pass the limit.
    # How long a worker's producer waits to fill a batch: fewer, larger requests to Kafka
    producer_linger_ms: int = field(
        default_factory=lambda: _env_int("ORDERFLOW_PRODUCER_LINGER_MS", 5)
    )
    # How a consumer fetches (every worker's, the indexer's): the broker answers a fetch once
    # it has this many bytes for it or waited this long, so a trickle arrives a few records
    # per fetch instead of one (docs/architecture.md, "Latency budget").
    fetch_min_bytes: int = field(
        default_factory=lambda: max(1, _env_int("ORDERFLOW_FETCH_MIN_BYTES", 1))
    )
    fetch_max_wait_ms: int = field(
        default_factory=lambda: max(1, _env_int("ORDERFLOW_FETCH_MAX_WAIT_MS", 500))
    )
    fraud_limit: str = field(default_factory=lambda: _env("ORDERFLOW_FRAUD_LIMIT", "10000.00"))
    fraud_window_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_FRAUD_WINDOW_S", 3600.0)
    )
    orders_index: str = field(default_factory=lambda: _env("ORDERFLOW_ORDERS_INDEX", "orders-v1"))
    # The per-event documents: one index per period of occurred_at (`<events_index>-<date>`),
    # all behind `events_alias`; an index whose every event is older than the retention is
    # deleted (indexer/index.py, EventIndices).
    events_index: str = field(
        default_factory=lambda: _env("ORDERFLOW_EVENTS_INDEX", "order-events-v1")
    )
    events_alias: str = field(
        default_factory=lambda: _env("ORDERFLOW_EVENTS_ALIAS", "order-events")
    )
    events_index_period_s: int = field(
        default_factory=lambda: max(1, _env_int("ORDERFLOW_EVENTS_INDEX_PERIOD_S", 86400))
    )
    events_retention_s: float = field(
        default_factory=lambda: _env_float("ORDERFLOW_EVENTS_RETENTION_S", 30 * 86400.0)
    )
    orders_alias: str = field(default_factory=lambda: _env("ORDERFLOW_ORDERS_ALIAS", "orders"))
    # How often the indexer writes the customers a batch touched (their figures need a
    # refresh of the orders index and an aggregation): a customer document lags its orders
    # by up to this many seconds
    customer_figures_s: float = field(
        default_factory=lambda: max(0.0, _env_float("ORDERFLOW_CUSTOMER_FIGURES_S", 2.0))
    )
    # The customers read model (indexer/customers.py): one document per customer_id
    customers_index: str = field(
        default_factory=lambda: _env("ORDERFLOW_CUSTOMERS_INDEX", "customers-v1")
    )
    customers_alias: str = field(
        default_factory=lambda: _env("ORDERFLOW_CUSTOMERS_ALIAS", "customers")
    )
    # niceness of the background roles' workers (orderflow/roles.py); 0: the same as the others
    background_nice: int = field(default_factory=lambda: _env_int("ORDERFLOW_BACKGROUND_NICE", 10))
    # "uvloop" (default) or "asyncio": the event loop of the workers and the API.
    event_loop: str = field(default_factory=lambda: _env("ORDERFLOW_EVENT_LOOP", "uvloop"))

    def worker_port(self, role: str) -> int:
        return self.worker_web_port_base + roles.NAMES.index(role)

    def worker_urls(self, role: str) -> tuple[str, ...]:
        """The addresses of the role's instances the API may ask, in the order to ask them."""
        explicit = {
            "order": self.order_url,
            "customer": self.customer_url,
            "inventory": self.inventory_url,
            "analytics": self.analytics_url,
        }.get(role, "")
        listed = tuple(url.strip() for url in explicit.split(",") if url.strip())
        return listed or (f"http://{self.worker_web_host}:{self.worker_port(role)}",)

    def worker_url(self, role: str) -> str:
        """The role's first instance: where tools ask when one address will do."""
        return self.worker_urls(role)[0]


def load() -> Settings:
    return Settings()


def use_event_loop(settings: Settings) -> None:
    """Install the configured event loop policy; call before any loop is created."""
    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif settings.event_loop != "asyncio":
        raise SystemExit(f"ORDERFLOW_EVENT_LOOP: {settings.event_loop!r} is not uvloop or asyncio")
