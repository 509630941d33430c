"""/v1/chat/completions and /v1/models: the OpenAI-compatible surface.

A chat completion is one temporary grok.com conversation carrying the flattened
history. The upstream request is made, and its first events read, before any byte
goes to the client: upstream failures up to the first output become ordinary
problem+json errors with the right status (429 + Retry-After, 503, 403, 502, 504).
After that, a failure is sent as an SSE `data: {"error": ...}` event (the openai SDKs
raise it as APIError) and the stream ends without a finish_reason and without
`[DONE]`, so an upstream error never looks like a clean stop.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Iterator

import marshmallow as ma
from flask import request

from ..engine.answer import Answer
from ..grok import errors as gerr
from ..grok.client import ChatStream
from ..grok.errors import GrokError, StreamError
from ..media.services import media_body, services, upload_chat_media
from ..problems import Problem, from_grok_error
from ..runtime import grok, no_upstream, settings
from ..web.admission import admitted
from ..web.apidoc import Blueprint
from ..web.streaming import streaming_response
from . import models
from .plan import ChatPlan, plan_completion
from .render import DONE, HEARTBEAT, ChunkWriter, comment, completion_body, error_event
from .schemas import ChatCompletionRequest

log = logging.getLogger(__name__)

blp = Blueprint("openai", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions and model list")

EVENT_STREAM = "text/event-stream"

HELP = {
    "message": "POST a ChatCompletion request to this endpoint. See /setup for configuration help.",
    "example": {"model": "auto", "messages": [{"role": "user", "content": "Hello"}], "stream": False},
}


class OpenAIModelSchema(ma.Schema):
    id = ma.fields.String()
    object = ma.fields.String()
    created = ma.fields.Integer()
    owned_by = ma.fields.String()
    description = ma.fields.String()


class OpenAIModelListSchema(ma.Schema):
    object = ma.fields.String()
    data = ma.fields.List(ma.fields.Nested(OpenAIModelSchema))


@blp.route("/chat/completions", methods=["POST"])
@media_body
@blp.arguments(ChatCompletionRequest, example=HELP["example"])
@blp.doc(
    summary="Create a chat completion (OpenAI-compatible; `stream: true` for SSE)",
    description="Runs one temporary grok.com conversation. Header `X-Reasoning-Output` "
    "(reasoning_content | think_tags | hidden) overrides REASONING_OUTPUT.",
    responses={200: {"description": "chat.completion, or a text/event-stream of chat.completion.chunk events"}},
)
@admitted
def create_chat_completion(body):
    plan = plan_completion(body, request.headers, settings().reasoning_output, upload_chat_media)
    upstream = grok().new_conversation(plan.payload)
    link = services().linker()
    if plan.stream:
        return _stream(plan, upstream, link)
    return _complete(plan, upstream, link)


@blp.route("/chat/completions", methods=["GET"], endpoint="chat_completions_help")
@no_upstream
@blp.doc(summary="How to use the chat completions endpoint")
def chat_completions_help():
    return HELP


@blp.route("/models", methods=["GET"])
@no_upstream
@blp.response(200, OpenAIModelListSchema, example=models.listing())
@blp.doc(summary="List the models (grok.com modes)")
def list_models():
    return models.listing()


@blp.route("/models/<model_id>", methods=["GET"])
@no_upstream
@blp.response(200, OpenAIModelSchema, example=models.MODELS["expert"].as_openai())
@blp.doc(summary="One model")
def get_model(model_id: str):
    found = models.lookup(model_id)
    if found is None:
        raise Problem(
            404, "not_found", f"Model '{model_id}' not found. Use GET /v1/models for available models.", param="model"
        )
    return found.as_openai()


# -- upstream failures ---------------------------------------------------------------------------
# In-band errors grok.com classifies like its HTTP errors: (status, problem type).
_INBAND_PROBLEMS = {
    gerr.USAGE_LIMIT: (429, "rate_limited"),
    gerr.RATE_LIMITED: (429, "rate_limited"),
    gerr.AUTH_EXPIRED: (503, "auth_expired"),
    gerr.ANTI_BOT: (403, "anti_bot"),
    gerr.STALE_CHALLENGE: (403, "anti_bot"),
    gerr.CLOUDFLARE: (403, "anti_bot"),
    gerr.CASTLE: (403, "anti_bot"),
    gerr.ACCOUNT_BLOCKED: (403, "account_blocked"),
}


def problem_for(exc: GrokError) -> Problem:
    """The problem for an upstream failure; in-band errors carry grok.com's own message."""
    if not isinstance(exc, StreamError):
        return from_grok_error(exc)
    extra = {"failure_class": exc.failure_class}
    if exc.code is not None:
        extra["upstream_code"] = exc.code
    mapped = _INBAND_PROBLEMS.get(exc.failure_class)
    if mapped is None:
        return Problem(502, "upstream_error", f"grok.com reported an error: {exc.message}", **extra)
    status, type_ = mapped
    return Problem(status, type_, f"grok.com: {exc.message.rstrip('.')}. {exc.advice}", **extra)


