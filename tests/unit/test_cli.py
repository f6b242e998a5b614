"""`orderflow up`: a Ctrl-C while it starts leaves nothing running behind the user's back."""

from __future__ import annotations

import argparse

import pytest

from ops import cli, services


def test_an_interrupted_start_stops_what_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def interrupted_up(_settings: object) -> None:
        calls.append("up")
        raise KeyboardInterrupt  # Ctrl-C while waiting for the workers to be ready

    monkeypatch.setattr(services, "up", interrupted_up)
    monkeypatch.setattr(services, "down", lambda: calls.append("down"))
    with pytest.raises(SystemExit) as exited:
        cli._up(argparse.Namespace(foreground=True))
    assert exited.value.code == 130  # as a shell reports an interrupted command
    assert calls == ["up", "down"]
