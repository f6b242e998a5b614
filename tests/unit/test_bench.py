"""Pure parts of the load generator and the benchmark (the run itself needs the stack)."""

from __future__ import annotations

import math
import random

import pytest

from api.models import PlaceOrderRequest
from ops import bench, faust_floor, load
from ops.bench import backlog, kafka_counts, procfs, profiling, run
from ops.bench.report import WorkerCost, costs_of, print_report
from orderflow import config


def test_the_mix_is_normalised_and_unknown_scenarios_are_refused():
    assert load.parse_mix("approve=3,decline=1") == {"approve": 0.75, "decline": 0.25}
    with pytest.raises(ValueError, match="unknown scenario"):
        load.parse_mix("approve=1,teleport=1")
    with pytest.raises(ValueError):
        load.parse_mix("approve=0")


@pytest.mark.parametrize("scenario", list(load.MIX))
def test_every_generated_order_is_a_valid_request(scenario):
    rng = random.Random(7)
    for _ in range(50):
        body = load.order_body(rng, scenario, "bench-1-s0-42")
        request = PlaceOrderRequest.model_validate(body)  # the API's own validation
        skus = [item.sku for item in request.items]
        assert len(skus) == len(set(skus))
        unknown = [sku for sku in skus if sku not in load.SKUS]
        assert (len(unknown) == 1) == (scenario == "unknown_sku")


def test_a_flash_sale_puts_its_share_of_orders_on_the_hot_sku_and_spread_orders_none():
    rng = random.Random(7)
    hot = [load.HOT_SKU in str(load.order_body(rng, "approve", "c", 0.5)) for _ in range(2000)]
    assert 900 < sum(hot) < 1100
    spread = [load.order_body(rng, "approve", "c") for _ in range(500)]
    assert not any(load.HOT_SKU in str(body) for body in spread)
    for body in (load.order_body(rng, "approve", "c", 1.0) for _ in range(50)):
        skus = [item.sku for item in PlaceOrderRequest.model_validate(body).items]
        assert skus[0] == load.HOT_SKU and len(skus) == len(set(skus))


def test_percentiles_by_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 99) == 99.0
    assert load.percentile([3.0], 99) == 3.0
    assert math.isnan(load.percentile([], 50))


def test_end_to_end_rate_leaves_out_the_fixed_delay_before_the_first_order_ends():
    # 1000 orders ending at 100/s from t=5 (after a fixed 5 s delay) -> 100/s, not 1000/15
    samples = [(float(t), max(0, min(1000, (t - 5) * 100))) for t in range(0, 20)]
    assert run._e2e_rate(samples, 1000) == pytest.approx(100, rel=0.15)


def test_end_to_end_rate_of_an_unfinished_step_is_its_slope_so_far():
    samples = [(float(t), 50 * t) for t in range(0, 5)]  # 200 of 1000 done at 50/s
    assert run._e2e_rate(samples, 1000) == pytest.approx(50, rel=0.15)


def test_cpu_time_per_order_is_the_share_of_a_core_over_the_rate():
    assert procfs.cpu_ms_per_order(35.0, 25.0) == 14.0  # 350 ms each second, 25 orders
    assert procfs.cpu_ms_per_order(10.0, 0.0) == 0.0


def test_partition_ends_wait_for_a_just_created_topic_to_have_a_leader(monkeypatch):
    import confluent_kafka

    answers = [confluent_kafka.KafkaException(confluent_kafka.KafkaError(6)), (0, 42)]

    class Consumer:
        def __init__(self, _conf: dict) -> None:
            pass

        def get_watermark_offsets(self, _tp, timeout: float):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        def close(self) -> None:
            pass

    monkeypatch.setattr(confluent_kafka, "Consumer", Consumer)
    monkeypatch.setattr(kafka_counts.time, "sleep", lambda _s: None)
    partition = confluent_kafka.TopicPartition("t", 0)
    assert kafka_counts._ends(config.load(), [partition]) == {("t", 0): 42}
    assert answers == []  # asked again after NOT_LEADER_FOR_PARTITION


def _latency(records: int, handled: int, **by: dict[str, int]) -> run.Latency:
    """A latency run of 100 orders at 20/s with these Kafka counts (percentiles don't matter)."""
    some = run._percentiles([1.0])
    return run.Latency(
        rate=20,
        orders=100,
        post_ms=some,
        confirmed_ms=some,
        visible_ms=some,
        processes={},
        records=records,
        handled=handled,
        **by,
    )


def _report_lines(report: run.Report) -> list[str]:
    lines: list[str] = []
    print_report(report, lines.append)
    return lines


