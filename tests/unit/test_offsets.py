"""The commit guard of streams/offsets.py, on Faust's own bookkeeping structures."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from intervaltree import IntervalTree

from streams import offsets
from streams.offsets import _original_new_offset

TP0 = TP("payments.events.v1", 4)


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    offsets._last_known.clear()


def _consumer(committed: int | None, acked: list[int], gap: tuple[int, int] | None = None) -> Any:
    gaps: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
    if gap:
        gaps[TP0].addi(*gap)
    return SimpleNamespace(
        _acked=defaultdict(list, {TP0: list(acked)}),
        _acked_index=defaultdict(set, {TP0: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {TP0: committed}),
        _gap=gaps,
    )


def test_faust_alone_commits_past_a_record_that_was_never_processed():
    # committed 298 means "read 298 next"; 299 and 300 were processed, 298 never was
    assert _original_new_offset(_consumer(298, [299, 300]), TP0) == 301


def test_the_guard_waits_for_the_missing_record():
    assert offsets._new_offset(_consumer(298, [299, 300]), TP0) is None
    assert offsets._new_offset(_consumer(298, [298, 299, 300]), TP0) == 301


def test_a_known_gap_at_the_head_is_not_a_missing_record():
    assert offsets._new_offset(_consumer(298, [299, 300], gap=(298, 299)), TP0) == 301


def test_nothing_committed_yet_is_left_to_faust():
    assert offsets._new_offset(_consumer(None, [5, 6]), TP0) == 7


def test_the_last_record_fetched_is_missing_when_it_exists_and_was_never_acked():
    consumer = _consumer(298, [])
    consumer.highwater = lambda tp: 299  # one record, at 298
    assert offsets._tail_is_missing(consumer, TP0)
    consumer.highwater = lambda tp: 298  # nothing at 298 yet: nothing is missing
    assert not offsets._tail_is_missing(consumer, TP0)
    acked = _consumer(298, [298])
    acked.highwater = lambda tp: 299
    assert not offsets._tail_is_missing(acked, TP0)


def test_no_commit_while_faust_forgot_the_committed_offset_after_a_revoke():
    known = _consumer(298, [298, 299])
    assert offsets._new_offset(known, TP0) == 300
    forgotten = _consumer(None, [301, 302])  # revoked: Faust popped its committed offset
    assert offsets._new_offset(forgotten, TP0) is None
    assert offsets._head_is_missing(forgotten, TP0)  # behind the last known offset, 298
