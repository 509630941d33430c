"""Start slots (app.web.admission): how many chat starts use a worker's CPU at once, and in
which order the others get their turn. The greenlets are driven by events, so the order
they see never depends on how fast the machine is."""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from app.web.admission import StartSlots


def settle():
    """Let every runnable greenlet (and every timer already due) run until it blocks."""
    for _ in range(3):
        gevent.sleep(0.001)


def test_at_most_the_slot_count_run_at_once_the_rest_queue():
    slots = StartSlots(slots=2)
    go = Event()
    done = []

    def start(i):
        with slots.hold():
            go.wait()  # a blocking call that is not an upstream wait keeps the slot
            done.append(i)

    greenlets = [gevent.spawn(start, i) for i in range(6)]
    settle()
    assert slots.in_use == 2 and slots.queued == 4 and not done
    go.set()
    gevent.joinall(greenlets, timeout=2)
    assert sorted(done) == list(range(6)) and slots.in_use == 0 and slots.queued == 0


def test_waiting_starts_are_admitted_in_arrival_order():
    slots = StartSlots(slots=1)
    go = Event()
    order = []

    def start(name):
        with slots.hold():
            if name == "holder":
                go.wait()
            order.append(name)

    greenlets = [gevent.spawn(start, "holder")]
    settle()
    for name in ("a", "b", "c", "d"):
        greenlets.append(gevent.spawn(start, name))
        settle()
    go.set()
    gevent.joinall(greenlets, timeout=2)
    assert order == ["holder", "a", "b", "c", "d"]


def test_a_start_back_from_grok_com_joins_the_end_of_the_line():
    # hold_through=0: every upstream wait hands the slot on at once.
    slots = StartSlots(slots=1, hold_through=0)
    upstream, second_busy = Event(), Event()
    order = []

    def first():
        with slots.hold():
            slots.wait(upstream)
            order.append("first")

    def second():
        with slots.hold():
            order.append("second got the slot")
            second_busy.wait()

    def third():
        with slots.hold():
            order.append("third")

    g1 = gevent.spawn(first)
    settle()
    g2 = gevent.spawn(second)
    settle()
    assert order == ["second got the slot"]  # first's upstream wait freed the slot
    g3 = gevent.spawn(third)
    settle()
    upstream.set()  # first comes back while third is already waiting: it queues behind third
    settle()
    assert slots.queued == 2
    second_busy.set()
    gevent.joinall([g1, g2, g3], timeout=2)
    assert order == ["second got the slot", "third", "first"]
    assert slots.in_use == 0


def test_a_slot_given_back_goes_to_the_oldest_waiting_start_not_to_a_newcomer():
    slots = StartSlots(slots=1)
    go = Event()
    order = []

    def holder():
        with slots.hold():
            go.wait()
            order.append("holder")
        # The slot is handed over as it is given back: a request arriving right now, before
        # the waiting one has run again, finds no free slot and queues behind it.
        order.append(("free slots for a newcomer", slots.free))
        gevent.spawn(start, "newcomer")

    def start(name):
        with slots.hold():
            order.append(name)

    g1 = gevent.spawn(holder)
    settle()
    g2 = gevent.spawn(start, "waiting")
    settle()
    go.set()
    gevent.joinall([g1, g2], timeout=2)
    settle()
    assert order == ["holder", ("free slots for a newcomer", 0), "waiting", "newcomer"]


def test_a_quick_upstream_answer_is_waited_for_with_the_slot():
    slots = StartSlots(slots=1, hold_through=30)
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
    settle()
    g2 = gevent.spawn(second)
    settle()
    assert slots.queued == 1  # first still holds its slot while grok.com answers
    upstream.set()
    gevent.joinall([g1, g2], timeout=2)
    assert order == ["first", "second"]


def test_with_starts_in_line_an_upstream_wait_hands_the_slot_on_at_once():
    slots = StartSlots(slots=1, hold_through=30)
    go, upstream = Event(), Event()
    order = []

    def first():
        with slots.hold():
            go.wait()  # meanwhile second queues
            slots.wait(upstream)
            order.append("first")

    def second():
        with slots.hold():
            order.append("second")

    g1 = gevent.spawn(first)
    settle()
    g2 = gevent.spawn(second)
    settle()
    go.set()
    settle()
    assert order == ["second"]  # first's wait gave the slot to the start in line, not after 30 s
    upstream.set()
    gevent.joinall([g1, g2], timeout=2)
    assert order == ["second", "first"]


def test_a_start_waiting_for_another_starts_work_frees_its_slot_so_that_work_can_finish():
    # As a request waits for a derivation another request runs (app/grok/statsig/chain.py).
    slots = StartSlots(slots=1, hold_through=0, max_wait=5)
    upstream, derived = Event(), Event()
    order = []

    def deriver():
        with slots.hold():
            slots.wait(upstream)  # hands the slot to the waiter in line
            order.append("derived")
            derived.set()

    def waiter():
        with slots.hold():
            with slots.released():
                derived.wait()
            order.append("waiter goes on")

    g1 = gevent.spawn(deriver)
    settle()
    g2 = gevent.spawn(waiter)
    settle()
    upstream.set()
    gevent.joinall([g1, g2], timeout=2)
    assert order == ["derived", "waiter goes on"]  # without released(): stuck until max_wait


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
    settle()
    g2 = gevent.spawn(holder)
    settle()
    assert slots.queued == 1
    g2.kill()
    assert slots.queued == 0
    go.set()
    g1.join(1)
    with slots.hold():
        assert slots.in_use == 1  # the one slot is free again


def test_released_frees_the_slot_around_another_blocking_call_even_when_it_fails():
    slots = StartSlots(slots=1)
    provider = Event()
    seen = []

    def first():
        with slots.hold():
            try:
                with slots.released():
                    provider.wait()
                    raise OSError("token provider down")
            except OSError:
                pass
            seen.append(("first holds again", slots.in_use))

    def second():
        with slots.hold():
            seen.append(("second", slots.in_use))

    g1 = gevent.spawn(first)
    settle()
    g2 = gevent.spawn(second)
    settle()
    assert seen == [("second", 1)]  # the slot was free while first waited for its provider
    provider.set()
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
    settle()
    with caplog.at_level(logging.WARNING, logger="app.web.admission"):
        gevent.spawn(late).join(1)
    assert ran == [1] and "no start slot free" in caplog.text
    go.set()
    g1.join(1)
    assert slots.in_use == 0 and slots.queued == 0
