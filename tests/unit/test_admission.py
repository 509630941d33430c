"""Start slots (app.web.admission): how many chat starts use a worker's CPU at once."""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from app.web import admission
from app.web.admission import StartSlots


def test_at_most_the_slot_count_run_at_once_the_rest_queue():
    slots = StartSlots(slots=2)
    go = Event()
    done = []

    def start(i):
        with slots.hold():
            go.wait()  # a blocking call that is not an upstream wait keeps the slot
            done.append(i)

    greenlets = [gevent.spawn(start, i) for i in range(6)]
    gevent.sleep(0.01)
    assert slots.in_use == 2 and slots.queued == 4 and not done
    go.set()
    gevent.joinall(greenlets, timeout=2)
    assert sorted(done) == list(range(6)) and slots.in_use == 0 and slots.queued == 0


def test_a_long_upstream_wait_frees_the_slot_and_a_returning_start_goes_first():
    slots = StartSlots(slots=1)
    upstream, other_busy = Event(), Event()
    order = []

    def first():
        with slots.hold():
            slots.wait(upstream)  # longer than HOLD_THROUGH: the slot is handed on
            order.append("first")

    def second():
        with slots.hold():
            order.append("second got the slot")
            other_busy.wait()

    def third():
        with slots.hold():
            order.append("third")

    g1 = gevent.spawn(first)
    gevent.sleep(0.001)
    g2 = gevent.spawn(second)
    gevent.sleep(admission.HOLD_THROUGH + 0.05)
    assert order == ["second got the slot"]
    g3 = gevent.spawn(third)
    gevent.sleep(0.01)
    upstream.set()  # `first` comes back and queues behind the holder, ahead of `third`
    gevent.sleep(0.01)
    assert slots.queued == 2
    other_busy.set()
    gevent.joinall([g1, g2, g3], timeout=2)
    assert order == ["second got the slot", "first", "third"]
    assert slots.in_use == 0


def test_a_quick_upstream_answer_is_waited_for_with_the_slot():
    slots = StartSlots(slots=1)
    upstream = Event()
    order = []

    def first():
        with slots.hold():
            slots.wait(upstream)
            order.append("first")

    def second():
        with slots.hold():
            order.append("second")

    g1 = gevent.spawn(first)
    gevent.sleep(0.001)
    g2 = gevent.spawn(second)
    gevent.spawn_later(admission.HOLD_THROUGH / 5, upstream.set)
    gevent.joinall([g1, g2], timeout=2)
    assert order == ["first", "second"]


def test_waits_and_holds_outside_a_slot_are_plain():
    slots = StartSlots(slots=1)
    ready = Event()
    ready.set()
    assert slots.wait(ready) is True and slots.wait(Event(), timeout=0.01) is False
    with slots.hold():
        with slots.hold():  # re-entrant
            assert slots.in_use == 1
        assert slots.in_use == 1
    assert slots.in_use == 0


def test_a_request_killed_while_queued_leaks_no_slot():
    slots = StartSlots(slots=1)
    go = Event()

    def holder():
        with slots.hold():
            go.wait()

    g1 = gevent.spawn(holder)
    gevent.sleep(0.001)
    g2 = gevent.spawn(holder)
    gevent.sleep(0.001)
    assert slots.queued == 1
    g2.kill()
    assert slots.queued == 0
    go.set()
    g1.join(1)
    with slots.hold():
        assert slots.in_use == 1  # the one slot is free again


def test_released_frees_the_slot_around_another_blocking_call_even_when_it_fails():
    slots = StartSlots(slots=1)
    seen = []

    def first():
        with slots.hold():
            try:
                with slots.released():
                    gevent.sleep(0.02)
                    raise OSError("token provider down")
            except OSError:
                pass
            seen.append(("first holds again", slots.in_use))

    def second():
        with slots.hold():
            seen.append(("second", slots.in_use))

    g1 = gevent.spawn(first)
    gevent.sleep(0.001)
    g2 = gevent.spawn(second)
    gevent.joinall([g1, g2], timeout=2)
    assert seen == [("second", 1), ("first holds again", 1)]
    assert slots.in_use == 0


def test_a_request_that_waited_too_long_goes_on_without_a_slot(caplog):
    slots = StartSlots(slots=1, max_wait=0.05)
    go = Event()
    ran = []

    def holder():
        with slots.hold():
            go.wait()

    def late():
        with slots.hold():
            ran.append(slots.in_use)

    g1 = gevent.spawn(holder)
    gevent.sleep(0.001)
    with caplog.at_level(logging.WARNING, logger="app.web.admission"):
        gevent.spawn(late).join(1)
    assert ran == [1] and "no start slot free" in caplog.text
    go.set()
    g1.join(1)
    assert slots.in_use == 0 and slots.queued == 0
