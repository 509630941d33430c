"""/v1/chat: grok.com's chat endpoints (docs/api.md: native chat streams).

Answers are grok.com's NDJSON lines, relayed as they arrive (`application/x-ndjson`);
the stream's idle timeout applies, never a total one. A failure after the first
byte ends the body with an `{"error": {...problem...}}` line. The WebSocket chat
at /v1/chat/ws lives in chat_ws.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..grok.accounts import mode_of
from ..grok.client import Opening
from ..grok.errors import GrokError
from ..routing import CONVERSATION, FILE, RESPONSE, OwnedStream, for_owned, on_pool, owner_of_any, pool
from ..runtime import settings
from ..web.admission import admitted
from ..web.apidoc import INVALID_PATH, UPSTREAM_ERRORS, problem_responses, stream_response
from ..web.blueprint import Blueprint
from ..web.streaming import ndjson_relay, read_opening, streaming_response
from .chat_schemas import (
    CONTINUE_CHAT_EXAMPLE,
    CONTINUE_STREAM_EXAMPLE,
    FAILED_STREAM_EXAMPLE,
    NEW_CHAT_EXAMPLE,
    NEW_CHAT_STREAM_EXAMPLE,
    QUICK_EXAMPLE,
    ContinueChatSchema,
    NewChatSchema,
    QuickAnswerSchema,
)
from .replies import StatusReplySchema, status_answer

blp = Blueprint(
    "chat", __name__, url_prefix="/v1/chat", description="Native grok.com chat: NDJSON streams relayed as they arrive"
)

NDJSON = "application/x-ndjson"

STREAM_NOTES = (
    "The body is grok.com's NDJSON, line by line as it arrives. During upstream silence an empty "
    "line is sent every HEARTBEAT_SECS. If grok.com fails after the first byte (idle longer than "
    "STREAM_IDLE_TIMEOUT_SECS, connection dropped) the last line is "
    '`{"error": {type, title, status, detail, ...}}`, the same problem a request failing earlier '
    "gets as its status and body."
)


CONVERSATION_ID = {
    "in": "path",
    "name": "conversation_id",
    "description": "A conversation id",
    "example": "c0ffee00-1111-4222-8333-444455556666",
}
RESPONSE_ID = {
    "in": "path",
    "name": "response_id",
    "description": "A response id (the modelResponse's responseId)",
    "example": "bbbb1111-2222-4333-8444-555566667777",
}


@dataclass
class Opened:
    """A chat stream read up to grok.com's first answer event (or the error it sent instead)."""

    stream: Any
    opening: Opening

    def error(self) -> GrokError | None:
        return self.opening.error

    def close(self) -> None:
        self.stream.close()


def open_stream(stream) -> Opened:
    return Opened(stream, read_opening(stream, settings().heartbeat_interval))


def answer(opened: Opened):
    if opened.opening.error is not None:
        opened.close()
        raise opened.opening.error  # the failure's problem, as on every route
    heartbeat = settings().heartbeat_interval
    return streaming_response(ndjson_relay(opened.stream, heartbeat, opened.opening.data), NDJSON)


def relay(stream):
    return answer(open_stream(stream))


def on_accounts(mode: str, start, pinned: str | None = None):
    """A chat started on an account the pool chooses: an in-band refusal before grok.com's
    first answer event (usage limit, expired account) moves it to another (app/routing.py)."""
    opened, _ = on_pool(
        mode, lambda r: open_stream(start(r)), pinned=pinned, failed_early=Opened.error, release=Opened.close
    )
    return answer(opened)


def streams(example: str):
    """The documented 200 of a chat stream, with a failed stream as a second example."""
    response = stream_response("grok.com's NDJSON stream", example, NDJSON)
    media = response["content"][NDJSON]
    media["examples"] = {
        "answer": {"value": media.pop("example")},
        "failed_midway": {"summary": "upstream failure after the first line", "value": FAILED_STREAM_EXAMPLE},
    }
    return {200: response}


