"""The answer-text filters: internal tags (across token splits), stop sequences, JSON extraction."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.text import Sources, StopMatcher, TagFilter, asset_url, extract_json

CITE_TAG = (
    '<grok:render card_id="c1" card_type="citation_card" type="render_inline_citation">'
    '<argument name="citation_id">0</argument></grok:render>'
)
TOOL_CARD = (
    "<xai:tool_usage_card><xai:tool_usage_card_id>t1</xai:tool_usage_card_id>"
    "<xai:tool_name>web_search</xai:tool_name></xai:tool_usage_card>"
)


def sources_with_citation() -> Sources:
    sources = Sources()
    sources.add_results("web", [{"url": "https://example.com/a", "title": "Example A", "citationId": "0"}])
    sources.add_card("c1", {"id": "c1", "type": "render_inline_citation", "url": "https://example.com/a"})
    return sources


def run(pieces, sources=None) -> tuple[str, TagFilter]:
    filt = TagFilter(sources or sources_with_citation())
    out = "".join(filt.feed(p) for p in pieces) + filt.finish()
    return out, filt


def splits(text: str):
    """Every way of cutting `text` into two pieces, and a few three-piece cuts."""
    for i in range(len(text) + 1):
        yield [text[:i], text[i:]]
    for i in range(0, len(text), 7):
        for j in range(i, len(text), 11):
            yield [text[:i], text[i:j], text[j:]]


def test_text_without_tags_is_returned_unchanged():
    filt = TagFilter(Sources())
    assert filt.feed("plain words, a < b and <b>bold</b>") == "plain words, a < b and <b>bold</b>"
    assert filt.finish() == ""


def test_citation_becomes_markdown_link_with_position_whatever_the_token_split():
    text = "A is true" + CITE_TAG + ". Done."
    expected = "A is true[[1]](https://example.com/a). Done."
    for pieces in splits(text):
        out, filt = run(pieces)
        assert out == expected, pieces
        [cite] = filt.citations
        assert out[cite.start : cite.end] == "[[1]](https://example.com/a)"
        assert (cite.url, cite.title) == ("https://example.com/a", "Example A")


def test_same_url_cited_twice_keeps_its_number():
    out, filt = run(["x" + CITE_TAG + " y" + CITE_TAG])
    assert out == "x[[1]](https://example.com/a) y[[1]](https://example.com/a)"
    assert len(filt.citations) == 2


def test_citation_resolved_from_search_results_without_a_card():
    sources = Sources()
    sources.add_results("web", [{"url": "https://e.org/0", "title": "Zero", "citationId": "0"}])
    tag = '<grok:render type="render_inline_citation"><argument name="citation_id">0</argument></grok:render>'
    out, _ = run(["see", tag], sources)
    assert out == "see[[1]](https://e.org/0)"


def test_text_after_a_tag_waits_for_the_card_that_arrives_later():
    sources = Sources()
    filt = TagFilter(sources)
    tag = '<grok:render card_id="img0" card_type="generated_image_card" type="render_generated_image"></grok:render>'
    assert filt.feed("Look: ") == "Look: "
    assert filt.feed(tag + " and") == ""
    assert filt.feed(" more") == ""
    sources.add_card(
        "img0",
        {
            "id": "img0",
            "image_chunk": {"imageUrl": "users/u/generated/i/image.jpg", "progress": 100, "moderated": False},
        },
    )
    released = filt.card_added()
    assert released == "![image](https://assets.grok.com/users/u/generated/i/image.jpg) and more"
    assert "https://assets.grok.com/users/u/generated/i/image.jpg" in sources.rendered_images


def test_a_card_that_never_arrives_drops_the_tag_but_not_the_text():
    filt = TagFilter(Sources())
    tag = '<grok:render card_id="zz" type="render_generated_image"></grok:render>'
    assert filt.feed("a" + tag + "b") == "a"
    assert filt.feed("c") == ""
    assert filt.finish() == "bc"


def test_moderated_image_is_not_shown_but_noticed():
    sources = Sources()
    sources.add_card("m", {"image_chunk": {"imageUrl": "users/u/x.jpg", "moderated": True}})
    out, _ = run(['a<grok:render card_id="m" type="render_generated_image"></grok:render>b'], sources)
    assert out == "a*(image withheld by grok.com's moderation)*b" and "x.jpg" not in out


def test_searched_image_becomes_a_linked_thumbnail():
    sources = Sources()
    sources.add_card("s", {"image": {"title": "A [cat]", "thumbnail": "https://t/1.jpg", "link": "https://site/page"}})
    out, _ = run(['<grok:render card_id="s" type="render_searched_image"></grok:render>'], sources)
    assert out == "[![A (cat)](https://t/1.jpg)](https://site/page)"


def test_xai_elements_are_removed_with_their_content_whatever_the_split():
    text = "before " + TOOL_CARD + "after <xai:self_closing/>end"
    for pieces in splits(text):
        out, _ = run(pieces)
        assert out == "before after end", pieces


def test_artifact_keeps_the_code_in_a_fence():
    text = 'Here: <xaiArtifact artifact_id="a" title="x.py" contentType="text/python">print(1)\n</xaiArtifact> done'
    for pieces in splits(text):
        out, _ = run(pieces)
        assert out == "Here: \n```python\nprint(1)\n```\n done", pieces


def test_markdown_artifact_is_inlined_without_fence():
    out, _ = run(['<xaiArtifact contentType="text/markdown"># Title</xaiArtifact>'])
    assert out == "# Title"


def test_unterminated_internal_tag_is_dropped_at_the_end():
    out, _ = run(["ok <grok:render card_id=", '"x">never closed'])
    assert out == "ok "


def test_lone_angle_bracket_at_a_token_end_is_released_when_the_next_token_decides():
    filt = TagFilter(Sources())
    assert filt.feed("a <") == "a "
    assert filt.feed("= b") == "<= b"
    assert filt.feed("<gro") == ""
    assert filt.feed("und") == "<ground"


def test_asset_url():
    assert asset_url("users/u/a.jpg") == "https://assets.grok.com/users/u/a.jpg"
    assert asset_url("/users/u/a.jpg") == "https://assets.grok.com/users/u/a.jpg"
    assert asset_url("https://cdn.example/a.jpg") == "https://cdn.example/a.jpg"


@pytest.mark.parametrize(
    "pieces,stops,expected",
    [
        (["Hello wor", "ld END tail"], ["END"], "Hello world "),
        (["abc", "d"], ["cd", "b"], "a"),
        (["no stop ", "here"], ["zz"], "no stop here"),
        (["ends with pre", "fi"], ["prefix!"], "ends with prefi"),
        (["x\n\n", "y"], ["\n\n"], "x"),
    ],
)
def test_stop_matcher(pieces, stops, expected):
    stop = StopMatcher(stops)
    out = "".join(stop.feed(p) for p in pieces) + stop.finish()
    assert out == expected
    assert stop.matched == (expected != "".join(pieces))


def test_stop_matcher_holds_back_only_a_possible_prefix():
    stop = StopMatcher(["STOP"])
    assert stop.feed("abcST") == "abc"
    assert stop.feed("Ox") == "STOx"
    assert stop.feed("S") == ""
    assert stop.feed("TOP after") == ""
    assert stop.matched


@pytest.mark.parametrize(
    "answer,expected,ok",
    [
        ('{"a": 1}', '{"a": 1}', True),
        ("  [1, 2]\n", "[1, 2]", True),
        ('```json\n{"a": 1}\n```', '{"a": 1}', True),
        ('Sure! Here it is:\n```\n{"b": [true]}\n```\nAnything else?', '{"b": [true]}', True),
        ("I cannot do that.", "I cannot do that.", False),
        ("```json\n{broken\n```", "```json\n{broken\n```", False),
    ],
)
def test_extract_json(answer, expected, ok):
    assert extract_json(answer) == (expected, ok)


@settings(max_examples=300, derandomize=True, database=None)
@given(
    text=st.text(alphabet="abST", max_size=40),
    stops=st.lists(st.text(alphabet="abST", min_size=1, max_size=6), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_stop_matching_streamed_equals_cutting_the_whole_text(text, stops, cuts):
    found = [k for k in (text.find(s) for s in stops) if k >= 0]
    expected = text[: min(found)] if found else text
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + matcher.finish()
    assert out == expected
