"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API (Claude Code,
the anthropic SDKs). Claude Code adds `?beta=true`, which changes nothing here.

Like a chat completion, a message is a new turn in the grok.com conversation its history
continues, or a new temporary conversation (docs/continuity.md), planned by the engine;
`MessageWriter` renders the answer as a Message or its event stream. Any
`anthropic-version` and `anthropic-beta` are accepted. Errors have Anthropic's shape
(`{"type": "error", "error": {"type", "message"}}`) with the same statuses as elsewhere;
after the stream started, a failure is an `event: error`. count_tokens is estimated
locally from the prompt the request would send, without calling grok.com.
"""

from __future__ import annotations

import logging
from typing import Iterator

import marshmallow as ma
from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..engine.answer import Answer
from ..engine.run import Run
from ..engine.thread import Thread
from ..grok.accounts import mode_of
from ..grok.errors import CONTEXT_TOO_LONG, GrokError
from ..media.services import media_body
from ..openai import models
from ..problems import Problem, from_grok_error, problem_for_http
from ..routing import Routed, model_answer, uploader
from ..runtime import no_upstream, settings
from ..web.admission import admitted
from ..web.blueprint import Blueprint
from ..web.continuity import OpenedAnswer, open_answer, request_continuity
from ..web.streaming import answer_stream, note_stream_error
from .events import MessageWriter, usage_object
from .request import MessagesPlan, count_plan, model_for, plan_messages
from .schemas import CountTokensRequest, MessagesRequest

log = logging.getLogger(__name__)

blp = Blueprint("anthropic", __name__, url_prefix="/v1", description="Anthropic Messages API (Claude Code, SDKs)")

EXAMPLE = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello"}]}
ERROR_EXAMPLES = {
    400: "invalid field 'max_tokens': Not a valid integer.",
    401: "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
    429: "grok.com rate limited the request: Too many requests. Retry after the indicated delay.",
    503: "Grok session cookies expired. Refresh the cookies (see /setup).",
}
# Anthropic's error types by HTTP status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


class CountTokensResponse(ma.Schema):
    input_tokens = ma.fields.Integer()


class AnthropicErrorDetail(ma.Schema):
    type = ma.fields.String(metadata={"description": "Anthropic's error type vocabulary"})
    message = ma.fields.String()


class AnthropicError(ma.Schema):
    """Every error of these routes (Anthropic's shape, application/json)."""

    type = ma.fields.String(metadata={"example": "error"})
    error = ma.fields.Nested(AnthropicErrorDetail)


def anthropic_errors(*statuses: int):
    """Documents the Anthropic-shaped errors of a view (with examples)."""

    def decorate(view):
        for status in statuses:
            example = {"type": "error", "error": {"type": error_type(status), "message": ERROR_EXAMPLES[status]}}
            view = blp.alt_response(status, schema=AnthropicError, description=error_type(status), example=example)(
                view
            )
        return view

    return decorate


@blp.route("/messages", methods=["POST"])
@anthropic_errors(400, 401, 429, 503)
@media_body
@blp.arguments(MessagesRequest, example=EXAMPLE, error_status_code=400)
@blp.doc(
    summary="Create a message (Anthropic Messages API; `stream: true` for server-sent events)",
    responses={200: {"description": "a Message object, or a text/event-stream of Messages events"}},
)
@admitted
def create_message(body):
    continuity = request_continuity(request.headers)
    claude_mode = settings().claude_model_mode
    requested = body.get("model") or ""
    live = models.live_modes_for(claude_mode if requested.lower().startswith("claude") else requested)

    def plan(cont, routed):
        return plan_messages(body, claude_mode, uploader(routed), live, cont)

    def start(plan: MessagesPlan, routed: Routed) -> OpenedAnswer:
        writer = MessageWriter(plan.model_id)
        return open_answer(plan, routed, writer, begin=lambda: writer.start(plan.turn.prompt_tokens()))

    mode = mode_of(model_for(requested, claude_mode, live).upstream)
    opened, _ = model_answer(mode, continuity, plan, start)
    plan, thread, run, writer = opened.plan, opened.thread, opened.run, opened.writer
    if plan.stream:
        return answer_stream(run, lambda: _events(plan, run, writer, thread))
    answer = run.answer
    if answer.error is not None:
        log.warning("grok.com reported an error in its answer: %s", answer.error.message)
        raise from_grok_error(answer.error)
    answer.close()
    thread.finish(answer)
    return _finish(plan, answer, writer)


@blp.route("/messages/count_tokens", methods=["POST"])
@anthropic_errors(400, 401)
@no_upstream
@media_body  # what /v1/messages accepts can be counted (a session with screenshots is megabytes)
@blp.arguments(
    CountTokensRequest,
    error_status_code=400,
    example={"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "foo"}]},
)
@blp.response(200, CountTokensResponse, example={"input_tokens": 12})
@blp.doc(summary="Count the input tokens of a message request (estimated locally, no grok.com call)")
def count_tokens(body):
    return {"input_tokens": count_plan(body, settings().claude_model_mode).prompt_tokens()}


# -- errors in Anthropic's shape ---------------------------------------------------------------------
def error_body(problem: Problem) -> dict:
    return {"type": "error", "error": {"type": error_type(problem.status), "message": error_message(problem)}}


def error_message(problem: Problem) -> str:
    # Anthropic's words for an over-long request, which Claude Code answers by compacting.
    if problem.extra.get("failure_class") == CONTEXT_TOO_LONG:
        return f"prompt is too long: {problem.detail}"
    return problem.detail


def _error_response(problem: Problem) -> Response:
    response = jsonify(error_body(problem))
    response.status_code = problem.status
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


@blp.errorhandler(Problem)
def _problem(problem: Problem):
    return _error_response(problem)


@blp.errorhandler(GrokError)
def _upstream_failure(exc: GrokError):
    log.warning("upstream failure: %s (%s)", exc.message, exc.failure_class)
    return _error_response(from_grok_error(exc))


@blp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    return _error_response(problem_for_http(exc))


# -- streaming -------------------------------------------------------------------------------------------
def _finish(plan: MessagesPlan, answer: Answer, writer: MessageWriter) -> dict:
    usage = usage_object(answer.usage(plan.turn.prompt_tokens()))
    sequence = answer.stop.sequence if answer.stop is not None and answer.stop.matched else None
    return writer.finish(answer.finish_reason or "stop", sequence, usage)


def _events(plan: MessagesPlan, run: Run, writer: MessageWriter, thread: Thread) -> Iterator[bytes]:
    def finish() -> None:
        thread.finish(run.answer)
        _finish(plan, run.answer, writer)

    def fail(exc: GrokError) -> None:
        note_stream_error(exc.failure_class)
        problem = from_grok_error(exc)
        writer.fail(error_type(problem.status), error_message(problem))

    return run.relay(writer.take, writer.ping, finish, fail)
