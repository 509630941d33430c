"""The anthropic SDK for integration tests, with every answer checked against the SDK's own types.

`Recorder` sits under the SDK as its HTTP transport (tests/support/oai.py's, which hands
every exchange to the recorder given): each Message body is validated as `anthropic.types.Message`, each error as
Anthropic's error shape, and each stream as Anthropic's event sequence — `event:` lines
naming every event, `message_start` first, every block started before its deltas and
stopped after them, indexes in order, `message_delta` then `message_stop` last (or an
`error` event) — with each event validated as `RawMessageStreamEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import anthropic
import httpx2
import pydantic
import pytest

from tests.fuzz.checks import ANTHROPIC_ERROR_TYPES as ERROR_TYPES
from tests.support.oai import Exchange, RecordingTransport, sse_events


@lru_cache(maxsize=1)
def _event_adapter() -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)


def _type_errors(kind, value) -> list[str]:
    try:
        if kind == "message":
            anthropic.types.Message.model_validate(value)
        else:
            _event_adapter().validate_python(value)
    except pydantic.ValidationError as exc:
        return [str(exc).splitlines()[0]]
    return []


def error_problems(body: dict) -> list[str]:
    error = body.get("error") if isinstance(body, dict) else None
    if body.get("type") != "error" or not isinstance(error, dict):
        return [f"not an Anthropic error body: {body}"]
    if error.get("type") not in ERROR_TYPES or not isinstance(error.get("message"), str):
        return [f"bad error object: {error}"]
    return []


def check_messages_stream(pairs: list[tuple[str | None, dict]], complete: bool = True) -> list[str]:
    problems: list[str] = []
    open_blocks: set[int] = set()
    next_index = 0
    ended = False
    for position, (name, event) in enumerate(pairs):
        kind = event.get("type")
        if name != kind:
            problems.append(f"event {position}: `event: {name}` line for a {kind} event")
        if ended:
            problems.append(f"event {position}: {kind} after the end")
        if kind == "error":
            problems += error_problems(event)
            ended = True
            continue
        if kind == "ping":  # allowed anywhere; the SDK's union of event types leaves it out
            if position == 0:
                problems.append("the stream does not start with message_start")
            continue
        problems += [f"event {position} ({kind}): {e}" for e in _type_errors("event", event)]
        if position == 0 and kind != "message_start":
            problems.append("the stream does not start with message_start")
        index = event.get("index")
        if kind == "content_block_start":
            if index != next_index:
                problems.append(f"event {position}: block {index} started, expected {next_index}")
            open_blocks.add(index)
            next_index += 1
        elif kind in ("content_block_delta", "content_block_stop") and index not in open_blocks:
            problems.append(f"event {position}: {kind} for block {index}, which is not open")
        if kind == "content_block_stop":
            open_blocks.discard(index)
        if kind == "message_delta" and open_blocks:
            problems.append(f"message_delta with blocks still open: {sorted(open_blocks)}")
        if kind == "message_stop":
            ended = True
    if complete and not ended:
        problems.append("the stream ended without message_stop or an error event")
    return problems


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        if exchange.headers.get("content-type", "").startswith("text/event-stream"):
            pairs = sse_events(exchange.body)
            self.violations += [f"{where}: {p}" for p in check_messages_stream(pairs, exchange.complete)]
            return
        body = exchange.json
        if exchange.status >= 400:
            self.violations += [f"{where}: {p}" for p in error_problems(body)]
        elif exchange.path == "/v1/messages":
            self.violations += [f"{where}: {p}" for p in _type_errors("message", body)]


def client(base_url: str, recorder: Recorder, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 30)
    http = httpx2.Client(transport=RecordingTransport(recorder))  # records into our Recorder
    return anthropic.Anthropic(base_url=base_url, auth_token="test-key", http_client=http, **kwargs)


@pytest.fixture
def claude_recorder():
    rec = Recorder()
    yield rec
    assert not rec.violations, "answers that break Anthropic's shapes:\n" + "\n".join(rec.violations)


@pytest.fixture
def claude(server, claude_recorder) -> anthropic.Anthropic:
    with client(server.url, claude_recorder) as sdk:
        yield sdk
