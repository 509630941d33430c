"""The offline token estimator and the streamed max_tokens budget."""

from __future__ import annotations

import pytest

from app.engine.usage import TokenBudget, estimate_tokens, prompt_tokens, usage_object

SAMPLE = (
    "The quick brown fox jumps over the lazy dog. In 2024, 1234567 people read it!\n"
    "    def f(x):\n        return x * 2\nНовости дня. 今日は良い天気です。"
)


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("", 0),
        (None, 0),
        ("hello", 1),
        ("hello world", 2),  # the space belongs to the word
        ("internationalization", 4),  # 20 letters, 6 per token
        ("1234567", 3),  # digits in groups of three
        ("a, b.", 4),  # punctuation is one token each
        ("line\nline", 3),
        ("    indented", 3),  # 4 spaces = 1 token
        ("今日は", 3),  # one per CJK character
        ("Новости", 3),  # other letters: one per 3
    ],
)
def test_estimate_tokens(text, tokens):
    assert estimate_tokens(text) == tokens


def test_english_prose_is_about_four_characters_per_token():
    prose = (
        "Grok answers questions by searching the web when it needs fresh facts, then writes "
        "a short answer with citations so that readers can check every claim themselves. "
    ) * 20
    ratio = len(prose) / estimate_tokens(prose)
    assert 3.5 <= ratio <= 6.5


def test_prompt_tokens_add_openai_message_overhead():
    assert prompt_tokens("hello", None, 1) == 1 + 3 + 3
    assert prompt_tokens("hello", "be terse", 2) == 1 + 2 + 6 + 3


def test_usage_object_counts_reasoning_inside_completion():
    usage = usage_object(10, ["hello world"], ["thinking hard"])  # 2 + (2 + 1)
    assert usage["completion_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 3
    assert usage["total_tokens"] == 15


def test_budget_counts_a_streamed_text_like_the_whole_text():
    budget = TokenBudget(10_000)
    for i in range(0, len(SAMPLE), 3):
        assert budget.take(SAMPLE[i : i + 3]) == SAMPLE[i : i + 3]
    assert budget.count == estimate_tokens(SAMPLE)
    assert not budget.exhausted


@pytest.mark.parametrize("limit", [1, 2, 5, 9, 17, 30])
def test_budget_cut_is_the_same_whatever_the_token_split(limit):
    whole = TokenBudget(limit).take(SAMPLE)
    assert estimate_tokens(whole) <= limit
    assert whole and SAMPLE.startswith(whole) and whole != SAMPLE
    for size in (1, 2, 5, 13):
        budget = TokenBudget(limit)
        out = "".join(budget.take(SAMPLE[i : i + size]) for i in range(0, len(SAMPLE), size))
        assert budget.exhausted
        assert out == whole, size


def test_budget_takes_nothing_once_exhausted():
    budget = TokenBudget(1)
    assert budget.take("hello world") == "hello "  # a single space is free
    assert budget.exhausted
    assert budget.take("more") == ""


# -- long texts: counted in slices, yielding to the hub ---------------------------------------------
def test_a_long_text_counts_exactly_as_one_piece():
    from app.engine import usage

    text = (SAMPLE + "  \t  tabs and   spaces " + "x" * 7 + "\r\n") * 8000
    assert len(text) > 3 * usage.WINDOW_CHARS
    assert estimate_tokens(text) == usage._count(text)


def test_window_ends_anywhere_give_the_whole_texts_count(monkeypatch):
    """Runs cut by a window's end (a word, a number, spaces, accented letters after ASCII ones,
    a CR LF pair) are counted as in the whole text, for every possible window size."""
    import random

    from app.engine import usage

    rng = random.Random(7)
    alphabet = ["ab", "Zq", "é", "ßx", "12", "0", " ", "\t", "\r\n", "\n", "\r", "中", "!", "🙂", "_"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(20, 80))) for _ in range(60)]
    texts += ["x" * 50, "éabcdef" * 5, "\r" * 9 + "\n", " " * 33]
    for window in range(1, 12):
        monkeypatch.setattr(usage, "WINDOW_CHARS", window)
        for text in texts:
            assert estimate_tokens(text) == usage._count(text), (window, text)


def test_a_long_text_without_any_break_is_still_counted():
    from app.engine import usage

    text = "x" * (usage.WINDOW_CHARS * 2 + 5)
    assert estimate_tokens(text) == usage._count(text) == -(-len(text) // 6)


def test_counting_a_long_text_lets_other_greenlets_run(monkeypatch):
    from app.engine import pacing, usage

    monkeypatch.setattr(pacing, "TURN_SECS", 0)  # a turn at every tick: the count no longer depends on speed
    from tests.support.hub import turns_given_away

    assert turns_given_away(lambda: estimate_tokens("word " * usage.WINDOW_CHARS)) >= 4  # 5 windows
