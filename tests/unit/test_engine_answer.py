"""Answer: grok.com events -> what a client sees (content, reasoning, annotations, finish)."""

from __future__ import annotations

from app.engine.answer import PREAMBLE_MAX_CHARS, Answer, AnswerOptions
from app.engine.extract import ToolCallExtractor
from app.engine.tools import ToolSet
from app.engine.usage import estimate_tokens
from app.grok import events as ev
from app.grok.errors import RATE_LIMITED, STREAM, USAGE_LIMIT

CITE = (
    '<grok:render card_id="c1" card_type="citation_card" type="render_inline_citation">'
    '<argument name="citation_id">0</argument></grok:render>'
)


class Recorder:
    def __init__(self):
        self.calls = []

    def content(self, text, annotations):
        self.calls.append(("content", text, annotations))

    def reasoning(self, text):
        self.calls.append(("reasoning", text))

    def call_started(self, index, call):
        self.calls.append(("call_started", index, call.id, call.name))

    def call_arguments(self, index, delta):
        self.calls.append(("call_arguments", index, delta))

    def call_finished(self, index, call):
        self.calls.append(("call_finished", index, call.arguments))

    def comment(self, text):
        self.calls.append(("comment", text))

    def text(self, kind="content"):
        return "".join(c[1] for c in self.calls if c[0] == kind)


def run(events, tools=None, **options):
    sink = Recorder()
    extractor = ToolCallExtractor(ToolSet.from_request(tools)) if tools else None
    answer = Answer(AnswerOptions(**options), sink, extractor)
    for event in events:
        answer.feed(event)
        if answer.finished:
            break
    if answer.error is None:
        answer.close()
    return answer, sink


def search_events(*tokens):
    return [
        ev.SearchResults("web", [{"url": "https://example.com/a", "title": "Example A", "citationId": "0"}]),
        ev.Card("c1", "citation_card", {"id": "c1", "url": "https://example.com/a"}),
        *[ev.Token(t) for t in tokens],
        ev.Done(),
    ]


def test_tokens_are_content_and_done_finishes_with_stop():
    answer, sink = run([ev.Token("Hel"), ev.Token("lo"), ev.Done(), ev.Token("ignored")])
    assert sink.text() == "Hello"
    assert answer.content == "Hello"
    assert answer.finish_reason == "stop"


def test_reasoning_content_mode_keeps_reasoning_apart():
    answer, sink = run([ev.ReasoningToken("think "), ev.ReasoningToken("more"), ev.Token("42"), ev.Done()])
    assert sink.text("reasoning") == "think more"
    assert sink.text() == "42"
    assert answer.reasoning == "think more"


def test_think_tags_mode_wraps_reasoning_in_content():
    answer, sink = run([ev.ReasoningToken("think"), ev.Token("42"), ev.Done()], reasoning="think_tags")
    assert sink.text() == "<think>\nthink\n</think>\n\n42"
    assert sink.text("reasoning") == ""


def test_think_block_is_closed_when_the_answer_is_only_reasoning():
    _, sink = run([ev.ReasoningToken("only thoughts"), ev.Done()], reasoning="think_tags")
    assert sink.text() == "<think>\nonly thoughts\n</think>\n\n"


def test_hidden_mode_shows_no_reasoning_but_counts_it():
    answer, sink = run([ev.ReasoningToken("secret thoughts"), ev.Token("42"), ev.Done()], reasoning="hidden")
    assert sink.calls == [("content", "42", None)]
    assert answer.usage(0)["completion_tokens_details"]["reasoning_tokens"] > 0


def test_agents_are_labelled_when_the_speaker_changes():
    events = [
        ev.ReasoningToken("reading ", rollout_id="Grok"),
        ev.ReasoningToken("the question", rollout_id="Grok"),
        ev.ReasoningToken("checking", rollout_id="Harper"),
        ev.ReasoningToken("[Grok] done", rollout_id="Grok"),
        ev.Done(),
    ]
    answer, _ = run(events)
    assert answer.reasoning == "[Grok] reading the question\n[Harper] checking\n[Grok] done"


def test_citation_annotation_indexes_the_final_content():
    answer, sink = run(search_events("A is true", CITE[:30], CITE[30:], ". Done."))
    content = answer.content
    assert content == "A is true[[1]](https://example.com/a). Done."
    [annotation] = answer.annotations
    cite = annotation["url_citation"]
    assert annotation["type"] == "url_citation"
    assert content[cite["start_index"] : cite["end_index"]] == "[[1]](https://example.com/a)"
    assert cite["title"] == "Example A"
    # the streamed delta that carries the link carries the annotation too
    [with_annotation] = [c for c in sink.calls if c[0] == "content" and c[2]]
    assert "[[1]]" in with_annotation[1]


