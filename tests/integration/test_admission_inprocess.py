"""Start slots at the WSGI level (app.web.admission.AdmissionMiddleware), in process: a chat start
with a small body waits for a slot before Flask handles it; everything else is untouched."""

from __future__ import annotations

import io
import json

import gevent
import pytest
from gevent.event import Event

from app.web import admission
from app.web.admission import START_SLOTS

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def slots_taken():
    """Every start slot held by another greenlet until the test sets the event."""
    go = Event()

    def hold():
        with START_SLOTS.hold():
            go.wait()

    holders = [gevent.spawn(hold) for _ in range(START_SLOTS.slots)]
    gevent.sleep(0)
    assert START_SLOTS.in_use == START_SLOTS.slots
    yield go
    go.set()
    gevent.joinall(holders, timeout=5)
    assert START_SLOTS.in_use == 0 and START_SLOTS.queued == 0


def post(client, path, body: bytes, **kw):
    return client.post(path, data=body, content_type="application/json", **kw)


def test_a_chat_start_waits_for_a_slot_before_flask_sees_it(client, fake, slots_taken):
    fake.clear()
    pending = gevent.spawn(post, client, "/v1/chat/completions", json.dumps(CHAT).encode())
    gevent.sleep(0.05)
    assert not pending.ready() and START_SLOTS.queued == 1
    assert fake.requests_log("/rest/app-chat/conversations/new") == []
    slots_taken.set()
    resp = pending.get(timeout=10)
    assert resp.status_code == 200 and resp.get_json()["choices"][0]["message"]["content"]


def test_an_invalid_chat_body_waits_its_turn_too_then_gets_its_422(client, slots_taken):
    pending = gevent.spawn(post, client, "/v1/chat/completions", b'{"model": "auto"}')
    gevent.sleep(0.05)
    assert not pending.ready()
    slots_taken.set()
    resp = pending.get(timeout=10)
    assert resp.status_code in (400, 422) and resp.content_type.startswith("application/problem+json")


def test_a_large_body_is_not_read_ahead_and_waits_in_the_view_only(client, slots_taken, monkeypatch):
    monkeypatch.setattr(admission, "PREREAD_LIMIT", 10)
    # Validation runs before the view, so with no slot free it answers at once.
    resp = post(client, "/v1/chat/completions", b'{"model": "auto"}')
    assert resp.status_code in (400, 422)


def test_other_routes_never_wait_for_a_slot(client, slots_taken):
    assert client.get("/health").status_code == 200
    assert client.get("/v1/models").status_code == 200
    assert client.post("/v1/no-such-route", json={}).status_code == 404
    assert client.get("/v1/chat/completions").status_code == 200  # the GET help page


def test_the_body_read_ahead_reaches_the_view_whole(client, fake):
    text = "x" * 200_000
    resp = post(
        client,
        "/v1/chat/completions",
        json.dumps({"model": "auto", "messages": [{"role": "user", "content": text}]}).encode(),
    )
    assert resp.status_code == 200
    sent = fake.requests_log("/rest/app-chat/conversations/new")[-1]["body"]["message"]
    assert text in sent


def test_an_open_stream_no_longer_holds_the_request_body_read_ahead(client, fake, monkeypatch):
    app = client.application
    environs = []
    outer = app.wsgi_app

    def recording(environ, start_response):
        environs.append(environ)  # the dict every middleware and the view see (and change)
        return outer(environ, start_response)

    monkeypatch.setattr(app, "wsgi_app", recording)
    text = "y" * 100_000
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": text + " #scenario:slow?n=5"}]}
    resp = client.post("/v1/chat/completions", json=body, buffered=False)
    try:
        assert resp.status_code == 200
        assert b"data: " in next(iter(resp.response))  # the answer is under way
        held = environs[0]["wsgi.input"]  # kept by the open stream until its end
        assert isinstance(held, io.BytesIO) and held.getvalue() == b""
    finally:
        resp.close()
    assert text in fake.requests_log("/rest/app-chat/conversations/new")[-1]["body"]["message"]


def test_a_caller_interrupted_mid_start_unwinds_the_start_and_frees_its_slot(client, monkeypatch):
    from app.openai import chat_completions

    started, unwound = Event(), []

    def stuck(*args, **kwargs):
        started.set()
        try:
            gevent.sleep(30)  # grok.com never answers
        finally:
            unwound.append(True)

    monkeypatch.setattr(chat_completions, "model_answer", stuck)
    caller = gevent.spawn(post, client, "/v1/chat/completions", json.dumps(CHAT).encode())
    assert started.wait(5) and START_SLOTS.in_use == 1
    caller.kill(timeout=5)  # a worker timeout or shutdown ends the request's greenlet
    assert caller.dead and unwound == [True]
    assert START_SLOTS.in_use == 0 and START_SLOTS.queued == 0
