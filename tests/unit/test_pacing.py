"""The pacer: long passes give the hub a turn by time, short ones never."""

from __future__ import annotations

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
    assert turns_given_away(lambda: list(Pacer().paced(range(5)))) == 5


def test_each_pass_keeps_its_own_clock(monkeypatch):
    monkeypatch.setattr(pacing, "TURN_SECS", 3600)
    stale = Pacer()
    monkeypatch.setattr(pacing, "TURN_SECS", 0)
    fresh = Pacer()
    assert turns_given_away(fresh.tick) == 1
    assert turns_given_away(stale.tick) == 0  # its turn is due in an hour
