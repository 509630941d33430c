"""Generated images in chat answers: links made by the server, each image once, moderated images
as a notice, progress as reasoning lines or SSE comments; media parts named in the prompt."""

from __future__ import annotations

import pytest

from app.engine.answer import Answer, AnswerOptions
from app.engine.prompt import UnsupportedContent, build_prompt
from app.grok import events as ev
from app.openai.render import comment
from tests.unit.test_engine_answer import Recorder

NOTICE = "*(image withheld by grok.com's moderation)*"


def link(reference: str) -> str:
    return "https://me.test/v1/assets/" + reference.split("assets.grok.com/")[-1].lstrip("/") + "?sig=s"


def run(events, **options):
    sink = Recorder()
    answer = Answer(AnswerOptions(**options), sink, asset_link=link)
    for event in events:
        answer.feed(event)
    answer.close()
    return answer, sink


def image_events(moderated: bool = False):
    """What the decoder makes of grok.com's image answer: the final stream frames, the cards, the
    render tags in the text and the model response, for image 1 and (moderated or not) image 2."""
    cards = []
    for i in (1, 2):
        chunk = {
            "imageUuid": f"id{i}",
            "imageUrl": f"users/u/generated/id{i}/image.jpg",
            "progress": 100,
            "moderated": moderated and i == 2,
        }
        cards.append(ev.Card(f"img{i}", "generated_image_card", {"id": f"img{i}", "image_chunk": chunk}))
    return [
        ev.ImageProgress("id1", "users/u/generated/id1-part-0/image.jpg", 0, 0),
        ev.ImageProgress("id2", "users/u/generated/id2-part-0/image.jpg", 0, 1),
        ev.ImageProgress("id1", "users/u/generated/id1-part-1/image.jpg", 50, 0),
        ev.ImageProgress("id1", "users/u/generated/id1-part-1/image.jpg", 50, 0),  # repeated: once
        ev.ImageGenerated("users/u/generated/id1/image.jpg", "id1"),
        ev.ImageGenerated("users/u/generated/id2/image.jpg", "id2", moderated=moderated),
        *cards,
        ev.Token("Here: "),
        ev.Token(
            '<grok:render card_id="img1" card_type="generated_image_card" type="render_generated_image">'
            '</grok:render><grok:render card_id="img2" card_type="generated_image_card" '
            'type="render_generated_image"></grok:render>'
        ),
        ev.ImageGenerated("https://assets.grok.com/users/u/generated/id1/image.jpg"),  # modelResponse
        ev.Done(),
    ]


def test_images_are_linked_by_the_server_once_each():
    answer, _ = run(image_events())
    assert answer.content == (
        "Here: ![image](https://me.test/v1/assets/users/u/generated/id1/image.jpg?sig=s)"
        "![image](https://me.test/v1/assets/users/u/generated/id2/image.jpg?sig=s)"
    )


def test_a_moderated_image_is_a_notice_once():
    answer, _ = run(image_events(moderated=True))
    assert answer.content == (
        "Here: ![image](https://me.test/v1/assets/users/u/generated/id1/image.jpg?sig=s)" + NOTICE
    )
    assert "id2/image.jpg" not in answer.content


def test_a_moderated_image_not_placed_inline_is_noticed_after_the_answer():
    events = [
        ev.ImageGenerated("users/u/generated/x/image.jpg", "x", moderated=True),
        ev.ImageGenerated("users/u/generated/x/image.jpg", "x", moderated=True),
        ev.Token("Sorry."),
        ev.Done(),
    ]
    answer, _ = run(events)
    assert answer.content == "Sorry.\n\n" + NOTICE


def test_progress_is_reasoning_in_streams_when_reasoning_is_shown():
    answer, sink = run(image_events(), image_progress=True)
    assert sink.text("reasoning") == ("Generating image 1: 0%\nGenerating image 2: 0%\nGenerating image 1: 50%\n")
    assert "Generating" not in answer.content


def test_progress_is_an_sse_comment_when_reasoning_is_hidden():
    answer, sink = run(image_events(), image_progress=True, reasoning="hidden")
    assert [c[1] for c in sink.calls if c[0] == "comment"] == [
        "Generating image 1: 0%",
        "Generating image 2: 0%",
        "Generating image 1: 50%",
    ]
    assert sink.text("reasoning") == "" and answer.has_output
    assert comment("a\nb") == b": a b\n\n"


def test_progress_is_not_reported_without_image_progress():
    _, sink = run(image_events())
    assert sink.text("reasoning") == "" and not [c for c in sink.calls if c[0] == "comment"]


def test_progress_in_think_tags_goes_inside_the_think_block():
    answer, _ = run(image_events(), image_progress=True, reasoning="think_tags")
    assert answer.content.startswith("<think>\nGenerating image 1: 0%\n")
    assert "</think>\n\nHere: ![image](" in answer.content


def test_media_parts_become_their_placeholders_in_the_prompt():
    names = {(0, 1): "[image: old.png]", (2, 0): "[image: image-2-0.jpg]", (2, 2): "[file: r.pdf]"}
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "u"}}],
        },
        {"role": "assistant", "content": "a cat"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "v"}},
                {"type": "text", "text": "and this"},
                {"type": "file", "file": {"file_data": "x"}},
            ],
        },
    ]
    prompt = build_prompt(messages, None, part_text=lambda m, p: names.get((m, p)))
    assert prompt.message == (
        "<u>see\n[image: old.png]</u>\n<a>a cat</a>\n<u>[image: image-2-0.jpg]\nand this\n[file: r.pdf]</u>"
    )
    single = build_prompt(messages[2:], None, part_text=lambda m, p: names.get((m + 2, p)))
    assert single.message == "[image: image-2-0.jpg]\nand this\n[file: r.pdf]"
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]
    with pytest.raises(UnsupportedContent):
        build_prompt(audio, None, part_text=lambda m, p: None)
