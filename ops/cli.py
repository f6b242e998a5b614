"""`orderflow <command>`: the project's entry points."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from orderflow import config, roles


def _worker(args: argparse.Namespace) -> None:
    from streams.worker import main

    if args.web_port:
        os.environ["ORDERFLOW_WORKER_WEB_PORT"] = str(args.web_port)
    config.use_event_loop(config.load())
    main(args.role)


def _indexer(_: argparse.Namespace) -> None:
    from indexer.main import main

    main()


def _api(_: argparse.Namespace) -> None:
    import uvicorn

    settings = config.load()
    uvicorn.run(
        "api.app:app",
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        # a line per request only when following requests (ORDERFLOW_LOG_LEVEL=DEBUG)
        access_log=os.environ.get("ORDERFLOW_LOG_LEVEL", "INFO").upper() == "DEBUG",
        loop="uvloop" if settings.event_loop == "uvloop" else "asyncio",
        http="httptools",
    )


def _init(_: argparse.Namespace) -> None:
    from ops import admin

    admin.init(config.load())


def _seed(_: argparse.Namespace) -> None:
    from ops import admin

    seeded = admin.seed(config.load())
    print(f"demo: {seeded} SKUs and customers added or priced")


def _up(args: argparse.Namespace) -> None:
    from ops import services

    if getattr(args, "brokers", None) is not None:
        # for this process, infra/stack.sh and every process started from here
        os.environ["ORDERFLOW_BROKERS"] = str(args.brokers)
    settings = config.load()
    started = time.monotonic()
    try:
        services.up(settings)
    except KeyboardInterrupt:
        # The processes run in sessions of their own (a Ctrl-C meant for this command does
        # not reach them): stop what was started rather than leave it running unseen.
        print(
            "\ninterrupted: stopping OrderFlow's processes; servers already started keep "
            "running (`make down` stops them too)",
            file=sys.stderr,
        )
        services.down()
        raise SystemExit(130) from None
    print(services.banner(settings))
    print(f"(up in {time.monotonic() - started:.0f}s)")
    if not args.foreground:
        print("Running in the background; `make down` stops everything.")
        return
    print("Press Ctrl-C to stop OrderFlow's processes (`make down` also stops the servers).")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping:
            dead = [name for name in services.NAMES if services.pid_of(name) is None]
            if dead:
                print(f"{dead} exited; see {services.LOG_DIR}", file=sys.stderr)
                break
            time.sleep(1)
    finally:
        services.down()


def _down(args: argparse.Namespace) -> None:
    from ops import services

    services.down()
    if not args.services_only:
        services.stack("down")


def _watch(args: argparse.Namespace) -> None:
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    from schemas.codec import Codec, DecodeError, to_json_value
    from schemas.registry import SchemaRegistry

    settings = config.load()
    codec = Codec(SchemaRegistry(settings.registry_url))
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": "orderflow-watch",
            "enable.auto.commit": False,
        }
    )
    metadata = consumer.list_topics(args.topic, timeout=10).topics[args.topic]
    start = OFFSET_END if args.latest else OFFSET_BEGINNING
    consumer.assign([TopicPartition(args.topic, p, start) for p in metadata.partitions])
    seen, idle_since = 0, time.monotonic()
    try:
        while args.count is None or seen < args.count:
            record = consumer.poll(0.5)
            if record is None or record.error():
                if args.idle_timeout and time.monotonic() - idle_since > args.idle_timeout:
                    break
                continue
            idle_since = time.monotonic()
            key = (record.key() or b"").decode(errors="replace")
            line: dict[str, object] = {
                "topic": record.topic(),
                "partition": record.partition(),
                "offset": record.offset(),
                "key": key,
                "headers": {
                    name: value.decode(errors="replace") if isinstance(value, bytes) else value
                    for name, value in list(record.headers() or [])
                },
            }
            try:
                message = codec.decode(record.topic() or "", key, record.value())
                line["value"] = {"envelope": message.envelope.__dict__, **message.data}
            except DecodeError as exc:
                line["error"] = str(exc)
            print(json.dumps(to_json_value(line)), flush=True)
            seen += 1
    finally:
        consumer.close()


def _schemas(args: argparse.Namespace) -> None:
    from schemas import compat, docs
    from schemas.catalog import AVRO_DIR, load_catalog
    from schemas.registry import RegistryUnavailable, SchemaRegistry

    avro_dir = (args.schemas_dir or AVRO_DIR).resolve()
    if args.action == "doc":
        print(f"wrote {docs.write_catalogue(avro_dir=avro_dir)}")
        return
    settings = config.load()
    registry = SchemaRegistry(settings.registry_url)
    act = compat.register_catalog if args.action == "register" else compat.check_catalog
    try:
        outcomes = act(registry, load_catalog(avro_dir))
    except RegistryUnavailable as exc:
        sys.exit(f"schema registry unreachable at {settings.registry_url}: {exc}")
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    failed = [outcome.subject for outcome in outcomes if not outcome.ok]
    if failed:
        verdict = "refused by the registry" if args.action == "register" else "incompatible"
        sys.exit(f"{len(failed)} of {len(outcomes)} subjects {verdict}: {', '.join(failed)}")


def _rebuild(_: argparse.Namespace) -> None:
    from indexer.rebuild import rebuild

    done = rebuild(config.load())
    print(
        f"rebuilt {done.documents} orders from {done.records} records into {done.index}; "
        f"alias moved from {', '.join(done.previous) or 'nothing'} (kept; delete when unneeded)"
    )
    print(
        f"rebuilt {done.customers} customers into {done.customers_index}; alias moved from "
        f"{', '.join(done.customers_previous) or 'nothing'} (kept; delete when unneeded)"
    )


def _api_key(args: argparse.Namespace) -> None:
    from api import keys

    scopes = args.scopes.split(",") if args.scopes else list(keys.SCOPES)
    unknown = sorted(set(scopes) - set(keys.SCOPES))
    if unknown:
        raise SystemExit(f"unknown scopes {unknown}; known: {', '.join(keys.SCOPES)}")
    key = keys.new_key()
    print(f"key (give it to the client; it is not stored anywhere): {key}")
    print("line for ORDERFLOW_API_KEYS or ORDERFLOW_API_KEYS_FILE:")
    print(keys.key_line(args.name, key, scopes))


def _load(args: argparse.Namespace) -> None:
    import asyncio

    from ops import load

    settings = config.load()
    api = args.api or f"http://{settings.api_host}:{settings.api_port}"
    result = asyncio.run(
        load.run(api, args.rate, args.duration, load.parse_mix(args.mix), seed=args.seed)
    )
    print(load.summary(result))


def _duration(text: str) -> float:
    """Seconds from "90", "90s", "5m" or "2h"."""
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def _bench(args: argparse.Namespace) -> None:
    from ops import bench

    bench.main(args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="orderflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run the Faust agents of one role")
    worker.add_argument("role", choices=roles.NAMES, help="which agents (orderflow/roles.py)")
    worker.add_argument(
        "--web-port",
        type=int,
        default=None,
        help="for a second worker of the role: its own web port (and state directory)",
    )
    worker.set_defaults(func=_worker)
    sub.add_parser("indexer", help="run the Elasticsearch indexer").set_defaults(func=_indexer)
    sub.add_parser("api", help="run the HTTP API on :8000").set_defaults(func=_api)
    sub.add_parser("init", help="create topics, register schemas, create the index").set_defaults(
        func=_init
    )
    sub.add_parser("seed", help="stock the demo catalogue").set_defaults(func=_seed)
    up = sub.add_parser("up", help="start the stack and every process, seed the demo")
    up.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C")
    up.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        help="Kafka nodes: 1 (default; ORDERFLOW_BROKERS) or a cluster of 3, with three "
        "copies of every topic, two in sync",
    )
    up.set_defaults(func=_up)
    down = sub.add_parser("down", help="stop the processes and the stack")
    down.add_argument("--services-only", action="store_true")
    down.set_defaults(func=_down)
    watch = sub.add_parser("watch", help="print a topic's events decoded, one JSON per line")
    watch.add_argument("topic")
    watch.add_argument("--latest", action="store_true", help="only new events")
    watch.add_argument("--count", type=int, default=None, help="stop after N records")
    watch.add_argument(
        "--idle-timeout", type=float, default=None, help="stop after S seconds without records"
    )
    watch.set_defaults(func=_watch)
    schemas = sub.add_parser(
        "schemas",
        help="register the schemas (BACKWARD), check a change against the registry, or "
        "regenerate docs/events.md",
    )
    schemas.add_argument(
        "action",
        choices=["register", "check", "doc"],
        help="register: every subject, exit 1 if the registry refuses one; check: ask the "
        "registry whether each local schema is compatible, register nothing; doc: write "
        "docs/events.md",
    )
    schemas.add_argument(
        "--schemas-dir",
        type=Path,
        default=None,
        help="a schemas/avro-shaped directory to use instead of the project's",
    )
    schemas.set_defaults(func=_schemas)
    sub.add_parser(
        "rebuild",
        help="rebuild the read model from the Kafka topics into a new index, then move the "
        "`orders` alias to it (no downtime for readers)",
    ).set_defaults(func=_rebuild)
    api_key = sub.add_parser("api-key", help="make an API key and the line that configures it")
    api_key.add_argument("--name", required=True, help="who holds it (shown in 403 answers)")
    api_key.add_argument("--scopes", default="", help="comma-separated (default: every scope)")
    api_key.set_defaults(func=_api_key)
    load = sub.add_parser("load", help="place orders at a target rate against POST /orders")
    load.add_argument("--rate", type=float, default=50.0, help="orders per second")
    load.add_argument("--duration", type=float, default=30.0, help="seconds")
    load.add_argument(
        "--mix",
        default="approve=85,decline=5,error=5,unknown_sku=5",
        help="scenario weights: approve, decline, error (gateway errors, retried), unknown_sku",
    )
    load.add_argument("--seed", type=int, default=None)
    load.add_argument("--api", default=None, help="API base URL (default: the configured one)")
    load.set_defaults(func=_load)
    bench = sub.add_parser(
        "bench", help="measure: broker baseline, highest sustainable rate, latency at half of it"
    )
    bench.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[25.0, 50.0, 100.0, 200.0, 400.0, 700.0, 1000.0],
        help="comma-separated orders/s of the ramp's steps",
    )
    bench.add_argument("--step-s", type=float, default=20.0, help="seconds of load per step")
    bench.add_argument(
        "--settle-s",
        type=float,
        default=15.0,
        help="how long after a step's load (plus the shipping delays) its orders may take to "
        "end for the step to count as sustainable",
    )
    bench.add_argument("--latency-s", type=float, default=30.0, help="seconds of the latency run")
    bench.add_argument("--baseline-records", type=int, default=300_000)
    bench.add_argument(
        "--floor-records",
        type=int,
        default=20_000,
        help="records through the Faust floor (one bare Faust worker), with and without a table",
    )
    bench.add_argument("--no-baseline", action="store_true")
    bench.add_argument(
        "--profile", action="store_true", help="then py-spy every process under the same load"
    )
    bench.add_argument(
        "--history",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="instead: a soak of this long (e.g. 30m) at one steady rate, printing per interval "
        "CPU per order, p50/p99 POST -> CONFIRMED and bytes on disk per store, and the order "
        "worker's restore time from an empty disk (ops/bench/history.py)",
    )
    bench.add_argument(
        "--flash",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="instead: spread and flash-sale runs (half the orders on one SKU) of this long, "
        "twice, printing the inventory's CPU per order of each (ops/bench/flash.py)",
    )
    bench.add_argument(
        "--backlog",
        type=int,
        default=None,
        metavar="ORDERS",
        help="instead: each worker's CPU per record at --rate against the same worker's on a "
        "backlog of this many orders (placed while the workers are stopped), the trickle tax "
        "as a ratio (ops/bench/backlog.py)",
    )
    bench.add_argument("--interval", type=_duration, default=300.0, help="the soak's interval")
    bench.add_argument(
        "--rate", type=float, default=30.0, help="orders/s of a soak, flash or backlog run"
    )
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