def test_annotation_indexes_account_for_think_tags():
    events = [ev.ReasoningToken("hmm")] + search_events("See", CITE)
    answer, _ = run(events, reasoning="think_tags")
    cite = answer.annotations[0]["url_citation"]
    assert answer.content[cite["start_index"] : cite["end_index"]] == "[[1]](https://example.com/a)"


def test_stop_sequence_cuts_across_tokens_and_ends_the_answer():
    answer, sink = run([ev.Token("one two ST"), ev.Token("OP three"), ev.Token("four"), ev.Done()], stop=("STOP",))
    assert sink.text() == "one two "
    assert answer.finished and answer.finish_reason == "stop"


def test_held_back_stop_prefix_is_released_at_the_end():
    answer, _ = run([ev.Token("ends with ST"), ev.Done()], stop=("STOP",))
    assert answer.content == "ends with ST"
    assert answer.finish_reason == "stop"


def test_max_tokens_cuts_with_length():
    answer, _ = run([ev.Token("one two three four five six"), ev.Token(" seven"), ev.Done()], max_tokens=3)
    assert answer.content == "one two three "
    assert answer.finish_reason == "length"


def test_max_tokens_does_not_count_reasoning():
    answer, _ = run(
        [ev.ReasoningToken("a very long chain of thought " * 20), ev.Token("short"), ev.Done()], max_tokens=2
    )
    assert answer.content == "short"
    assert answer.finish_reason == "stop"


def test_json_mode_extracts_the_fenced_json_once_complete():
    answer, sink = run([ev.Token('```json\n{"a":'), ev.Token(" 1}\n```"), ev.Done()], json_mode=True)
    assert sink.calls == [("content", '{"a": 1}', None)]
    assert answer.content == '{"a": 1}'


def test_json_mode_returns_a_non_json_answer_as_is():
    answer, _ = run([ev.Token("I can't."), ev.Done()], json_mode=True)
    assert answer.content == "I can't."


def test_generated_images_not_placed_inline_are_appended():
    events = [
        ev.ImageGenerated("users/u/generated/1/image.jpg"),
        ev.ImageGenerated("users/u/generated/2/image.jpg", moderated=True),
        ev.Token("Here you go."),
        ev.Done(),
    ]
    answer, _ = run(events)
    assert answer.content == (
        "Here you go.\n\n![image](https://assets.grok.com/users/u/generated/1/image.jpg)"
        "\n\n*(image withheld by grok.com's moderation)*"
    )


def test_inline_image_is_not_repeated_at_the_end():
    card = {"id": "i0", "image_chunk": {"imageUrl": "users/u/generated/1/image.jpg", "progress": 100}}
    events = [
        ev.ImageGenerated("users/u/generated/1/image.jpg"),
        ev.Card("i0", "generated_image_card", card),
        ev.Token('<grok:render card_id="i0" type="render_generated_image"></grok:render>'),
        ev.Done(),
    ]
    answer, _ = run(events)
    assert answer.content == "![image](https://assets.grok.com/users/u/generated/1/image.jpg)"


def test_inband_error_stops_the_answer_with_a_classified_error():
    answer, _ = run([ev.Token("partial"), ev.UpstreamError("You've reached your usage limit."), ev.Token("x")])
    assert answer.finished and answer.error.failure_class == USAGE_LIMIT
    answer, _ = run([ev.UpstreamError("Too many requests", code=8)])
    assert answer.error.failure_class == RATE_LIMITED
    answer, _ = run([ev.UpstreamError("boom", code=13)])
    assert answer.error.failure_class == STREAM and answer.error.message == "boom"


def test_oversized_line_is_an_error_but_a_malformed_line_is_skipped():
    answer, _ = run([ev.Token("a"), ev.ParseError("invalid JSON: x", "{"), ev.Token("b"), ev.Done()])
    assert answer.error is None and answer.content == "ab"
    answer, _ = run([ev.Token("a"), ev.ParseError("line exceeds 16 MiB limit", "{")])
    assert answer.error is not None


