"""`orderflow worker ROLE`: one Faust worker process running one role's agents."""

from __future__ import annotations

import gc
import importlib
import os
import sys

from orderflow import config, roles


def main(role: str) -> None:
    if role not in roles.BY_NAME:
        raise SystemExit(f"unknown role {role!r}; one of {', '.join(roles.NAMES)}")
    os.environ["ORDERFLOW_ROLE"] = role
    if roles.BY_NAME[role].background:
        os.nice(config.load().background_nice)
    from streams.app import app, declare_own_topics, settings

    (settings.state_dir / "workers").mkdir(parents=True, exist_ok=True)
    importlib.import_module(f"streams.agents.{role}")
    declare_own_topics()
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    # What is loaded by now (modules, schemas, the app) lives as long as the process: kept out
    # of the collector's sight, a full collection no longer walks it (full collections took
    # 70-190 ms each around a worker's start, stalling its event loop that long).
    gc.freeze()
    app.main()
