"""`orderflow worker ROLE`: one Faust worker process running one role's agents."""

from __future__ import annotations

import importlib
import os
import sys

from orderflow import config
from streams import roles


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
    app.main()