@blp.route("", methods=["POST"])
@blp.arguments(NewChatSchema, example=NEW_CHAT_EXAMPLE)
@problem_responses(blp, 400, 415, *UPSTREAM_ERRORS)
@blp.doc(
    summary="Start a conversation",
    description=STREAM_NOTES + " Unknown body fields are forwarded.",
    responses=streams(NEW_CHAT_STREAM_EXAMPLE),
)
@admitted
def new_chat(body):
    # Attached files live in the account they were uploaded to: the chat goes there too.
    pinned = owner_of_any(FILE, body.get("fileAttachments"))
    return on_accounts(mode_of(body), lambda r: OwnedStream(r.client.new_conversation(body), r.label, pool()), pinned)


@blp.route("/quick", methods=["POST"])
@blp.arguments(QuickAnswerSchema, example=QUICK_EXAMPLE)
@problem_responses(blp, 400, 415, *UPSTREAM_ERRORS)
@blp.doc(
    summary="Quick answer (no conversation is saved)",
    description=STREAM_NOTES,
    responses=streams(
        '{"result":{"response":{"token":"Canberra.","isThinking":false}}}\n'
        '{"result":{"response":{"token":"","isSoftStop":true}}}\n'
    ),
)
@admitted
def quick_answer(body):
    return on_accounts("auto", lambda r: r.client.quick_answer(body["query"]))


@blp.route("/<gid:conversation_id>/message", methods=["POST"], parameters=[CONVERSATION_ID])
@blp.arguments(ContinueChatSchema, example=CONTINUE_CHAT_EXAMPLE)
@problem_responses(blp, 400, 415, *UPSTREAM_ERRORS, examples={400: INVALID_PATH})
@blp.doc(
    summary="Continue a conversation",
    description=STREAM_NOTES + " Unknown body fields are forwarded.",
    responses=streams(CONTINUE_STREAM_EXAMPLE),
)
@admitted
def continue_chat(body, conversation_id):
    routed = for_owned(CONVERSATION, conversation_id)
    return relay(OwnedStream(routed.client.add_response(conversation_id, body), routed.label, pool()))


@blp.route("/<gid:response_id>/reconnect", methods=["GET"], parameters=[RESPONSE_ID])
@problem_responses(blp, 400, *UPSTREAM_ERRORS, examples={400: INVALID_PATH})
@blp.doc(
    summary="Replay a response's stream",
    description=STREAM_NOTES,
    responses=streams(
        '{"result":{"response":{"token":"HTTP/2 sends many streams over one '
        'connection.","isThinking":false}}}\n'
        '{"result":{"response":{"token":"","isSoftStop":true}}}\n'
    ),
)
def reconnect(response_id):
    return relay(for_owned(RESPONSE, response_id).client.reconnect_response(response_id))


@blp.route("/<gid:conversation_id>/stop", methods=["POST"], parameters=[CONVERSATION_ID])
@problem_responses(blp, 400, *UPSTREAM_ERRORS, examples={400: INVALID_PATH})
@blp.response(200, StatusReplySchema, example={"status": "stopped"}, description="Stopped.")
@blp.doc(
    summary="Stop a conversation's in-flight responses",
    description="The streams end with the text generated so far.",
)
def stop(conversation_id):
    for_owned(CONVERSATION, conversation_id).client.stop_inflight_responses(conversation_id)
    return status_answer("stopped")


@blp.route("/<gid:response_id>/cancel", methods=["POST"], parameters=[RESPONSE_ID])
@problem_responses(blp, 400, *UPSTREAM_ERRORS, examples={400: INVALID_PATH})
@blp.response(200, StatusReplySchema, example={"status": "cancelled"}, description="Cancelled.")
@blp.doc(summary="Cancel one in-flight response")
def cancel(response_id):
    for_owned(RESPONSE, response_id).client.cancel_response(response_id)
    return status_answer("cancelled")
