"""POST /v1/responses: the OpenAI Responses API (Codex CLI, the openai SDKs, openai-agents).

Like a chat completion, a request is a new turn in the grok.com conversation its input
continues (or that previous_response_id names), else a new temporary conversation
(docs/continuity.md): the engine plans it from the request's input items and reads the
answer; `ResponseWriter` renders it as a Response object or as its stream of events.
Failures before the first output are HTTP errors (400 for bad input, which Codex does not
retry; 429 with Retry-After); after the stream has started, every stream still ends with
`response.completed`, `response.incomplete` or `response.failed`, whose error codes are the
ones Codex acts on (`rate_limit_exceeded` with "try again in Ns", `insufficient_quota`,
`context_length_exceeded`, else `server_error`).

`GET /v1/responses` with `Upgrade: websocket` (Codex's built-in provider tries a WebSocket
first) is answered at once with 426, so the client falls back to HTTP.
"""

from __future__ import annotations

import json
import logging
from typing import Iterator

from flask import request

from ..engine.answer import Answer
from ..engine.run import Run
from ..engine.thread import ConversationGone, Thread
from ..grok.errors import CONTEXT_TOO_LONG, USAGE_LIMIT, GrokError
from ..media.services import media_body
from ..openai import models
from ..problems import Problem, from_grok_error
from ..routing import Routed, model_answer, uploader
from ..runtime import no_upstream
from ..web.admission import admitted
from ..web.blueprint import Blueprint
from ..web.continuity import OpenedAnswer, open_answer, request_continuity
from ..web.streaming import answer_stream, note_stream_error
from .events import ResponseWriter, usage_object
from .request import ResponsePlan, plan_response
from .schemas import CreateResponseRequest

log = logging.getLogger(__name__)

blp = Blueprint(
    "responses", __name__, url_prefix="/v1", description="OpenAI Responses API (Codex CLI, openai SDKs, agents)"
)

EXAMPLE = {"model": "expert", "input": "Say hi", "stream": False}


@blp.route("/responses", methods=["POST"])
@media_body
@blp.arguments(CreateResponseRequest, example=EXAMPLE, error_status_code=400)
@blp.doc(
    summary="Create a model response (OpenAI Responses API; `stream: true` for server-sent events)",
    responses={200: {"description": "a Response object, or a text/event-stream of Responses events"}},
)
@admitted
def create_response(body):
    continuity = request_continuity(request.headers, body.get("previous_response_id"))
    live = models.live_modes_for(body.get("model"))

    def plan(cont, routed):
        return plan_response(body, uploader(routed), live, cont)

    def start(plan: ResponsePlan, routed: Routed) -> OpenedAnswer:
        writer = ResponseWriter(plan.model_id, plan.echo)
        # response.created goes first; nothing is sent before the first output
        return open_answer(plan, routed, writer, begin=writer.start)

    opened, _ = model_answer(models.mode_for(body.get("model"), live), continuity, plan, start)
    plan, thread, run, writer = opened.plan, opened.thread, opened.run, opened.writer
    # store: false (Codex) keeps no id to continue from with previous_response_id.
    stored_id = writer.id if body.get("store") is not False else None
    if plan.stream:
        return answer_stream(run, lambda: _events(plan, run, writer, thread, stored_id))
    answer = run.answer
    if answer.error is not None:
        log.warning("grok.com reported an error in its answer: %s", answer.error.message)
        raise from_grok_error(answer.error)
    answer.close()
    thread.finish(answer, stored_id)
    return writer.finish(_usage(plan, answer), incomplete=answer.finish_reason == "length")


@blp.route("/responses", methods=["GET"], websocket=True)
@no_upstream
@blp.doc(summary="WebSocket mode is not offered: answered at once so clients fall back to HTTP")
def responses_websocket():
    # A WebSocket rule: werkzeug routes only upgrade requests here (a plain GET gets the 405).
    raise Problem(
        426,
        "upgrade_required",
        "this server has no WebSocket mode for the Responses API; POST /v1/responses (stream: true) instead",
        headers={"Connection": "close"},
    )


@blp.errorhandler(Problem)
def _problem(problem: Problem):
    return _error_response(problem)


@blp.errorhandler(GrokError)
def _upstream_failure(exc: GrokError):
    log.warning("upstream failure: %s (%s)", exc.message, exc.failure_class)
    if isinstance(exc, ConversationGone) and exc.named_by == "previous_response_id":
        return _error_response(Problem(400, "previous_response_not_found", exc.message, param="previous_response_id"))
    return _error_response(from_grok_error(exc))


def _error_response(problem: Problem):
    """The usual problem+json body, with OpenAI's error code for an upstream failure."""
    response = problem.response()
    code = _code(problem)
    if code is not None:
        body = problem.body()
        body["error"]["code"] = code
        response.set_data(json.dumps(body, ensure_ascii=False).encode())
    return response


def _code(problem: Problem) -> str | None:
    failure = problem.extra.get("failure_class")
    if failure is None:
        return None
    if problem.status == 429:
        return "insufficient_quota" if failure == USAGE_LIMIT else "rate_limit_exceeded"
    if failure == CONTEXT_TOO_LONG:
        return "context_length_exceeded"
    return "server_error"


def failure(exc: GrokError) -> tuple[str, str]:
    """(code, message) of response.failed for an upstream failure."""
    problem = from_grok_error(exc)
    code = _code(problem) or "server_error"
    message = problem.detail
    if code == "rate_limit_exceeded":
        seconds = problem.extra.get("retry_after_seconds")
        if seconds:
            message = f"{message.rstrip('.')}. Please try again in {seconds}s."
    return code, message


def _usage(plan: ResponsePlan, answer: Answer) -> dict:
    return usage_object(answer.usage(plan.turn.prompt_tokens()))


def _events(
    plan: ResponsePlan, run: Run, writer: ResponseWriter, thread: Thread, stored_id: str | None
) -> Iterator[bytes]:
    def finish() -> None:
        thread.finish(run.answer, stored_id)
        writer.finish(_usage(plan, run.answer), incomplete=run.answer.finish_reason == "length")

    def fail(exc: GrokError) -> None:
        note_stream_error(exc.failure_class)  # logged as outcome=error, not completed
        writer.fail(*failure(exc))

    return run.relay(writer.take, writer.keepalive, finish, fail)
