"""OpenAI clients for integration tests that validate everything the server sends.

`Recorder` sits under the openai SDK as its HTTP transport and sees the raw bytes of
every response: JSON bodies, SSE events and comments. Each body, chunk and error is
validated against OpenAI's published schemas (tests/data/openai-chat-schemas.json and
openai-responses-schemas.json, subsets of openai/openai-openapi), and the raw exchanges
stay available to the test.

Responses API streams are checked event by event against the schema of the event's type,
for the full order (created first, every item added before its deltas and done after them,
increasing sequence numbers, `event:` lines naming the type, one terminal event last). The
published `ResponseErrorCode` enum lacks `context_length_exceeded` and `insufficient_quota`,
which OpenAI's API sends in `response.failed` and Codex acts on (docs/agents.md: errors); the
test copy of the schema admits them.

The schema file is OpenAPI 3.1 but still uses OpenAPI 3.0's `nullable: true` in places
(e.g. a stream chunk's `finish_reason`); JSON Schema ignores that keyword, so it is
rewritten to `anyOf: [<schema>, {"type": "null"}]` as OpenAPI intends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx2
import openai
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "data" / "openai-chat-schemas.json"
RESPONSES_SCHEMA_FILE = Path(__file__).resolve().parents[1] / "data" / "openai-responses-schemas.json"
BASE_URI = "urn:openai-openapi"
RESPONSES_URI = "urn:openai-openapi-responses"
CODEX_ERROR_CODES = ["context_length_exceeded", "insufficient_quota"]
TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")

RESPONSE = "CreateChatCompletionResponse"
CHUNK = "CreateChatCompletionStreamResponse"
MODEL_LIST = "ListModelsResponse"
MODEL = "Model"
ERROR = "ErrorResponse"


def _openapi_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi_nullable(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@lru_cache(maxsize=1)
def _registry() -> Registry:
    document = _openapi_nullable(json.loads(SCHEMA_FILE.read_text()))
    responses = _openapi_nullable(json.loads(RESPONSES_SCHEMA_FILE.read_text()))
    responses["components"]["schemas"]["ResponseErrorCode"]["enum"] += CODEX_ERROR_CODES
    return Registry().with_resources(
        [
            (BASE_URI, Resource.from_contents(document, default_specification=DRAFT202012)),
            (RESPONSES_URI, Resource.from_contents(responses, default_specification=DRAFT202012)),
        ]
    )


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    base = RESPONSES_URI if name in _responses_schemas() else BASE_URI
    return Draft202012Validator({"$ref": f"{base}#/components/schemas/{name}"}, registry=_registry())


@lru_cache(maxsize=1)
def _responses_schemas() -> dict:
    return json.loads(RESPONSES_SCHEMA_FILE.read_text())["components"]["schemas"]


@lru_cache(maxsize=1)
def responses_event_schemas() -> dict[str, str]:
    """Event type -> the name of its schema (from each event schema's `type` enum)."""
    found = {}
    for ref in _responses_schemas()["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        for kind in _responses_schemas()[name]["properties"]["type"]["enum"]:
            found[kind] = name
    return found


def schema_errors(name: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator(name).iter_errors(instance)
    ]


def check_responses_stream(events: list[tuple[str | None, dict]], complete: bool = True) -> list[str]:
    """Violations of the Responses stream contract in (event line, data) pairs."""
    problems: list[str] = []
    schemas = responses_event_schemas()
    open_items: dict[int, dict] = {}
    done_items: set[int] = set()
    for position, (name, event) in enumerate(events):
        kind = event.get("type")
        if name != kind:
            problems.append(f"event {position}: `event: {name}` line for a {kind} event")
        if event.get("sequence_number") != position:
            problems.append(f"event {position}: sequence_number {event.get('sequence_number')}")
        schema = schemas.get(kind)
        if schema is None:
            problems.append(f"event {position}: unknown type {kind}")
        else:
            problems += [f"event {position} ({kind}): {e}" for e in schema_errors(schema, event)]
        if position == 0 and kind != "response.created":
            problems.append("the stream does not start with response.created")
        index = event.get("output_index")
        if kind == "response.output_item.added":
            if index in open_items or index in done_items or index != len(open_items) + len(done_items):
                problems.append(f"event {position}: output item {index} added out of order")
            open_items[index] = event["item"]
        elif kind == "response.output_item.done":
            if index not in open_items:
                problems.append(f"event {position}: output item {index} done before it was added")
            open_items.pop(index, None)
            done_items.add(index)
        elif index is not None and index not in open_items:
            problems.append(f"event {position}: {kind} for output item {index}, which is not open")
        if kind in TERMINAL_EVENTS:
            if position != len(events) - 1:
                problems.append(f"event {position}: {kind} is not the last event")
            if open_items:
                problems.append(f"{kind} with items still open: {sorted(open_items)}")
            output = event["response"]["output"]
            if len(output) != len(done_items):
                problems.append(f"{kind} carries {len(output)} items, {len(done_items)} were done")
    if complete and (not events or events[-1][1].get("type") not in TERMINAL_EVENTS):
        problems.append("the stream ended without response.completed, .incomplete or .failed")
    return problems


@dataclass
class Exchange:
    """One request and the raw response the server sent."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    sse: list[tuple[str, str]] = field(default_factory=list)  # ("data"|"comment", text)
    complete: bool = False

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def data(self) -> list[str]:
        return [text for kind, text in self.sse if kind == "data"]

    @property
    def chunks(self) -> list[dict]:
        return [json.loads(d) for d in self.data if d != "[DONE]" and "error" not in json.loads(d)]

    @property
    def comments(self) -> list[str]:
        return [text for kind, text in self.sse if kind == "comment"]


def parse_sse(body: bytes) -> list[tuple[str, str]]:
    events = []
    for block in body.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append(("comment", line[1:].strip()))
            elif line.startswith("data:"):
                events.append(("data", line[5:].strip()))
            elif line:
                events.append(("other", line))
    return events


def sse_events(body: bytes) -> list[tuple[str | None, dict]]:
    """(event line, JSON data) of each event of a stream with `event:` lines (comments skipped)."""
    events = []
    for block in body.decode().split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


class Recorder:
    """Collects exchanges and every schema violation found in them."""

    def __init__(self):
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []
        self.validated: dict[str, int] = {}

    def check(self, name: str, instance: Any, where: str) -> None:
        self.validated[name] = self.validated.get(name, 0) + 1
        for error in schema_errors(name, instance):
            self.violations.append(f"{where}: {name}: {error}")

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        ctype = exchange.headers.get("content-type", "")
        if ctype.startswith("text/event-stream"):
            exchange.sse = parse_sse(exchange.body)
            self._check_stream(exchange, where)
            return
        if not exchange.body or not exchange.path.startswith("/v1/"):
            return
        try:
            body = exchange.json
        except ValueError:
            self.violations.append(f"{where}: body is not JSON: {exchange.body[:200]!r}")
            return
        if exchange.status >= 400:
            self.check(ERROR, body, where)
        elif exchange.path == "/v1/responses" and exchange.method == "POST":
            self.check("Response", body, where)
        elif exchange.path == "/v1/models":
            self.check(MODEL_LIST, body, where)
        elif exchange.path.startswith("/v1/models/"):
            self.check(MODEL, body, where)
        elif exchange.path == "/v1/chat/completions" and exchange.method == "POST":
            self.check(RESPONSE, body, where)

    def _check_stream(self, exchange: Exchange, where: str) -> None:
        if exchange.path == "/v1/responses":
            self.validated["ResponseStreamEvent"] = self.validated.get("ResponseStreamEvent", 0) + 1
            pairs = sse_events(exchange.body)
            self.violations += [f"{where}: {p}" for p in check_responses_stream(pairs, exchange.complete)]
            return
        data = exchange.data
        if any(kind == "other" for kind, _ in exchange.sse):
            self.violations.append(f"{where}: SSE lines other than data: and comments")
        ended = False
        for index, text in enumerate(data):
            if ended:
                self.violations.append(f"{where}: event after [DONE] or an error: {text[:200]}")
            if text == "[DONE]":
                ended = True
                continue
            obj = json.loads(text)
            if "error" in obj:
                self.check(ERROR, obj, where)
                ended = True
                continue
            self.check(CHUNK, obj, where)
            if index == 0 and obj["choices"][0]["delta"].get("role") != "assistant":
                self.violations.append(f"{where}: the first chunk does not carry the role")
        if exchange.complete and data and not ended:
            self.violations.append(f"{where}: the stream ended without [DONE] or an error")
        ids = {json.loads(d).get("id") for d in data if d != "[DONE]" and "error" not in json.loads(d)}
        if len(ids) > 1:
            self.violations.append(f"{where}: chunks carry different ids {ids}")


class _Tee(httpx2.SyncByteStream):
    def __init__(self, inner, recorder: Recorder, exchange: Exchange):
        self._inner = inner
        self._recorder = recorder
        self._exchange = exchange
        self._parts: list[bytes] = []
        self._done = False

    def __iter__(self):
        for chunk in self._inner:
            self._parts.append(chunk)
            yield chunk
        self._exchange.complete = True

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if not self._done:
                self._done = True
                self._exchange.body = b"".join(self._parts)
                self._recorder.record(self._exchange)


class RecordingTransport(httpx2.BaseTransport):
    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        exchange = Exchange(
            request.method, request.url.path, response.status_code, {k.lower(): v for k, v in response.headers.items()}
        )
        response.stream = _Tee(response.stream, self.recorder, exchange)
        return response

    def close(self) -> None:
        self._inner.close()


def client(base_url: str, recorder: Recorder, **kwargs) -> openai.OpenAI:
    """An openai SDK client whose traffic is recorded; no retries unless asked."""
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 30)
    http = httpx2.Client(transport=RecordingTransport(recorder))
    return openai.OpenAI(base_url=base_url.rstrip("/") + "/v1", api_key="test-key", http_client=http, **kwargs)


# -- pytest fixtures (import them into a test module to use them) -------------------------------
import pytest  # noqa: E402


@pytest.fixture
def recorder():
    """Records this test's exchanges; the test fails if any of them breaks OpenAI's schemas."""
    rec = Recorder()
    yield rec
    assert not rec.violations, "responses that break OpenAI's schemas:\n" + "\n".join(rec.violations)


@pytest.fixture
def oai(server, recorder) -> openai.OpenAI:
    """The openai SDK pointed at the module's server, recorded and schema-checked."""
    with client(server.url, recorder) as sdk:
        yield sdk


def scenario(name: str, **params) -> str:
    """A fake grok.com scenario marker for a message (values URL-encoded: no spaces or '<')."""
    from urllib.parse import quote

    if not params:
        return f"#scenario:{name}"
    return f"#scenario:{name}?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
