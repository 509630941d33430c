"""The chat-lane switch in the shared-state store: one switch across workers and hosts."""

from __future__ import annotations

import pytest

from app.grok import drift
from app.grok import errors as gerr
from app.grok.lanes import AUTO, REST, WS, active_lane, describe
from app.ops import lane_switch
from app.ops.lane_switch import StoreLaneSwitch
from app.state import open_store
from app.state.local import LocalStore


@pytest.fixture(params=["local", "redis"])
def stores(request, tmp_path):
    """Two stores as two workers (one run directory) or two hosts (one Redis) would open them."""
    if request.param == "local":
        yield LocalStore(tmp_path), LocalStore(tmp_path)
        return
    server = request.getfixturevalue("redis_session")
    prefix = request.getfixturevalue("redis_prefix")
    pair = open_store(server.url, tmp_path / "a", prefix), open_store(server.url, tmp_path / "b", prefix)
    yield pair
    for store in pair:
        store.close()


def test_the_first_switch_wins_and_everyone_sees_it(stores, monkeypatch):
    monkeypatch.setattr(lane_switch, "REFRESH_SECONDS", 0.0)
    one, two = StoreLaneSwitch(stores[0]), StoreLaneSwitch(stores[1])
    assert one.current() is None and active_lane(AUTO, two) == REST
    assert one.switch(WS, "HTTP 404: gone") is True
    assert two.switch(WS, "HTTP 404: gone too") is False
    seen = two.current()
    assert seen["lane"] == WS and seen["reason"] == "HTTP 404: gone"
    assert active_lane(AUTO, two) == WS and active_lane(REST, two) == REST
    described = describe(AUTO, two)
    assert described == {"setting": AUTO, "active": WS, "switched_at": seen["at"], "switch_reason": "HTTP 404: gone"}
    assert describe(WS, one)["switch_reason"] is None  # a pinned lane is not a switch


def test_reads_are_cached_for_a_second(tmp_path):
    store = LocalStore(tmp_path)
    reader, writer = StoreLaneSwitch(store), StoreLaneSwitch(LocalStore(tmp_path))
    assert reader.current() is None
    writer.switch(WS, "x")
    assert reader.current() is None  # read less than a second ago
    reader._read_at -= lane_switch.REFRESH_SECONDS
    assert reader.current()["lane"] == WS


class Broken:
    def get(self, space, key):
        raise ConnectionError("store down")

    def put_new(self, space, key, value, ttl=None):
        raise ConnectionError("store down")


def test_a_store_outage_never_fails_a_chat():
    switch = StoreLaneSwitch(Broken())
    assert switch.current() is None
    assert switch.switch(WS, "HTTP 410") is True  # this worker switches alone meanwhile
    assert switch.current()["lane"] == WS


NEW = "/rest/app-chat/conversations/new"
MORE = "/rest/app-chat/conversations/c1/responses"


@pytest.mark.parametrize(
    "status,body,path,retired",
    [
        (404, '{"code":5,"message":"Not found","details":[]}', NEW, True),
        (404, "<html><h1>404</h1>This page could not be found.</html>", NEW, True),
        (404, '{"code":5,"message":"Not found","details":[]}', MORE, True),
        (410, '{"code":5,"message":"Gone"}', MORE, True),
        (400, '{"code":3,"message":"Invalid request. Please update your client."}', NEW, True),
        (404, '{"code":5,"message":"Conversation not found","details":[]}', NEW, False),
        (404, '{"code":5,"message":"Conversation not found","details":[]}', MORE, False),
        (404, '{"code":5,"message":"Parent response not found"}', MORE, False),
        (403, '{"error":{"code":7,"message":"Request rejected by anti-bot rules."}}', NEW, False),
        (429, '{"error":{"code":8,"message":"Too many requests"}}', NEW, False),
        (500, '{"code":13,"message":"Internal error"}', NEW, False),
    ],
)
def test_what_counts_as_a_retired_rest_chat(status, body, path, retired):
    assert drift.rest_lane_retired(gerr.error_for_status(status, body), path) is retired
