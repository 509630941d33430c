"""Fault cases shared by the gunicorn fault tests and their in-process twins.

A chat request reaches grok.com through one of three routes: the OpenAI API streamed
(`openai-stream`), the OpenAI API buffered (`openai`), or the native NDJSON relay
(`native`, POST /v1/chat). Each fault below has one defined outcome per route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ROUTES = ("openai-stream", "openai", "native")

# Upstream answers with an error status before any byte of an answer: every route answers
# with the mapped problem (status, type, failure_class) before its own first byte.
STATUS_FAULTS = {
    # id: (scenario marker, status, problem type, failure_class)
    "429-seconds": ("rate_limited?retry_after=12", 429, "rate_limited", "rate_limited"),
    "429-http-date": ("rate_limited?retry_after=30&date=1", 429, "rate_limited", "rate_limited"),
    "401-expired": ("expired?status=401", 503, "auth_expired", "auth_expired"),
    "403-expired": ("expired?status=403", 503, "auth_expired", "auth_expired"),
    "403-anti-bot": ("anti_bot", 403, "anti_bot", "anti_bot"),
    "403-cloudflare": ("cloudflare", 403, "anti_bot", "cloudflare_challenge"),
    "500": ("server_error?status=500", 502, "upstream_error", "upstream_error"),
    "502": ("server_error?status=502", 502, "upstream_error", "upstream_error"),
    "503": ("server_error?status=503", 502, "upstream_error", "upstream_error"),
}

# Upstream fails after the answer started. OpenAI streamed: an SSE error event with this
# code, no finish_reason, no [DONE]; OpenAI buffered: this HTTP problem; native: a final
# NDJSON {"error": {...}} line of this type.
MID_STREAM_FAULTS = {
    # id: (scenario marker, status of the buffered answer, problem type)
    "idle": ("idle?gap=30", 504, "gateway_timeout"),
    "dropped-fin": ("drop", 502, "upstream_error"),
    "dropped-rst": ("drop?rst=1", 502, "upstream_error"),
}

# Settings of the servers under test: short heartbeats and timeouts keep idle faults quick.
FAST_TIMEOUTS = {"HEARTBEAT_SECS": "0.3", "STREAM_IDLE_TIMEOUT_SECS": "1.5", "REQUEST_TIMEOUT_SECS": "1.5"}
IDLE_TIMEOUT = 1.5


def openai_body(message: str, stream: bool, **extra) -> dict:
    return {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": message}], **extra}


def request_for(route: str, message: str) -> tuple[str, dict]:
    """(path, JSON body) of a chat request on `route`."""
    if route == "native":
        return "/v1/chat", {"message": message}
    return "/v1/chat/completions", openai_body(message, route == "openai-stream")


@dataclass
class Outcome:
    """What a client received, whatever the route."""

    route: str
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes
    problem: dict | None = None  # the problem+json body of an error status
    inband_error: dict | None = None  # the SSE error event / final NDJSON error line
    text: str = ""  # the answer text the client got
    finished: bool = False  # [DONE] / finish_reason / isSoftStop seen
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, route: str, status: int, headers, body: bytes) -> "Outcome":
        headers = {k.lower(): v for k, v in headers.items()}
        ctype = headers.get("content-type", "").split(";")[0]
        out = cls(route, status, ctype, headers, body)
        if ctype == "application/problem+json":
            out.problem = json.loads(body)
        elif route == "openai-stream":
            out._read_sse()
        elif route == "openai":
            answer = json.loads(body)
            out.text = answer["choices"][0]["message"]["content"] or ""
            out.finished = answer["choices"][0]["finish_reason"] is not None
        else:
            out._read_ndjson()
        return out

    def _read_sse(self) -> None:
        parts = []
        for block in self.body.decode().split("\n\n"):
            for line in block.split("\n"):
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    self.finished = True
                    continue
                event = json.loads(data)
                if "error" in event:
                    self.inband_error = event["error"]
                    continue
                for choice in event["choices"]:
                    parts.append(choice["delta"].get("content") or "")
                    self.finished = self.finished or choice["finish_reason"] is not None
        self.text = "".join(parts)

    def _read_ndjson(self) -> None:
        parts = []
        for raw in self.body.split(b"\n"):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # relayed as grok.com sent it (malformed faults)
            if "error" in line and "result" not in line:
                self.inband_error = line["error"]
                continue
            response = line.get("result", {}).get("response", {})
            if isinstance(response.get("token"), str) and not response.get("isThinking"):
                parts.append(response["token"])
            self.finished = self.finished or response.get("isSoftStop") is True
        self.text = "".join(parts)

    # -- assertions ---------------------------------------------------------------------------
    def assert_problem(self, status: int, type_: str, failure_class: str | None = None) -> None:
        assert self.status == status, (self.status, self.body[:500])
        assert self.content_type == "application/problem+json"
        assert self.problem["type"] == type_ and self.problem["status"] == status
        assert self.problem["error"]["code"] == type_
        if failure_class is not None:
            assert self.problem["failure_class"] == failure_class

    def assert_inband_error(self, type_: str) -> None:
        """The answer started, then ended with an error (never a clean end)."""
        assert self.status == 200, (self.status, self.body[:500])
        assert self.inband_error is not None, self.body[-500:]
        assert not self.finished
        if self.route == "openai-stream":
            assert self.inband_error["code"] == type_
            assert self.body.rstrip().endswith(b"}")  # the error event is the last one
        else:
            assert self.inband_error["type"] == type_
            assert self.body.rstrip(b"\n").rsplit(b"\n", 1)[-1].startswith(b'{"error"')

    def assert_answer(self, text: str) -> None:
        assert self.status == 200, (self.status, self.body[:500])
        assert self.inband_error is None
        assert self.finished
        assert self.text == text
