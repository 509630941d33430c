"""Continuity in the engine: history fingerprints, the plan's follow-ups, the ledger's records."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine import continuity as ct
from app.engine import pacing
from app.engine.continuity import Continuity, Ledger, Place
from app.engine.plan import plan_turn
from app.engine.tools import ToolCall, ToolSet
from app.openai.models import MODELS
from app.state.local import LocalStore
from tests.support.hub import turns_given_away

SHELL = {
    "type": "function",
    "function": {
        "name": "exec_command",
        "description": "Run a command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
    },
}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
TOOLS = ToolSet.from_request([SHELL, WEATHER])
CALL = {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd":"ls -la"}'}}
ANSWER = "Here is a list:\n\n- one\n- two"


def history(*tail: dict) -> list[dict]:
    return [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt\nb.txt"},
        {"role": "assistant", "content": ANSWER},
        *tail,
    ]


def digest(messages: list[dict], tools=TOOLS, model="expert", extra=(), temporary=True) -> str:
    context = ct.context_digest(MODELS[model].upstream, tools, extra, temporary)
    return ct.chain(context, ct.canonical(messages))


# -- what clients do to our answers must not break the match -----------------------------------------
ECHOES = {
    "trimmed": {"role": "assistant", "content": ANSWER.strip() + "\n"},
    "parts": {
        "role": "assistant",
        "content": [{"type": "text", "text": "Here is a list:"}, {"type": "text", "text": "- one\n- two"}],
    },
    "think tags": {"role": "assistant", "content": "<think>\nhmm\n</think>\n\n" + ANSWER},
    "split in two": [
        {"role": "assistant", "content": "Here is a list:"},
        {"role": "assistant", "content": "- one - two"},
    ],
    "extra keys": {"role": "assistant", "content": ANSWER, "reasoning_content": "hmm", "refusal": None, "name": "grok"},
}


@pytest.mark.parametrize("echo", list(ECHOES.values()), ids=list(ECHOES))
def test_echoes_of_an_answer_match_what_was_recorded(echo):
    recorded = digest(history())
    echoed = history()[:-1] + (echo if isinstance(echo, list) else [echo])
    assert digest(echoed) == recorded


def test_tool_call_arguments_are_compared_as_json():
    spaced = dict(CALL, function={"name": "exec_command", "arguments": '{ "cmd": "ls -la" }'})
    messages = history()
    messages[2] = {"role": "assistant", "content": "", "tool_calls": [spaced]}
    assert digest(messages) == digest(history())


def test_developer_and_system_are_one_role_and_user_whitespace_is_squeezed():
    messages = history()
    messages[0] = {"role": "developer", "content": [{"type": "text", "text": "  You are   terse. "}]}
    assert digest(messages) == digest(history())


# -- what clients change must not match -----------------------------------------------------------------
CHANGES = {
    "user text": (1, {"role": "user", "content": "list all files"}),
    "system prompt": (0, {"role": "system", "content": "You are verbose."}),
    "call id": (2, {"role": "assistant", "content": None, "tool_calls": [dict(CALL, id="call_2")]}),
    "call arguments": (
        2,
        {
            "role": "assistant",
            "tool_calls": [dict(CALL, function={"name": "exec_command", "arguments": '{"cmd":"ls"}'})],
        },
    ),
    "tool output": (3, {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}),
    "answer text": (4, {"role": "assistant", "content": "Here is a list: one, two, three"}),
    "an image": (
        1,
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]},
    ),
}


@pytest.mark.parametrize("change", list(CHANGES.values()), ids=list(CHANGES))
def test_a_changed_message_is_another_history(change):
    index, message = change
    messages = history()
    messages[index] = message
    assert digest(messages) != digest(history())


def test_the_context_is_mode_tools_extra_instructions_and_temporary_but_not_tool_choice():
    base = digest(history())
    assert digest(history(), model="fast") != base
    assert digest(history(), tools=ToolSet.from_request([SHELL])) != base
    renamed = dict(WEATHER, function=dict(WEATHER["function"], name="weather_now"))
    assert digest(history(), tools=ToolSet.from_request([SHELL, renamed])) != base
    assert digest(history(), extra=("Answer in JSON.",)) != base
    assert digest(history(), temporary=False) != base
    assert digest(history(), tools=ToolSet.from_request([SHELL, WEATHER], "required")) == base


def test_an_answer_recorded_from_the_engine_matches_its_echo():
    call = ToolCall(id="call_9", name="exec_command", arguments='{"cmd":"pwd"}')
    ours = ct.answer_message("Let me check.", [call])
    echo = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd": "pwd"}'}}
        ],
    }
    assert ct.canonical([ours]) == ct.canonical([echo])


def test_where_a_new_turn_starts():
    assert ct.new_turn_start(history({"role": "user", "content": "thanks"})) == 5
    tool_turn = history()[:3] + [{"role": "tool", "tool_call_id": "call_1", "content": "x"}]
    assert ct.new_turn_start(tool_turn) == 3
    assert ct.new_turn_start(history()) is None  # ends with an answer (a prefill): nothing new
    assert ct.new_turn_start(history()[:2]) is None  # no answer yet
    assert ct.new_turn_start(history({"role": "system", "content": "be brief"})) is None  # nothing to answer


# -- the plan ---------------------------------------------------------------------------------------------
@pytest.fixture
def ledger(tmp_path):
    return Ledger(LocalStore(tmp_path), ttl=600, max_entries=1000)


def recorded(ledger: Ledger, messages: list[dict], conversation="conv-1", response="resp-1", **kw) -> Place:
    """Record `messages` (ending with our answer) as answered by `response` of `conversation`."""
    place = Place(conversation, response, "default", kw.get("temporary", True))
    ledger.record(place, digest(messages, **kw))
    return place


def test_a_history_that_extends_a_recorded_one_is_a_follow_up(ledger):
    recorded(ledger, history())
    turn = plan_turn(
        history({"role": "user", "content": "and b.txt?"}),
        MODELS["expert"],
        TOOLS,
        continuity=Continuity(ledger=ledger),
    )
    assert turn.follow_up == Place("conv-1", "resp-1", "default", True)
    assert turn.payload["message"] == "and b.txt?"
    assert turn.payload["parentResponseId"] == "resp-1"
    assert turn.payload["customInstructions"].startswith("fn-call protocol.")
    assert turn.payload["customInstructions"].endswith("You are terse.")
    fresh = turn.fallback()
    assert fresh.follow_up is None and "parentResponseId" not in fresh.payload
    assert fresh.payload["message"].startswith("<u>list files</u>\n<a><tool_call>")
    # Usage counts the whole conversation, as the model reads it, not the short follow-up.
    assert turn.prompt_tokens() == fresh.prompt_tokens()


def test_tool_results_name_the_function_they_answer(ledger):
    messages = history()[:3]
    recorded(ledger, messages)
    tool_turn = messages + [{"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}]
    turn = plan_turn(tool_turn, MODELS["expert"], TOOLS, continuity=Continuity(ledger=ledger))
    assert turn.payload["message"] == '<tool_result id="call_1" name="fn_0">a.txt</tool_result>'


def test_no_record_no_tip_or_another_account_is_a_new_conversation(ledger):
    new_turn = history({"role": "user", "content": "more"})
    plan = lambda **kw: plan_turn(new_turn, MODELS["expert"], TOOLS, continuity=Continuity(ledger=ledger, **kw))  # noqa: E731
    assert plan().follow_up is None
    place = recorded(ledger, history())
    assert plan().follow_up == place
    assert plan(usable=lambda account: account != "default").follow_up is None
    ledger.record(Place("conv-1", "resp-2", "default", True))  # the conversation moved on
    assert plan().follow_up is None
    assert recorded(ledger, history()) == place
    ledger.diverged("conv-1", "default", True)  # a turn there did not complete
    assert plan().follow_up is None


def test_without_continuity_nothing_is_looked_up_and_the_flag_decides_temporary(ledger):
    recorded(ledger, history())
    new_turn = history({"role": "user", "content": "more"})
    off = plan_turn(new_turn, MODELS["expert"], TOOLS, continuity=Continuity(ledger=None, temporary=False))
    assert off.follow_up is None and off.history_digest is None and off.payload["temporary"] is False
    assert plan_turn(new_turn, MODELS["expert"], TOOLS).payload["temporary"] is True


def test_a_named_place_takes_the_turn_after_the_last_answer(ledger):
    target = Place("conv-9", "resp-9", "default", False)
    cont = Continuity(ledger=ledger, target=target, named_by="header")
    turn = plan_turn([{"role": "user", "content": "hi again"}], MODELS["fast"], None, continuity=cont)
    assert turn.payload["message"] == "hi again" and turn.payload["parentResponseId"] == "resp-9"
    assert turn.payload["temporary"] is False and turn.fallback is None
    turn = plan_turn(history({"role": "user", "content": "next"}), MODELS["fast"], TOOLS, continuity=cont)
    assert turn.payload["message"] == "next"
    with pytest.raises(ValueError, match="no message after the last assistant message"):
        plan_turn(history(), MODELS["fast"], TOOLS, continuity=cont)


class Uploads:
    """Counts uploads; names every media part."""

    def __init__(self):
        self.calls = 0
        self.file_ids = ["file-1"]

    def __call__(self):
        self.calls += 1
        return self

    def placeholder(self, message_index, part_index):
        return f"[image: m{message_index}p{part_index}.png]"


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def test_media_are_uploaded_only_when_the_request_needs_them(ledger):
    first = [
        {"role": "user", "content": [{"type": "text", "text": "run it"}, IMAGE]},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
    ]
    recorded(ledger, first)
    uploads = Uploads()
    tool_turn = first + [{"role": "tool", "tool_call_id": "call_1", "content": "done"}]
    turn = plan_turn(tool_turn, MODELS["expert"], TOOLS, media=uploads, continuity=Continuity(ledger=ledger))
    # The image went with the first turn: the follow-up neither uploads nor attaches it.
    assert uploads.calls == 0 and turn.payload["fileAttachments"] == []
    fresh = turn.fallback()  # a new conversation needs it again
    assert uploads.calls == 1 and fresh.payload["fileAttachments"] == ["file-1"]
    assert "[image: m0p1.png]" in fresh.payload["message"]

    recorded(
        ledger,
        first + [{"role": "tool", "tool_call_id": "call_1", "content": "done"}, {"role": "assistant", "content": "ok"}],
    )
    uploads = Uploads()
    new_image = tool_turn + [
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "and this one"}, IMAGE]},
    ]
    turn = plan_turn(new_image, MODELS["expert"], TOOLS, media=uploads, continuity=Continuity(ledger=ledger))
    assert turn.follow_up is not None and uploads.calls == 1
    assert turn.payload["fileAttachments"] == ["file-1"]
    assert turn.payload["message"] == "and this one\n[image: m4p1.png]"


# -- the ledger ---------------------------------------------------------------------------------------------
def test_a_conversation_keeps_only_its_tips_record(ledger):
    first = history()
    second = history({"role": "user", "content": "more"}, {"role": "assistant", "content": "ok"})
    recorded(ledger, first)
    recorded(ledger, second, response="resp-2")
    assert ledger.store.get(ct.SPACE, "h:" + digest(first)) is None  # superseded, deleted
    assert ledger.find(digest(second)) == Place("conv-1", "resp-2", "default", True)
    ledger.forget("conv-1")
    assert ledger.store.get(ct.SPACE, "h:" + digest(second)) is None


def test_the_ledger_stores_digests_and_ids_only(ledger, tmp_path):
    messages = history({"role": "user", "content": "SECRET-PROMPT-TEXT"})
    ledger.record(Place("conv-1", "resp-1", "default", True), digest(messages), response_id="resp_ours")
    assert ledger.response("resp_ours") == Place("conv-1", "resp-1", "default", True)
    assert ledger.tip("conv-1") == "resp-1"
    ledger.forget("conv-1")
    assert ledger.tip("conv-1") is None and ledger.find(digest(messages)) is None
    dump = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"SECRET-PROMPT-TEXT" not in dump and b"terse" not in dump


class BrokenStore:
    def get(self, space, key):
        raise OSError("disk gone")

    def put(self, space, key, value, ttl=None):
        raise OSError("disk gone")

    def delete(self, space, key):
        raise OSError("disk gone")


def test_a_failing_store_reads_as_unknown_and_never_raises():
    ledger = Ledger(BrokenStore(), ttl=60, max_entries=100)
    assert ledger.find("abc") is None and ledger.response("resp_1") is None
    ledger.record(Place("c", "r", "default", True), "abc", "resp_1")
    ledger.diverged("c", "default", True)
    ledger.forget("c")


def test_records_expire(tmp_path):
    now = [1000.0]
    store = LocalStore(tmp_path, clock=lambda: now[0])
    ledger = Ledger(store, ttl=60, max_entries=100)
    place = Place("conv-1", "resp-1", "default", True)
    ledger.record(place, "abc")
    assert ledger.find("abc") == place
    now[0] += 61
    assert ledger.find("abc") is None


def test_hostile_histories_are_read_in_one_pass_and_never_raise():
    crafted = [
        {"role": "assistant", "content": "<think>" * 200_000},  # no closing tag anywhere
        {"role": "assistant", "content": "x", "tool_calls": [{"id": 1, "function": "not an object"}, "nonsense"]},
        {"role": None, "content": {"unexpected": ["shape"]}},
    ]
    # 200,000 unclosed blocks: a backtracking pattern would take hours here.
    assert len(ct.canonical(crafted)) == 2  # the two assistant messages are one
    assert ct.canonical([{"role": "assistant", "content": "a<think>b</think>c<think>d"}]) == ct.canonical(
        [{"role": "assistant", "content": "ac<think>d"}]
    )


def test_a_follow_up_knows_when_its_conversation_holds_the_instructions(ledger):
    messages = history()
    context = Continuity(ledger=ledger)
    new_turn = history({"role": "user", "content": "more"})
    turn = plan_turn(new_turn, MODELS["expert"], TOOLS, continuity=context)
    held = ct.instructions_digest(turn.payload["customInstructions"])
    ledger.record(Place("conv-1", "resp-1", "default", True, held), digest(messages))
    assert plan_turn(new_turn, MODELS["expert"], TOOLS, continuity=context).instructions_known is True
    ledger.record(Place("conv-1", "resp-1", "default", True, None), digest(messages))  # sent as a field (REST)
    assert plan_turn(new_turn, MODELS["expert"], TOOLS, continuity=context).instructions_known is False
    ledger.record(Place("conv-1", "resp-1", "default", True, held), digest(messages))
    reminded = new_turn + [{"role": "system", "content": "Be brief."}]
    assert plan_turn(reminded, MODELS["expert"], TOOLS, continuity=context).instructions_known is False


# -- long histories: hashed in slices, yielding to the hub -----------------------------------------
_JSON_TEXT = st.text(alphabet=st.sampled_from(list('ab \t\n\r\u00a0\u2028é"\\\x00\x1f<>/') + ["\ud800", "😀"]))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(value=_JSON, text=_JSON_TEXT | st.sampled_from(["", " ", "<think>a b</think> c  d", "x" * 30]))
def test_sliced_hashing_gives_the_fingerprints_of_one_go(value, text):
    # Fingerprints recorded before an upgrade must still match: the slices (7 characters here)
    # change when the hub gets a turn, never a result.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ct, "SLICE_CHARS", 7)
        assert ct._canonical_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        assert ct._squeeze(text) == " ".join(text.split())
        assert ct._answer_text(text) == "".join(ct._without_thinking(text).split())
        one_go = hashlib.sha256(text.encode("utf-8", "surrogatepass") + b"\0").hexdigest()
        assert ct._digest(text) == one_go


def test_hashing_a_history_with_a_big_image_and_a_big_text_lets_other_greenlets_run(monkeypatch):
    monkeypatch.setattr(pacing, "TURN_SECS", 0)  # a turn at every tick: the count no longer depends on speed
    image = "data:image/png;base64," + "QUJD" * ct.SLICE_CHARS
    big = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]},
        {"role": "assistant", "content": "sure " * (ct.SLICE_CHARS // 5 * 3)},
        {"role": "user", "content": "word " * (ct.SLICE_CHARS // 5 * 3)},
    ]
    assert turns_given_away(lambda: ct.chain("start", ct.canonical(big))) >= 10
