"""`orderflow worker ROLE`: one Faust worker process running one role's agents."""

from __future__ import annotations

import dataclasses
import gc
import importlib
import os
import sys

from orderflow import config, metrics, roles
from orderflow.logs import setup_logging


def main(role: str) -> None:
    if role not in roles.BY_NAME:
        raise SystemExit(f"unknown role {role!r}; one of {', '.join(roles.NAMES)}")
    settings = dataclasses.replace(config.load(), role=role)
    if roles.BY_NAME[role].background:
        os.nice(settings.background_nice)
    setup_logging()
    from streams.app import build

    (settings.state_dir / "workers").mkdir(parents=True, exist_ok=True)
    worker = build(settings)
    importlib.import_module(f"streams.agents.{role}").install(worker)
    metrics.register_lag(worker.consumer_lag)
    worker.declare_own_topics()
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    # What is loaded by now (modules, schemas, the app) lives as long as the process: kept out
    # of the collector's sight, a full collection no longer walks it (full collections took
    # 70-190 ms each around a worker's start, stalling its event loop that long).
    gc.freeze()
    worker.app.main()
