"""Run.relay: every started stream ends in the adapter's own terms, whatever broke."""

from __future__ import annotations

import json

from app.anthropic.events import MessageWriter
from app.engine.answer import Answer, AnswerOptions
from app.engine.run import Run
from app.grok import events as ev
from app.grok.errors import UpstreamConnectionError
from app.responses.events import ResponseWriter


class Upstream:
    """grok.com's side of a Run: a few answer tokens, then `failure` raised mid-answer."""

    def __init__(self, failure: BaseException):
        self.failure = failure
        self.closed = False

    def events(self, heartbeat=None):
        for token in ("Partial ", "answer "):
            yield ev.Token(token)
        raise self.failure

    def close(self):
        self.closed = True


def relay_responses(failure: BaseException) -> tuple[list[dict], Upstream]:
    upstream = Upstream(failure)
    writer = ResponseWriter("expert", {})
    run = Run(upstream, Answer(AnswerOptions(), writer, None), heartbeat=15)
    writer.start()
    run.start()

    def fail(exc):
        writer.fail("server_error", exc.message)

    body = b"".join(run.relay(writer.take, writer.keepalive, lambda: None, fail))
    events = [json.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: ")]
    return events, upstream


def test_a_bug_mid_answer_still_ends_the_stream_with_response_failed():
    events, upstream = relay_responses(KeyError("a bug"))
    assert any(e["type"] == "response.output_text.delta" for e in events)
    assert events[-1]["type"] == "response.failed"
    assert "broke off" in events[-1]["response"]["error"]["message"] and "a bug" not in json.dumps(events)
    assert upstream.closed


def test_an_upstream_failure_mid_answer_ends_with_response_failed_too():
    events, upstream = relay_responses(UpstreamConnectionError("reset", dropped=True))
    assert events[-1]["type"] == "response.failed" and events[-1]["response"]["error"]["message"] == "reset"
    assert upstream.closed


def test_a_bug_mid_message_ends_with_an_error_event():
    upstream = Upstream(ValueError("a bug"))
    writer = MessageWriter("claude-x")
    run = Run(upstream, Answer(AnswerOptions(), writer, None), heartbeat=15)
    writer.start(10)
    run.start()
    body = b"".join(
        run.relay(writer.take, writer.ping, lambda: None, lambda exc: writer.fail("api_error", exc.message))
    )
    assert body.rstrip().split(b"\n\n")[-1].startswith(b"event: error\n")
    assert upstream.closed
