"""/v1/chat/completions: OpenAI's chat completions over grok.com.

A chat completion is a new turn in the grok.com conversation its history continues, or a
new temporary conversation carrying the flattened history (docs/continuity.md). The
upstream request is made, and its first events read, before any byte goes to the
client: upstream failures up to the first output become ordinary problem+json errors with
the right status (429 + Retry-After, 503, 403, 502, 504). After that, a failure is sent as
an SSE `data: {"error": ...}` event (the openai SDKs raise it as APIError) and the stream
ends without a finish_reason and without `[DONE]`, so an upstream error never looks like a
clean stop.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

from flask import request

from ..engine.answer import Answer
from ..engine.run import Run
from ..engine.thread import Thread, ThreadStream
from ..grok.errors import GrokError
from ..media.services import media_body, services
from ..problems import from_grok_error
from ..routing import Routed, model_answer, uploader
from ..runtime import no_upstream, settings
from ..web.admission import admitted
from ..web.blueprint import Blueprint
from ..web.continuity import open_thread, request_continuity
from ..web.streaming import answer_stream, note_stream_error
from . import models
from .plan import ChatPlan, plan_completion
from .render import DONE, HEARTBEAT, ChunkWriter, comment, completion_body, error_event
from .schemas import ChatCompletionRequest

log = logging.getLogger(__name__)

blp = Blueprint("openai", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions")


HELP = {
    "message": "POST a ChatCompletion request to this endpoint. See /setup for configuration help.",
    "example": {"model": "auto", "messages": [{"role": "user", "content": "Hello"}], "stream": False},
}


@blp.route("/chat/completions", methods=["POST"])
@media_body
# OpenAI answers an invalid request 400 invalid_request_error (its SDKs raise BadRequestError).
@blp.arguments(ChatCompletionRequest, example=HELP["example"], error_status_code=400)
@blp.doc(
    summary="Create a chat completion (OpenAI-compatible; `stream: true` for SSE)",
    description="Runs one temporary grok.com conversation. Header `X-Reasoning-Output` "
    "(reasoning_content | think_tags | hidden) overrides REASONING_OUTPUT.",
    responses={200: {"description": "chat.completion, or a text/event-stream of chat.completion.chunk events"}},
)
@admitted
def create_chat_completion(body):
    continuity = request_continuity(request.headers)
    live = models.live_modes_for(body.get("model"))
    reasoning = settings().reasoning_output

    def plan(cont, routed):
        return plan_completion(body, request.headers, reasoning, uploader(routed), live, cont)

    def start(plan: ChatPlan, routed: Routed) -> _Opened:
        thread, upstream = open_thread(plan.turn)
        link = services().linker(owner=routed.label)
        return (
            _stream_start(plan, thread, upstream, link) if plan.stream else _complete_run(plan, thread, upstream, link)
        )

    opened, _ = model_answer(models.mode_for(body.get("model"), live), continuity, plan, start)
    if opened.plan.stream:
        return answer_stream(opened.run, lambda: _sse(opened.plan, opened.thread, opened.run, opened.sink))
    return _complete_answer(opened)


@dataclass
class _Opened:
    """A completion read up to its first output (streams) or to its end: what the response needs."""

    plan: ChatPlan
    thread: Thread
    run: Run
    sink: "_SSESink | None" = None


@blp.route("/chat/completions", methods=["GET"], endpoint="chat_completions_help")
@no_upstream
@blp.doc(summary="How to use the chat completions endpoint")
def chat_completions_help():
    return HELP


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


def _complete_run(plan: ChatPlan, thread: Thread, upstream: ThreadStream, link) -> _Opened:
    answer = Answer(thread.answer_options(plan.options), _Collector(), plan.turn.extractor(), asset_link=link)
    run = Run(upstream, answer)
    run.complete()
    return _Opened(plan, thread, run)


def _complete_answer(opened: _Opened):
    plan, thread, answer = opened.plan, opened.thread, opened.run.answer
    completion_id, created = _new_ids()
    if answer.error is not None:
        log.warning("grok.com reported an error in its answer: %s", answer.error.message)
        raise from_grok_error(answer.error)
    answer.close()
    thread.finish(answer)
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


def _stream_start(plan: ChatPlan, thread: Thread, upstream: ThreadStream, link) -> _Opened:
    completion_id, created = _new_ids()
    writer = ChunkWriter(completion_id, created, plan.model_id)
    sink = _SSESink(writer)
    answer = Answer(thread.answer_options(plan.options), sink, plan.turn.extractor(), asset_link=link)
    run = Run(upstream, answer, settings().heartbeat_interval)
    # Read up to the first output (or the first heartbeat interval) before answering, so an
    # early failure is still an HTTP error, or goes to another account.
    run.start()
    return _Opened(plan, thread, run, sink)


def _sse(plan: ChatPlan, thread: Thread, run: Run, sink: _SSESink) -> Iterator[bytes]:
    writer, answer = sink.writer, run.answer
    try:
        yield writer.role() + sink.take() + (HEARTBEAT if run.ticked else b"")
        while (silent := run.advance()) is not None:
            if silent:
                yield HEARTBEAT
            elif sink.out:
                yield sink.take()
        if answer.error is not None:
            log.warning("grok.com reported an error mid-answer: %s", answer.error.message)
            note_stream_error(answer.error.failure_class)
            yield sink.take() + error_event(from_grok_error(answer.error).body()["error"])
            return
        answer.close()
        thread.finish(answer)
        writer.set_fingerprint(answer.fingerprint)
        tail = sink.take() + writer.finish(answer.finish_reason)
        if plan.include_usage:
            tail += writer.usage(answer.usage(plan.prompt_tokens()))
        yield tail + DONE
    except GrokError as exc:
        log.warning("upstream stream failed mid-answer: %s (%s)", exc.message, exc.failure_class)
        note_stream_error(exc.failure_class)
        yield sink.take() + error_event(from_grok_error(exc).body()["error"])
    except GeneratorExit:
        log.info("client went away; aborting the upstream answer")
        raise
    finally:
        run.close()