def test_the_report_bounds_orders_per_second_by_the_faust_floor():
    """Records handled per order times the floor's CPU per record: the framework's share of
    an order; two cores' 2000 ms a second over it: the ceiling the report states."""
    floor = faust_floor.Floor("r1", table=True, records=20_000, seconds=10.0, cpu_seconds=10.0)
    latency = _latency(records=5_000, handled=2_500)
    report = run.Report(machine={}, baseline=None, floors=[floor], latency=latency)
    text = "\n".join(_report_lines(report))
    assert "forward + table write 2,000 records/s, 0.50 ms CPU per record" in text
    # 25 records per order x 0.5 ms = 12.5 ms; 2000 / 12.5 = 160 orders/s
    assert "handled per order: 25.0" in text and "12.5 ms of CPU per order" in text
    assert "at most 160 orders/s" in text


def test_the_report_has_a_hop_table_per_worker_group_and_topic():
    latency = _latency(
        records=700,
        handled=500,
        written_by_topic={"orders.events.v1": 300, "orderflow-order-orders-changelog": 400},
        handled_by_group={"orderflow-order": 450, "orderflow-analytics": 50},
    )
    lines = _report_lines(run.Report(machine={}, baseline=None, latency=latency))
    assert "| handled by orderflow-order | 4.50 |" in lines
    assert "| handled by orderflow-analytics | 0.50 |" in lines
    assert "| written to orderflow-order-orders-changelog | 4.00 |" in lines


def test_the_report_gives_each_workers_records_a_second_and_cpu_per_record():
    latency = _latency(records=700, handled=500, handled_by_group={"orderflow-order": 450})
    # 100 orders at 20/s: 5 s; 30 % of a core over 5 s is 1,500 ms for 450 records
    latency.processes = {
        "worker-order": procfs.ProcessUse(cpu_percent=30.0, rss_peak_mb=100),
        "worker-payment": procfs.ProcessUse(cpu_percent=1.0, rss_peak_mb=90),  # handled none
        "kafka": procfs.ProcessUse(cpu_percent=20.0, rss_peak_mb=900),
    }
    lines = _report_lines(run.Report(machine={}, baseline=None, latency=latency))
    table = lines[lines.index("| worker | records handled/s | CPU ms per record |") :]
    assert table[2:] == ["| order | 90 | 3.33 |"]  # payment handled none; kafka is no worker


def test_the_trickle_tax_is_a_workers_cpu_per_record_on_a_trickle_over_on_a_backlog():
    trickle = [WorkerCost("order", 90, 3.0), WorkerCost("payment", 20, 2.0)]
    # drained: 40 % of a core over 10 s is 4,000 ms for 8,000 records
    drained = costs_of(
        {
            "worker-order": procfs.ProcessUse(cpu_percent=40.0, rss_peak_mb=100),
            "kafka": procfs.ProcessUse(cpu_percent=90.0, rss_peak_mb=900),
        },
        {"orderflow-order": 8_000, "orderflow-payment": 50},
        seconds=10.0,
        app_id="orderflow",
    )
    assert drained == [WorkerCost("order", 800, 0.5)]  # payment's process was not sampled
    [tax] = backlog.taxes(trickle, drained)
    assert tax.ratio == 6.0 and tax.line() == "| order | 90 | 3.00 | 800 | 0.50 | 6.0 |"


def test_a_profile_counts_ops_as_our_code_but_not_the_entry_point():
    raw = "main (ops/cli.py:10);supervise (ops/services.py:5);poll (aiokafka/consumer.py:3) 4\n"
    summary = profiling.summarise_profile(raw)
    assert summary["samples"] == 4
    assert summary["by_package"] == {"aiokafka": 100.0}
    assert summary["our_code"] == {"supervise services.py:5": 100.0}


def test_growth_keeps_what_grew():
    assert kafka_counts._growth({"a": 5, "b": 2, "c": 1}, {"a": 3, "b": 2}) == {"a": 2, "c": 1}


def test_the_paced_floor_is_reported_and_bounds_orders_too():
    backlog = faust_floor.Floor("r1", table=True, records=20_000, seconds=10.0, cpu_seconds=5.0)
    paced = faust_floor.Floor("r2", True, 4_800, 30.0, 4.8, paced=200.0)
    latency = _latency(
        records=5_000,
        handled=1_000,
        handled_by_group={"orderflow-order": 500, "orderflow-payment": 500},
    )
    report = run.Report(machine={}, baseline=None, floors=[backlog, paced], latency=latency)
    text = "\n".join(_report_lines(report))
    assert "paced at 200 records/s" in text and "1.00 ms CPU per record" in text
    # 10 records per order x 1.0 ms (paced) = 10 ms: 200 orders/s; x 0.25 ms = 2.5 ms: 800
    assert "table write, paced) that is 10.0 ms" in text and "at most 200 orders/s" in text
    assert "at most 800 orders/s" in text
    # the saga handled 5 records per order at 20 orders/s: it was fed 100 records/s
    assert bench._saga_feed(config.load(), latency) == 100.0
