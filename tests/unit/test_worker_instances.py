"""The API asks a worker role through any of its instances (api/services.py WorkerInstances):
the one that answered last is asked first, the next while one cannot be reached or answers 503.
The addresses come from ORDERFLOW_<ROLE>_URL, one or several separated by commas."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from api.services import WorkerInstances
from orderflow import config

FIRST, SECOND, THIRD = "http://first:1", "http://second:2", "http://third:3"


def _instances(answers: dict[str, int | None], asked: list[str]) -> WorkerInstances:
    """Instances at FIRST, SECOND, THIRD answering the status in `answers` (None: refused),
    noting each host asked in `asked`."""

    def handle(request: httpx.Request) -> httpx.Response:
        url = f"http://{request.url.host}:{request.url.port}"
        asked.append(request.url.host)
        status = answers[url]
        if status is None:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status, json={"from": request.url.host})

    return WorkerInstances([FIRST, SECOND, THIRD], transport=httpx.MockTransport(handle))


def _get(instances: WorkerInstances) -> httpx.Response:
    return asyncio.run(instances.get("/inventory/SKU-1/"))


def test_the_first_instance_is_asked_alone_while_it_answers():
    asked: list[str] = []
    instances = _instances({FIRST: 200, SECOND: 200, THIRD: 200}, asked)
    assert _get(instances).json() == {"from": "first"}
    assert _get(instances).json() == {"from": "first"}
    assert asked == ["first", "first"]


def test_an_unreachable_instance_is_passed_over_and_the_next_stays_first():
    asked: list[str] = []
    answers: dict[str, int | None] = {FIRST: None, SECOND: 404, THIRD: 200}
    instances = _instances(answers, asked)
    assert _get(instances).status_code == 404  # a 404 is an answer: the SKU was never stocked
    assert _get(instances).status_code == 404
    assert asked == ["first", "second", "second"]


def test_a_503_is_passed_over_and_the_instances_are_asked_round_from_the_last_good_one():
    asked: list[str] = []
    answers: dict[str, int | None] = {FIRST: 503, SECOND: None, THIRD: 200}
    instances = _instances(answers, asked)
    assert _get(instances).json() == {"from": "third"}
    answers[THIRD] = None
    answers[FIRST] = 200
    assert _get(instances).json() == {"from": "first"}
    assert asked == ["first", "second", "third", "third", "first"]


def test_when_no_instance_answers_a_503_comes_back_before_an_error():
    asked: list[str] = []
    answers: dict[str, int | None] = {FIRST: None, SECOND: 503, THIRD: None}
    assert _get(_instances(answers, asked)).status_code == 503
    answers[SECOND] = None
    with pytest.raises(httpx.ConnectError):
        _get(_instances(answers, asked))


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("http://a:1", ("http://a:1",)),
        (" http://a:1 , http://b:2,", ("http://a:1", "http://b:2")),
    ],
)
def test_a_roles_addresses_are_one_or_several_separated_by_commas(configured, expected):
    settings = dataclasses.replace(config.load(), inventory_url=configured)
    assert settings.worker_urls("inventory") == expected
    assert settings.worker_url("inventory") == expected[0]


def test_without_an_address_a_role_is_asked_on_its_port_of_the_worker_host():
    settings = dataclasses.replace(config.load(), inventory_url="", worker_web_host="10.0.0.7")
    assert settings.worker_urls("inventory") == (
        f"http://10.0.0.7:{settings.worker_port('inventory')}",
    )