def test_model_response_message_is_the_answer_when_no_token_came():
    answer, _ = run([ev.ModelResponse("r1", "cached answer", "hash-1", {}), ev.Done()])
    assert answer.content == "cached answer"
    assert answer.fingerprint == "hash-1"
    answer, _ = run([ev.Token("streamed"), ev.ModelResponse("r1", "streamed", None, {}), ev.Done()])
    assert answer.content == "streamed"


def test_empty_answer():
    answer, sink = run([ev.Done()])
    assert sink.calls == [] and answer.content == "" and answer.finish_reason == "stop"
    assert not answer.has_output


WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
CALL = '<tool_call>{"name":"fn_0","arguments":{"city":"Paris"}}</tool_call>'


def pieces(text, size=3):
    return [ev.Token(text[i : i + size]) for i in range(0, len(text), size)]


def test_a_call_reaches_the_sink_as_it_is_written():
    answer, sink = run([*pieces(CALL), ev.Done()], tools=WEATHER)
    kinds = [c[0] for c in sink.calls]
    assert kinds[0] == "call_started" and kinds[-1] == "call_finished"
    assert kinds.count("call_arguments") > 2  # piece by piece, not in one go
    assert "".join(c[2] for c in sink.calls if c[0] == "call_arguments") == '{"city":"Paris"}'
    assert answer.finish_reason == "tool_calls" and answer.calls[0].arguments == '{"city":"Paris"}'


def test_the_preamble_of_a_call_goes_to_reasoning_when_asked():
    events = [*pieces("Let me check that. " + CALL), ev.Done()]
    answer, sink = run(events, tools=WEATHER, preamble_as_reasoning=True)
    assert sink.text() == "" and sink.text("reasoning") == "Let me check that.\n"
    answer, sink = run(events, tools=WEATHER)  # non-streamed answers keep it as content
    assert sink.text() == "Let me check that." and answer.content == "Let me check that."


def test_prose_that_is_clearly_an_answer_is_released_while_streaming():
    long = "x" * (PREAMBLE_MAX_CHARS + 1)
    answer = Answer(
        AnswerOptions(preamble_as_reasoning=True), sink := Recorder(), ToolCallExtractor(ToolSet.from_request(WEATHER))
    )
    answer.feed(ev.Token(long))
    assert sink.text() == long  # before the answer ends
    answer = Answer(
        AnswerOptions(preamble_as_reasoning=True), sink := Recorder(), ToolCallExtractor(ToolSet.from_request(WEATHER))
    )
    answer.feed(ev.Token("First paragraph.\n\nSecond"))
    assert sink.text() == "First paragraph.\n\nSecond"
    answer, sink = run([ev.Token("Short answer."), ev.Done()], tools=WEATHER, preamble_as_reasoning=True)
    assert sink.text() == "Short answer." and sink.text("reasoning") == ""


def test_parallel_tool_calls_false_drops_a_streamed_second_call():
    answer, sink = run([*pieces(CALL + CALL), ev.Done()], tools=WEATHER, single_tool_call=True)
    assert [c[0] for c in sink.calls].count("call_started") == 1
    assert len(answer.calls) == 1 and {c[1] for c in sink.calls} == {0}


def test_a_stream_recorded_for_continuity_keeps_its_content_whole_in_a_few_pieces_and_no_usage_texts():
    tokens = [f"word{i} " for i in range(200)]
    answer, sink = run([*(ev.Token(t) for t in tokens), ev.Done()], keep_text=False, keep_content=True)
    assert answer.content == sink.text() == "".join(tokens)
    assert len(answer.content_parts) < 32  # joined as it goes, not one string per token
    assert answer.answer_parts == [] and answer.reasoning_parts == []


def test_a_kept_text_still_counts_usage_piece_by_piece():
    tokens = [f"w{i} " for i in range(100)]
    answer, _ = run([*(ev.Token(t) for t in tokens), ev.Done()])
    assert answer.content == "".join(tokens)
    assert answer.usage(0)["completion_tokens"] == sum(estimate_tokens(t) for t in tokens)


def test_a_plain_answer_makes_no_reasoning_filter_and_its_filter_no_lists():
    # Each lives as long as its stream: a thousand open streams would pay for them all.
    plain, _ = run([ev.Token("Hello "), ev.Token("there.")])
    assert plain.reasoning_filter is None
    assert [type(getattr(plain.filter, name)) for name in ("citations", "_queued", "_fences")] == [tuple] * 3
    thinking, sink = run([ev.ReasoningToken("Hmm."), ev.Token("Hi.")])
    assert thinking.reasoning_filter is not None and sink.text("reasoning") == "Hmm."