def _new_ids() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex}", int(time.time())


# -- non-streaming ---------------------------------------------------------------------------------
class _Collector:
    """Sink of a non-streaming answer: the Answer keeps the texts itself."""

    def content(self, text, annotations):
        pass

    def reasoning(self, text):
        pass

    def call_started(self, index, call):
        pass

    def call_arguments(self, index, delta):
        pass

    def call_finished(self, index, call):
        pass

    def comment(self, text):
        pass


def _complete(plan: ChatPlan, upstream: ChatStream, link):
    completion_id, created = _new_ids()
    answer = Answer(plan.options, _Collector(), plan.turn.extractor(), asset_link=link)
    with upstream:
        for event in upstream.events():
            answer.feed(event)
            if answer.finished:
                break
    if answer.error is not None:
        log.warning("grok.com reported an error in its answer: %s", answer.error.message)
        raise problem_for(answer.error)
    answer.close()
    return completion_body(
        completion_id=completion_id,
        created=created,
        model=plan.model_id,
        fingerprint=answer.fingerprint,
        content=answer.content,
        reasoning=answer.reasoning if plan.options.reasoning == "reasoning_content" else None,
        tool_calls=answer.calls,
        annotations=answer.annotations,
        finish_reason=answer.finish_reason,
        usage=answer.usage(plan.prompt_tokens()),
    )


# -- streaming -------------------------------------------------------------------------------------
class _SSESink:
    """Sink of a streamed answer: chunk bytes waiting to be written."""

    __slots__ = ("writer", "out")

    def __init__(self, writer: ChunkWriter):
        self.writer = writer
        self.out: list[bytes] = []

    def content(self, text, annotations):
        self.out.append(self.writer.content(text, annotations))

    def reasoning(self, text):
        self.out.append(self.writer.reasoning(text))

    def call_started(self, index, call):
        self.out.append(self.writer.call_started(index, call))

    def call_arguments(self, index, delta):
        self.out.append(self.writer.call_arguments(index, delta))

    def call_finished(self, index, call):
        pass

    def comment(self, text):
        self.out.append(comment(text))

    def take(self) -> bytes:
        data = b"".join(self.out)
        self.out.clear()
        return data


def _stream(plan: ChatPlan, upstream: ChatStream, link):
    completion_id, created = _new_ids()
    writer = ChunkWriter(completion_id, created, plan.model_id)
    sink = _SSESink(writer)
    answer = Answer(plan.options, sink, plan.turn.extractor(), asset_link=link)
    events = upstream.events(settings().heartbeat_interval)
    # Read up to the first output (or the first heartbeat interval) before answering, so
    # early failures still get a proper HTTP status.
    tick = False
    try:
        for event in events:
            if event is None:
                tick = True
                break
            answer.feed(event)
            if answer.has_output or answer.finished:
                break
    except BaseException:
        upstream.close()
        raise
    if answer.error is not None:
        upstream.close()
        log.warning("grok.com reported an error before the answer started: %s", answer.error.message)
        raise problem_for(answer.error)
    return streaming_response(_sse(plan, upstream, events, answer, sink, tick), EVENT_STREAM)


def _sse(
    plan: ChatPlan, upstream: ChatStream, events: Iterator, answer: Answer, sink: _SSESink, tick: bool
) -> Iterator[bytes]:
    writer = sink.writer
    try:
        yield writer.role() + sink.take() + (HEARTBEAT if tick else b"")
        if not answer.finished:
            for event in events:
                if event is None:
                    yield HEARTBEAT
                    continue
                answer.feed(event)
                if sink.out:
                    yield sink.take()
                if answer.finished:
                    break
        if answer.error is not None:
            log.warning("grok.com reported an error mid-answer: %s", answer.error.message)
            yield sink.take() + error_event(problem_for(answer.error).body()["error"])
            return
        answer.close()
        writer.set_fingerprint(answer.fingerprint)
        tail = sink.take() + writer.finish(answer.finish_reason)
        if plan.include_usage:
            tail += writer.usage(answer.usage(plan.prompt_tokens()))
        yield tail + DONE
    except GrokError as exc:
        log.warning("upstream stream failed mid-answer: %s (%s)", exc.message, exc.failure_class)
        yield sink.take() + error_event(problem_for(exc).body()["error"])
    except GeneratorExit:
        log.info("client went away; aborting the upstream answer")
        raise
    finally:
        upstream.close()
