"""One model answer, built from grok.com's stream events (pure, no I/O), for any model API.

The same `Answer` drives streaming and non-streaming responses of every API: it turns events
into calls on a sink (`content`, `reasoning`, `call_started` / `call_arguments` /
`call_finished`, `comment`), in the order a client must see them; each API adapter renders
those calls in its own wire format. The answer text goes through, in order:

    tool-call extraction (when tools are on) -> internal-tag filter (citations, images)
    -> [preamble hold] -> stop sequences -> max_tokens budget -> [JSON-mode buffer] -> sink.content

Tool calls reach the sink as they are written: `call_started` once the call's name is known,
`call_arguments` pieces as the arguments are parsed, `call_finished` with the complete call
(the pieces joined are its arguments). A call found whole is started, given its arguments in
one piece and finished at once.

Preamble hold (`preamble_as_reasoning`, for streams with tools): clients such as pydantic-ai
take the first streamed text as the final answer, so prose that Grok writes before a tool call
("Let me check that.") must not stream as text, as it never does from OpenAI. While tools are
offered, prose at the start of the answer is held until it is clearly an answer (longer than
PREAMBLE_MAX_CHARS, or a paragraph followed by more prose, or the end of the answer: then it
is released as text) or a tool call follows (then it goes to the reasoning channel instead).

Reasoning goes through its own tag filter and is shown as `reasoning_content`, as
`<think>…</think>` inside the content, or hidden (REASONING_OUTPUT). Heavy's agents
are labelled: a line starts with `[Agent] ` whenever the speaking agent changes.

Generated images become markdown images linking to `asset_link(reference)` (the server's
signed proxy links), each once: inline where Grok placed them, the others after the
answer; a moderated image becomes a short notice instead. With `image_progress` (streams),
image-generation progress is reported as reasoning lines, or as SSE comments
(`sink.comment`) when reasoning is hidden, so a long generation is not silent.

`finished` tells the caller to stop reading upstream (answer done, stop sequence
matched, budget spent, or an error); `error` is set for an in-band upstream error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from ..grok import events as ev
from ..grok.errors import StreamError, inband_error
from .extract import CallDelta, CallStart
from .text import Sources, StopMatcher, TagFilter, extract_json
from .tools import ToolCall
from .usage import TokenBudget, usage_object

log = logging.getLogger(__name__)

REASONING_CONTENT = "reasoning_content"
THINK_TAGS = "think_tags"
HIDDEN = "hidden"
THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"
# Held prose longer than this is an answer, not a preamble to a tool call.
PREAMBLE_MAX_CHARS = 200
_FOLD_PARTS = 32  # content pieces kept before they are joined into one


@dataclass(frozen=True)
class AnswerOptions:
    reasoning: str = REASONING_CONTENT
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    json_mode: bool = False
    keep_text: bool = True  # keep the texts (non-stream body, usage)
    keep_content: bool = False  # keep the content alone (the continuity record of a stream)
    tool_choice_required: bool = False
    single_tool_call: bool = False  # parallel_tool_calls: false
    image_progress: bool = False  # report image-generation progress (streams)
    preamble_as_reasoning: bool = False  # prose before a tool call goes to reasoning (streams with tools)


class Sink(Protocol):
    def content(self, text: str, annotations: list[dict] | None) -> None: ...

    def reasoning(self, text: str) -> None: ...

    def call_started(self, index: int, call: ToolCall) -> None: ...

    def call_arguments(self, index: int, delta: str) -> None: ...

    def call_finished(self, index: int, call: ToolCall) -> None: ...

    def comment(self, text: str) -> None: ...


class Answer:
    # One Answer lives as long as its stream: slots keep its ~35 fields out of a per-instance
    # dict (too many fields for Python's shared-key dicts, so each instance paid ~1.5 KB).
    __slots__ = (
        "options",
        "sink",
        "sources",
        "filter",
        "reasoning_filter",
        "extractor",
        "stop",
        "budget",
        "json_parts",
        "finished",
        "closed",
        "error",
        "finish_reason",
        "fingerprint",
        "has_output",
        "calls",
        "content_parts",
        "answer_parts",
        "reasoning_parts",
        "annotations",
        "images",
        "moderated_images",
        "_progress",
        "_live",
        "_skipped",
        "_preamble",
        "_answer_seen",
        "_direct",
        "_final_len",
        "_filtered_sent",
        "_cited",
        "_in_think",
        "_agent",
        "_reasoning_at_line_start",
        "_hidden_logged",
    )

    def __init__(
        self, options: AnswerOptions, sink: Sink, extractor=None, asset_link: Callable[[str], str] | None = None
    ):
        self.options = options
        self.sink = sink
        self.sources = Sources(link=asset_link) if asset_link else Sources()
        self.filter = TagFilter(self.sources)
        # Made with the first reasoning token: most answers have none.
        self.reasoning_filter: TagFilter | None = None
        self.extractor = extractor
        self.stop = StopMatcher(list(options.stop)) if options.stop else None
        self.budget = TokenBudget(options.max_tokens) if options.max_tokens else None
        self.json_parts: list[str] | None = [] if options.json_mode else None

        self.finished = False
        self.closed = False
        self.error: StreamError | None = None
        self.finish_reason: str | None = None
        self.fingerprint: str | None = None
        self.has_output = False

        self.calls: list = []
        self.content_parts: list[str] = []  # everything sent as content
        self.answer_parts: list[str] = []  # the answer alone (usage)
        self.reasoning_parts: list[str] = []
        self.annotations: list[dict] = []
        self.images: list[str] = []  # generated images, as linked for the client
        self.moderated_images: list[str] = []  # references of images grok.com withheld
        self._progress: dict[str, tuple[int, int | None]] = {}  # image -> (number, progress reported)
        self._live: tuple[int, str] | None = None  # (index, id) of the call being streamed
        self._skipped: str | None = None  # id of a streamed call dropped (parallel_tool_calls false)
        self._preamble: list[str] | None = [] if options.preamble_as_reasoning and extractor is not None else None

        self._answer_seen = False
        # No extraction, stop sequences, budget or JSON buffer: tokens go straight out.
        self._direct = extractor is None and not options.stop and not options.max_tokens and not options.json_mode
        self._final_len = 0  # characters sent as content
        self._filtered_sent = 0  # characters of the tag filter's output delivered
        self._cited = 0  # citations already turned into annotations
        self._in_think = False
        self._agent: str | None = None
        self._reasoning_at_line_start = True
        self._hidden_logged = False

    # -- events -------------------------------------------------------------------------------
    def feed(self, event: ev.Event) -> None:
        if (
            type(event) is ev.Token
            and self._direct
            and not self._in_think
            and not self.finished
            and not event.soft_stop
        ):
            # The hot path: an answer token when nothing but the tag filter applies.
            self._answer_seen = True
            out = self.filter.feed(event.text)
            if out:
                if len(self.filter.citations) > self._cited:
                    self._answer_out(out)
                else:
                    self._filtered_sent += len(out)
                    if self.options.keep_text:
                        self.answer_parts.append(out)
                    self._content(out)
            return
        handler = _HANDLERS.get(type(event))
        if handler is not None and not self.finished:
            handler(self, event)

    def _on_token(self, event: ev.Token) -> None:
        self._answer_seen = True
        self._answer_text(event.text)
        if event.soft_stop and not self.finished:
            self.close()

    def _on_reasoning(self, event: ev.ReasoningToken) -> None:
        text = event.text
        agent = event.rollout_id
        if agent and agent != self._agent:
            self._agent = agent
            prefix = "" if self._reasoning_at_line_start else "\n"
            if not text.startswith(f"[{agent}]"):
                prefix += f"[{agent}] "
            text = prefix + text
        if self.reasoning_filter is None:
            self.reasoning_filter = TagFilter(self.sources, cite=False)
        text = self.reasoning_filter.feed(text)
        if text:
            self._reasoning(text)

    def _on_error(self, event: ev.UpstreamError) -> None:
        self.error = inband_error(event.message, event.code)
        self.finished = True

    def _on_card(self, event: ev.Card) -> None:
        self.sources.add_card(event.card_id, event.data)
        released = self.reasoning_filter.card_added() if self.reasoning_filter is not None else ""
        if released:
            self._reasoning(released)
        released = self.filter.card_added()
        if released:
            self._deliver(released)

    def _on_search(self, event: ev.SearchResults) -> None:
        self.sources.add_results(event.kind, event.results)

    def _on_image(self, event: ev.ImageGenerated) -> None:
        if event.moderated:
            log.info("a generated image was moderated by grok.com and is not shown")
            if event.url not in self.moderated_images:
                self.moderated_images.append(event.url)
            return
        url = self.sources.link(event.url)
        if url not in self.images:
            self.images.append(url)

    def _on_image_progress(self, event: ev.ImageProgress) -> None:
        if not self.options.image_progress:
            return
        key = event.image_id or (str(event.index) if event.index is not None else event.url or "")
        number, reported = self._progress.get(key, (None, None))
        if number is None:
            number = event.index + 1 if event.index is not None else len(self._progress) + 1
        elif reported == event.progress:
            return
        self._progress[key] = (number, event.progress)
        line = f"Generating image {number}" + (f": {event.progress}%" if event.progress is not None else "…")
        if self.options.reasoning == HIDDEN:
            self.sink.comment(line)
        else:
            self._reasoning(("" if self._reasoning_at_line_start else "\n") + line + "\n")

    def _on_model_response(self, event: ev.ModelResponse) -> None:
        if event.model_hash:
            self.fingerprint = event.model_hash
        if not self._answer_seen and event.message:
            # No token stream (e.g. a cached answer): the final message is the answer.
            self._answer_seen = True
            self._answer_text(event.message)

    def _on_metadata(self, event: ev.Metadata) -> None:
        model_hash = event.data.get("modelHash") if event.kind == "llm_info" else None
        if isinstance(model_hash, str) and model_hash:
            self.fingerprint = model_hash

    def _on_parse_error(self, event: ev.ParseError) -> None:
        if event.message.startswith("line exceeds"):
            # The decoder gives up on the rest of the stream: the answer is truncated.
            self.error = StreamError(f"grok.com sent an oversized stream line ({event.message})")
            self.finished = True
        else:
            log.warning("skipped an unreadable upstream line: %s", event.message)

    # -- the answer text ----------------------------------------------------------------------
    def _answer_text(self, text: str) -> None:
        if self.extractor is None:
            out = self.filter.feed(text)
            if out:
                self._deliver(out)
            return
        for piece in self.extractor.feed(text):
            self._answer_piece(piece)

    def _answer_piece(self, piece) -> None:
        if isinstance(piece, str):
            out = self.filter.feed(piece)
            if out:
                if self._preamble is not None:
                    self._hold(out)
                else:
                    self._deliver(out)
        elif isinstance(piece, CallDelta):
            if self._live is not None:
                self.sink.call_arguments(self._live[0], piece.text)
        elif isinstance(piece, CallStart):
            self._call_start(piece.call)
        elif self._live is not None and self._live[1] == piece.id:
            index, _ = self._live
            self._live = None
            self.sink.call_finished(index, piece)
        elif piece.id != self._skipped:
            if self._call_start(piece):
                self.sink.call_arguments(len(self.calls) - 1, piece.arguments)
                self._live = None
                self.sink.call_finished(len(self.calls) - 1, piece)

    def _hold(self, text: str) -> None:
        """Prose while a tool call may still follow (see the module docstring)."""
        self._preamble.append(text)
        held = "".join(self._preamble)
        paragraph = held.find("\n\n")
        if len(held) > PREAMBLE_MAX_CHARS or (paragraph != -1 and held[paragraph:].strip()):
            self._release_preamble()

    def _release_preamble(self) -> None:
        held, self._preamble = self._preamble, None
        if held:
            self._deliver("".join(held))

    def _preamble_to_reasoning(self) -> None:
        held, self._preamble = self._preamble, None
        if held:
            text = "".join(held)
            self._filtered_sent += len(text)  # filtered text that will never be content
            self._reasoning(text if text.endswith("\n") else text + "\n")

    def _deliver(self, text: str) -> None:
        """Filtered answer text, through stop sequences and the token budget."""
        if self.finished and self.finish_reason is not None:
            return
        if self.stop is not None:
            text = self.stop.feed(text)
            if self.stop.matched:
                self.finish_reason = "stop"
                self.finished = True
        if self.budget is not None and text:
            text = self.budget.take(text)
            if self.budget.exhausted:
                self.finish_reason = "length"
                self.finished = True
        if text:
            self._answer_out(text)

    def _answer_out(self, text: str) -> None:
        if self.options.keep_text:
            self.answer_parts.append(text)
        if self.json_parts is not None:
            self.json_parts.append(text)  # sent once complete; positions are meaningless then
            return
        if self._in_think:
            self._close_think()
        offset = self._final_len - self._filtered_sent
        self._filtered_sent += len(text)
        annotations = None
        citations = self.filter.citations
        while self._cited < len(citations) and citations[self._cited].end <= self._filtered_sent:
            cite = citations[self._cited]
            self._cited += 1
            if annotations is None:
                annotations = []
            annotations.append(
                {
                    "type": "url_citation",
                    "url_citation": {
                        "start_index": cite.start + offset,
                        "end_index": cite.end + offset,
                        "url": cite.url,
                        "title": cite.title,
                    },
                }
            )
        self._content(text, annotations)

    def _content(self, text: str, annotations: list[dict] | None = None) -> None:
        self.has_output = True
        self._final_len += len(text)
        if self.options.keep_text or self.options.keep_content:
            parts = self.content_parts
            parts.append(text)
            if len(parts) >= _FOLD_PARTS:
                # Only ever joined: one string instead of a str object per token (~60 bytes
                # each) for as long as the stream lasts.
                parts[:] = ["".join(parts)]
        if annotations:
            self.annotations.extend(annotations)
        self.sink.content(text, annotations)

    def _reasoning(self, text: str) -> None:
        self._reasoning_at_line_start = text.endswith("\n")
        if self.options.keep_text:
            self.reasoning_parts.append(text)
        mode = self.options.reasoning
        if mode == REASONING_CONTENT:
            self.has_output = True
            self.sink.reasoning(text)
        elif mode == THINK_TAGS:
            if not self._in_think:
                self._in_think = True
                self._content(THINK_OPEN)
            self._content(text)
        elif not self._hidden_logged:
            self._hidden_logged = True
            log.debug("reasoning hidden from the client (REASONING_OUTPUT=hidden)")

    def _close_think(self) -> None:
        self._in_think = False
        self._content(THINK_CLOSE)

    def _call_start(self, call: ToolCall) -> bool:
        """A call begins (its arguments may still be coming); False when it is dropped."""
        if self.calls and self.options.single_tool_call:
            log.info("dropped an extra tool call to %s: parallel_tool_calls is false", call.name)
            self._skipped = call.id
            return False
        self._preamble_to_reasoning()
        if self._in_think:
            self._close_think()
        index = len(self.calls)
        self.calls.append(call)  # the same object, completed by the extractor
        self.has_output = True
        self._live = (index, call.id)
        self.sink.call_started(index, call)
        return True

    # -- the end ------------------------------------------------------------------------------
    def close(self) -> None:
        """The answer is complete (or cut): flush what was held back and set finish_reason."""
        if self.closed:
            return
        self.closed = True
        cut = self.finish_reason is not None
        self.finished = True
        if not cut:
            if self.extractor is not None:
                for piece in self.extractor.finish():
                    self._answer_piece(piece)
            self._release_preamble()
            reasoning_tail = self.reasoning_filter.finish() if self.reasoning_filter is not None else ""
            if reasoning_tail:
                self._reasoning(reasoning_tail)
            tail = self.filter.finish()
            if tail:
                self._deliver(tail)
            self._append_images()
            if self.stop is not None and self.finish_reason is None:
                rest = self.stop.finish()
                self.stop = None
                if rest:
                    self._deliver(rest)
        if self.json_parts is not None:
            self._flush_json()
        if self._in_think:
            self._close_think()
        if self.finish_reason is None:
            self.finish_reason = "tool_calls" if self.calls else "stop"
        if self.options.tool_choice_required and not self.calls:
            log.warning("tool_choice was 'required' but Grok answered without calling a tool")

    def _append_images(self) -> None:
        """Generated images the text did not place inline go after the answer (and a notice for
        each moderated one not mentioned inline)."""
        missing = [url for url in self.images if url not in self.sources.rendered_images]
        notices = [n for n in (self.sources.moderated_notice(r) for r in self.moderated_images) if n]
        if not missing and not notices:
            return
        if self.json_parts is not None:
            log.info("%d generated image(s) left out of a JSON-mode answer", len(missing) + len(notices))
            return
        self.sources.rendered_images.update(dict.fromkeys(missing))
        block = "\n\n".join([f"![image]({url})" for url in missing] + notices)
        self._deliver(("\n\n" if self.filter.length else "") + block)

    def _flush_json(self) -> None:
        raw = "".join(self.json_parts or ())
        self.json_parts = None
        if not raw:
            return
        text, parsed = extract_json(raw)
        if not parsed:
            log.warning("response_format asked for JSON but the answer is not JSON; returned as is")
        if self._in_think:
            self._close_think()
        self._content(text)

    # -- results ------------------------------------------------------------------------------
    @property
    def content(self) -> str:
        return "".join(self.content_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def usage(self, prompt_tokens: int) -> dict:
        calls = [call.name + call.arguments for call in self.calls]
        return usage_object(prompt_tokens, self.answer_parts + calls, self.reasoning_parts)


# What Answer.feed does with each kind of event (other than the hot-path token): one table for
# every answer, rather than a dict of bound methods built for each stream.
_HANDLERS: dict[type, Callable[[Answer, ev.Event], None]] = {
    ev.Token: Answer._on_token,
    ev.ReasoningToken: Answer._on_reasoning,
    ev.Done: lambda answer, event: answer.close(),
    ev.UpstreamError: Answer._on_error,
    ev.Card: Answer._on_card,
    ev.SearchResults: Answer._on_search,
    ev.ImageGenerated: Answer._on_image,
    ev.ImageProgress: Answer._on_image_progress,
    ev.ModelResponse: Answer._on_model_response,
    ev.Metadata: Answer._on_metadata,
    ev.ParseError: Answer._on_parse_error,
}
