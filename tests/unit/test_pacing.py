"""The pacer: long passes give the hub a turn by time, short ones never, and a turn lets the
hub poll the sockets."""

from __future__ import annotations

import gevent
import gevent.socket

from app.engine import pacing
from app.engine.pacing import Pacer
from tests.support.hub import turns_given_away


def test_a_pass_shorter_than_a_turn_never_yields(monkeypatch):
    monkeypatch.setattr(pacing, "TURN_SECS", 3600)

    def short_pass():
        pacer = Pacer()
        for _ in range(10_000):
            pacer.tick()

    assert turns_given_away(short_pass) == 0


def test_a_pass_gives_a_turn_once_its_time_is_up(monkeypatch):
    monkeypatch.setattr(pacing, "TURN_SECS", 0)
    assert turns_given_away(lambda: list(Pacer().paced(range(5)))) >= 5


def test_each_pass_keeps_its_own_clock(monkeypatch):
    monkeypatch.setattr(pacing, "TURN_SECS", 3600)
    stale = Pacer()
    monkeypatch.setattr(pacing, "TURN_SECS", 0)
    fresh = Pacer()
    assert turns_given_away(fresh.tick) >= 1
    assert turns_given_away(stale.tick) == 0  # its turn is due in an hour


def test_a_waiting_socket_is_served_within_a_turn_of_busy_passes(monkeypatch):
    """Three passes that keep taking turns must not keep a ready socket waiting: with
    gevent.sleep(0) the hub ran 50 queued turns before it polled the sockets again."""
    monkeypatch.setattr(pacing, "TURN_SECS", 0)
    turns = []

    def busy():
        pacer = Pacer()
        for _ in range(100):
            turns.append(1)
            pacer.tick()

    left, right = gevent.socket.socketpair()
    try:
        served_after = []

        def reader():
            left.recv(1)
            served_after.append(len(turns))

        waiting = gevent.spawn(reader)
        gevent.sleep(0)  # the reader waits on its socket
        right.send(b"x")
        gevent.joinall([gevent.spawn(busy) for _ in range(3)] + [waiting])
        assert served_after and served_after[0] <= 9, served_after  # each pass took two or three turns, not a dozen
    finally:
        left.close()
        right.close()
