"""Conversation continuity against the fake grok.com (in-process app): a history that extends one
this server answered goes upstream as a follow-up carrying only the new turn; everything else
(edited, truncated, other context, a conversation grok.com no longer has) is answered by a new
conversation with the flattened history, never by a wrong continuation."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.oai import scenario

APP = "/rest/app-chat"
NEW = f"{APP}/conversations/new"
SHELL = {
    "type": "function",
    "function": {
        "name": "exec_command",
        "description": "Runs a shell command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    },
}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def chats(fake) -> list[dict]:
    """The chat requests grok.com got: new conversations and follow-ups, in order."""
    return [
        e
        for e in fake.requests_log(f"{APP}/conversations/")
        if e["method"] == "POST" and (e["path"] == NEW or e["path"].endswith("/responses"))
    ]


def complete(client, messages, headers=None, **body):
    body = {"model": "expert", "messages": messages, **body}
    return client.post("/v1/chat/completions", json=body, headers=headers or {})


def answered(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["choices"][0]["message"]


def streamed(response) -> dict:
    """The assistant message a client rebuilds from a chat.completion.chunk stream."""
    assert response.status_code == 200, response.get_data(as_text=True)
    content, calls = [], {}
    for line in response.get_data(as_text=True).splitlines():
        if not line.startswith("data: {"):
            continue
        for choice in json.loads(line[6:])["choices"]:
            delta = choice["delta"]
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": call.get("id"), "type": "function", "function": {}})
                fn = call.get("function") or {}
                if fn.get("name"):
                    slot["function"]["name"] = fn["name"]
                slot["function"]["arguments"] = slot["function"].get("arguments", "") + fn.get("arguments", "")
    message = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


def two_turns(client, fake, first="hello there", second="and then?", **body):
    """Turn one, then turn two on the echoed history; returns (history, second response)."""
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": first}]
    messages.append(answered(complete(client, messages, **body)))
    messages.append({"role": "user", "content": second})
    return messages, complete(client, messages, **body)


# -- continuing -----------------------------------------------------------------------------------------------
def test_a_second_turn_is_a_follow_up_carrying_only_the_new_message(client, fake):
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello there"}]
    first = complete(client, messages)
    conversation = first.headers["X-Grok-Conversation-Id"]
    assert first.headers["X-Grok-Continuity"] == "new"
    messages += [answered(first), {"role": "user", "content": "and then?"}]
    second = complete(client, messages)
    assert answered(second)["content"] == "Hello from fake grok. You said: and then?"
    assert second.headers["X-Grok-Conversation-Id"] == conversation
    assert second.headers["X-Grok-Continuity"] == "continued"
    new, follow_up = chats(fake)
    assert follow_up["path"] == f"{APP}/conversations/{conversation}/responses"
    body = follow_up["body"]
    assert body["message"] == "and then?"
    assert body["customInstructions"] == new["body"]["customInstructions"] == "Be terse."
    assert body["temporary"] is True and body["modeId"] == "expert" and body["parentResponseId"]
    # The usage still counts the whole conversation (clients decide when to compact on it).
    assert second.get_json()["usage"]["prompt_tokens"] > first.get_json()["usage"]["prompt_tokens"]


def test_the_parent_is_the_answer_of_the_last_turn(client, fake, grok_client):
    messages, second = two_turns(client, fake)
    conversation = second.headers["X-Grok-Conversation-Id"]
    listed = json.loads(grok_client.list_responses(conversation).content)["responses"]
    assert [r["sender"] for r in listed] == ["human", "ASSISTANT", "human", "ASSISTANT"]
    assert chats(fake)[1]["body"]["parentResponseId"] == listed[1]["responseId"]
    messages += [answered(second), {"role": "user", "content": "third"}]
    third = complete(client, messages)
    assert third.headers["X-Grok-Continuity"] == "continued"
    assert chats(fake)[2]["body"]["parentResponseId"] == listed[3]["responseId"]


def test_streamed_turns_continue_and_are_continued(client, fake):
    messages = [{"role": "user", "content": "stream " + scenario("slow", n=4, delay=0.01)}]
    messages.append(streamed(complete(client, messages, stream=True)))
    messages.append({"role": "user", "content": "more please"})
    second = complete(client, messages, stream=True)
    assert second.headers["X-Grok-Continuity"] == "continued"
    assert "s0 s1 s2 s3" in streamed(second)["content"]  # the thread still holds the scenario
    assert chats(fake)[-1]["body"]["message"] == "more please"


ECHOES = {
    "trimmed": lambda m: dict(m, content=m["content"].strip() + "\n\n"),
    "content parts": lambda m: dict(m, content=[{"type": "text", "text": m["content"]}]),
    "reasoning echoed": lambda m: dict(m, reasoning_content="I thought.", refusal=None, annotations=[]),
}


@pytest.mark.parametrize("echo", list(ECHOES.values()), ids=list(ECHOES))
def test_what_clients_do_to_an_answer_still_continues(client, fake, echo):
    messages = [{"role": "user", "content": "why? " + scenario("thinking", text="Because.")}]
    messages += [echo(answered(complete(client, messages))), {"role": "user", "content": "ok"}]
    assert complete(client, messages).headers["X-Grok-Continuity"] == "continued"


def test_think_tags_in_echoed_content_still_continue(settings_for, fake):
    from app import create_app

    client = create_app(settings_for(REASONING_OUTPUT="think_tags")).test_client()
    messages = [{"role": "user", "content": "why? " + scenario("thinking", text="Because.")}]
    for strip in (False, True):  # the client keeps the thinking in the content, or strips it
        first = answered(complete(client, messages))
        assert first["content"].startswith("<think>")
        echoed = first["content"].split("</think>")[-1].strip() if strip else first["content"]
        again = messages + [dict(first, content=echoed), {"role": "user", "content": "ok"}]
        assert complete(client, again).headers["X-Grok-Continuity"] == "continued"


def test_a_20_turn_agent_loop_sends_flat_request_bytes(client, fake):
    def loop(headers) -> list[dict]:
        fake.clear()
        marker = scenario("agent", prop="cmd", calls=20, args=json.dumps({"cmd": "cat notes.txt"}))
        messages = [
            {"role": "system", "content": "You are a coding agent. " * 40},
            {"role": "user", "content": "summarise my notes " + marker},
        ]
        for turn in range(21):
            message = answered(complete(client, messages, headers=headers, tools=[SHELL]))
            messages.append(message)
            if not message.get("tool_calls"):
                break
            [call] = message["tool_calls"]
            output = f"notes line {turn}: " + "lorem ipsum dolor sit amet " * 8
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
        assert (
            message["content"] == "Done. The tool said: notes line 19: " + ("lorem ipsum dolor sit amet " * 8).strip()
        )
        return chats(fake)

    continued = loop({})
    assert len(continued) == 21 and continued[0]["path"] == NEW
    assert all(e["path"].endswith("/responses") for e in continued[1:])
    sizes = [e["bytes"] for e in continued[1:]]
    assert max(sizes) - min(sizes) <= 4  # flat: only the turn's number grows a digit
    flattened = loop({"X-Grok-Continuity": "off"})
    assert all(e["path"] == NEW for e in flattened)
    grown = [e["bytes"] for e in flattened]
    assert all(b > a + 250 for a, b in zip(grown, grown[1:], strict=False))  # every turn resends the history
    # Over these 21 turns the flattened history sent more than twice the bytes (and growing).
    assert sum(grown) > 2 * (continued[0]["bytes"] + sum(sizes))


# -- falling back to a new conversation -----------------------------------------------------------------------
def edit(index, message):
    def change(messages):
        messages[index] = message
        return messages

    return change


CHANGED = {
    "edited user message": (edit(1, {"role": "user", "content": "goodbye there"}), {}),
    "changed system prompt": (edit(0, {"role": "system", "content": "Be verbose."}), {}),
    "edited answer": (edit(2, {"role": "assistant", "content": "Something I never said."}), {}),
    "other model": (lambda m: m, {"model": "fast"}),
    "other tools": (lambda m: m, {"tools": [WEATHER]}),
}


@pytest.mark.parametrize("change", list(CHANGED.values()), ids=list(CHANGED))
def test_a_changed_history_or_context_is_a_new_conversation(client, fake, change):
    alter, body = change
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello there"}]
    messages.append(answered(complete(client, messages)))
    messages = alter(messages) + [{"role": "user", "content": "and then?"}]
    again = complete(client, messages, **body)
    assert again.headers["X-Grok-Continuity"] == "new"
    assert [e["path"] for e in chats(fake)] == [NEW, NEW]
    assert chats(fake)[1]["body"]["message"].startswith("<u>")  # the whole history, flattened


def test_an_unknown_history_is_a_new_conversation(client, fake):
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "An answer from another server."},
        {"role": "user", "content": "and?"},
    ]
    response = complete(client, messages)
    assert response.headers["X-Grok-Continuity"] == "new" and [e["path"] for e in chats(fake)] == [NEW]


def test_a_truncated_or_retried_history_is_a_new_conversation(client, fake):
    messages, second = two_turns(client, fake)
    assert second.headers["X-Grok-Continuity"] == "continued"
    # The client drops the last exchange and asks something else from the first answer on.
    retried = messages[:3] + [{"role": "user", "content": "something else"}]
    again = complete(client, retried)
    assert again.headers["X-Grok-Continuity"] == "new"
    assert chats(fake)[-1]["path"] == NEW


@pytest.mark.parametrize("soft", [False, True], ids=["deleted", "soft-deleted"])
def test_a_deleted_conversation_falls_back_before_any_byte(client, fake, grok_client, soft):
    messages = [{"role": "user", "content": "hello there"}]
    first = complete(client, messages)
    grok_client.delete_conversation(first.headers["X-Grok-Conversation-Id"], soft=soft)
    messages += [answered(first), {"role": "user", "content": "still there?"}]
    again = complete(client, messages)
    assert "You said: <u>still there?</u>" in answered(again)["content"]  # from the flattened history
    assert again.headers["X-Grok-Continuity"] == "fallback"
    assert again.headers["X-Grok-Conversation-Id"] != first.headers["X-Grok-Conversation-Id"]
    refused, fresh = chats(fake)[1:]
    assert refused["status"] == 404 and fresh["path"] == NEW
    # The new conversation is continued from then on.
    messages += [answered(again), {"role": "user", "content": "good"}]
    assert complete(client, messages).headers["X-Grok-Continuity"] == "continued"


def test_an_expired_temporary_conversation_falls_back(client, fake):
    fake.configure(temporary_ttl=0.3)
    messages = [{"role": "user", "content": "hello there"}]
    messages.append(answered(complete(client, messages)))
    time.sleep(0.5)
    messages.append({"role": "user", "content": "later"})
    response = complete(client, messages, stream=True)
    assert response.headers["X-Grok-Continuity"] == "fallback"
    assert "You said: <u>later</u>" in streamed(response)["content"]  # from the flattened history
    assert [e["status"] for e in chats(fake)] == [200, 404, 200]


def test_a_refusal_inside_the_stream_falls_back(client, fake):
    messages = [{"role": "user", "content": "hello there"}]
    first = complete(client, messages)
    conversation = first.headers["X-Grok-Conversation-Id"]
    # The WebSocket lane says it this way: an error event before any answer.
    gone = {"error": {"code": "conversation_not_found", "message": "Conversation not found"}}
    fake.enqueue(f"{APP}/conversations/{conversation}/responses", lines=[gone])
    messages += [answered(first), {"role": "user", "content": "still there?"}]
    response = complete(client, messages, stream=True)
    assert response.headers["X-Grok-Continuity"] == "fallback"
    assert "You said: <u>still there?</u>" in streamed(response)["content"]


def test_a_rate_limited_follow_up_is_not_sent_twice(client, fake):
    messages = [{"role": "user", "content": "hello there"}]
    first = complete(client, messages)
    conversation = first.headers["X-Grok-Conversation-Id"]
    fake.enqueue(
        f"{APP}/conversations/{conversation}/responses", status=429, body={"code": 8, "message": "Too many requests"}
    )
    messages += [answered(first), {"role": "user", "content": "again"}]
    response = complete(client, messages)
    assert response.status_code == 429
    assert [e["path"] for e in chats(fake)] == [NEW, f"{APP}/conversations/{conversation}/responses"]


def test_an_answer_cut_by_a_stop_sequence_is_not_continued(client, fake):
    messages = [{"role": "user", "content": "count " + scenario("plain", text="one two three four")}]
    first = answered(complete(client, messages, stop=["three"]))
    assert first["content"] == "one two "
    messages += [first, {"role": "user", "content": "go on"}]
    assert complete(client, messages).headers["X-Grok-Continuity"] == "new"


# -- turning it off, keeping conversations --------------------------------------------------------------------
def test_the_header_turns_continuity_off_for_a_request(client, fake):
    messages, second = two_turns(client, fake)
    messages += [answered(second), {"role": "user", "content": "third"}]
    off = complete(client, messages, headers={"X-Grok-Continuity": "off"})
    assert off.headers["X-Grok-Continuity"] == "off" and chats(fake)[-1]["path"] == NEW
    # Nothing was recorded for it: its own answer is not continued either.
    messages += [answered(off), {"role": "user", "content": "fourth"}]
    assert complete(client, messages).headers["X-Grok-Continuity"] == "new"
    bad = complete(client, messages, headers={"X-Grok-Continuity": "sometimes"})
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "X-Grok-Continuity"


def test_the_setting_turns_continuity_off(settings_for, fake):
    from app import create_app

    client = create_app(settings_for(CONTINUITY="false")).test_client()
    messages, second = two_turns(client, fake)
    assert second.headers["X-Grok-Continuity"] == "off"
    assert [e["path"] for e in chats(fake)] == [NEW, NEW]


def test_kept_conversations_are_not_temporary(settings_for, fake, grok_client):
    from app import create_app

    client = create_app(settings_for(KEEP_CONVERSATIONS="true")).test_client()
    messages, second = two_turns(client, fake)
    assert second.headers["X-Grok-Continuity"] == "continued"
    assert [e["body"]["temporary"] for e in chats(fake)] == [False, False]
    listed = json.loads(grok_client.list_conversations().content)["conversations"]
    assert [c["conversationId"] for c in listed] == [second.headers["X-Grok-Conversation-Id"]]


# -- naming the conversation ----------------------------------------------------------------------------------
def test_a_client_can_name_the_conversation_to_continue(client, fake):
    # A conversation this server never answered (the native route, or grok.com's own page).
    first = "my name is Ada " + scenario("plain", text="Hello Ada.")
    native = client.post("/v1/chat", json={"message": first, "temporary": False})
    conversation = json.loads(native.get_data(as_text=True).splitlines()[0])["result"]["conversation"]["conversationId"]
    fake.clear()
    named = {"X-Grok-Conversation-Id": conversation}
    response = complete(client, [{"role": "user", "content": "what is my name?"}], headers=named)
    assert answered(response)["content"] == "Hello Ada."  # the model read the thread
    assert response.headers["X-Grok-Continuity"] == "continued"
    assert response.headers["X-Grok-Conversation-Id"] == conversation
    sent = chats(fake)[-1]
    assert sent["path"] == f"{APP}/conversations/{conversation}/responses"
    assert sent["body"]["message"] == "what is my name?" and sent["body"]["temporary"] is False


def test_naming_an_unknown_conversation_is_a_404(client, fake):
    response = complete(client, [{"role": "user", "content": "hi"}], headers={"X-Grok-Conversation-Id": "c0ffee"})
    assert response.status_code == 404 and "c0ffee" in response.get_json()["detail"]
    bad = complete(client, [{"role": "user", "content": "hi"}], headers={"X-Grok-Conversation-Id": "../etc"})
    assert bad.status_code == 400
    assert chats(fake) == []


# -- the Responses API ----------------------------------------------------------------------------------------
def respond(client, headers=None, **body):
    body = {"model": "expert", **body}
    return client.post("/v1/responses", json=body, headers=headers or {})


def test_a_codex_style_loop_continues_with_echoed_items(client, fake):
    tools = [{"type": "function", "name": "exec_command", "parameters": SHELL["function"]["parameters"]}]
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "look " + scenario("agent", prop="cmd", think=1)}],
        },
    ]
    body = {"tools": tools, "store": False, "include": ["reasoning.encrypted_content"], "stream": True}
    first = respond(client, input=items, **body)
    output = [e["item"] for e in sse(first) if e["type"] == "response.output_item.done"]
    assert [o["type"] for o in output] == ["reasoning", "function_call"]
    call = output[-1]
    # Codex replays every output item, ids included, then the call's output.
    items += output + [{"type": "function_call_output", "call_id": call["call_id"], "output": "hello-from-grok\n"}]
    second = respond(client, input=items, **body)
    assert second.headers["X-Grok-Continuity"] == "continued"
    done = [e for e in sse(second) if e["type"] == "response.completed"][0]["response"]
    assert done["output"][-1]["content"][0]["text"] == "Done. The tool said: hello-from-grok"
    follow_up = chats(fake)[-1]
    assert follow_up["body"]["message"] == (
        f'<tool_result id="{call["call_id"]}" name="fn_0">hello-from-grok\n</tool_result>'
    )


def sse(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [json.loads(line[6:]) for line in response.get_data(as_text=True).splitlines() if line.startswith("data: ")]


def test_previous_response_id_continues_that_response(client, fake):
    first = respond(client, input="remember " + scenario("plain", text="Noted."), instructions="Be brief.")
    first_id = first.get_json()["id"]
    second = respond(client, input="what did I say?", instructions="Be brief.", previous_response_id=first_id)
    assert second.status_code == 200, second.get_data(as_text=True)
    assert second.get_json()["previous_response_id"] == first_id
    assert second.get_json()["output"][-1]["content"][0]["text"] == "Noted."  # the thread's scenario
    assert second.headers["X-Grok-Conversation-Id"] == first.headers["X-Grok-Conversation-Id"]
    follow_up = chats(fake)[-1]
    assert follow_up["path"].endswith("/responses") and follow_up["body"]["message"] == "what did I say?"
    assert follow_up["body"]["customInstructions"] == "Be brief."
    # The same response can be continued again: previous_response_id may branch.
    third = respond(client, input="say it again", previous_response_id=first_id, stream=True)
    assert third.headers["X-Grok-Continuity"] == "continued"
    assert chats(fake)[-1]["body"]["parentResponseId"] == chats(fake)[1]["body"]["parentResponseId"]


def test_previous_response_id_that_cannot_be_continued_is_a_400(client, fake, grok_client, settings_for):
    unstored = respond(client, input="hi", store=False)
    refused = respond(client, input="more", previous_response_id=unstored.get_json()["id"])
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "previous_response_not_found"
    stored = respond(client, input="hi")
    grok_client.delete_conversation(stored.headers["X-Grok-Conversation-Id"])
    gone = respond(client, input="more", previous_response_id=stored.get_json()["id"], stream=True)
    assert gone.status_code == 400 and gone.get_json()["error"]["code"] == "previous_response_not_found"
    assert "expired or was deleted" in gone.get_json()["error"]["message"]
    off = respond(client, {"X-Grok-Continuity": "off"}, input="more", previous_response_id=stored.get_json()["id"])
    assert off.status_code == 400 and "continuity" in off.get_json()["error"]["message"]


# -- the Messages API ------------------------------------------------------------------------------------------
BASH = {
    "name": "Bash",
    "description": "Executes a bash command",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}


def claude_turn(client, body: dict):
    """One streamed /v1/messages call as Claude Code makes it: (the assistant message it replays, response)."""
    response = client.post("/v1/messages?beta=true", json={"stream": True, **body}, headers={"anthropic-version": "x"})
    assert response.status_code == 200, response.get_data(as_text=True)
    blocks: dict[int, dict] = {}
    partial: dict[int, str] = {}
    for line in response.get_data(as_text=True).splitlines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event["type"] == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"])
        elif event["type"] == "content_block_delta":
            delta, block = event["delta"], blocks[event["index"]]
            if delta["type"] == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
    for index, text in partial.items():
        blocks[index]["input"] = json.loads(text)
    return {"role": "assistant", "content": [blocks[i] for i in sorted(blocks)]}, response


def test_a_claude_code_style_loop_continues(client, fake):
    marker = scenario("agent", prop="command", calls=2, think=1)
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cch=abc;"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [BASH],
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "run it " + marker}]}],
    }
    outcomes, answers = [], []
    for step in range(3):
        message, response = claude_turn(client, body)
        outcomes.append(response.headers["X-Grok-Continuity"])
        answers.append(message)
        body["messages"].append(message)  # thinking blocks with their signature, text, tool_use
        uses = [b for b in message["content"] if b["type"] == "tool_use"]
        if not uses:
            break
        result = {"type": "tool_result", "tool_use_id": uses[0]["id"], "content": f"step {step} done"}
        body["messages"].append({"role": "user", "content": [result]})
        # Claude Code sometimes adds a reminder as a system message at the end.
        body["messages"].append({"role": "system", "content": f"Reminder {step}: stay focused."})
    assert outcomes == ["new", "continued", "continued"]
    assert answers[-1]["content"][-1]["text"] == "Done. The tool said: step 1 done"
    follow_ups = chats(fake)[1:]
    assert [e["body"]["message"] for e in follow_ups] == [
        f'<tool_result id="{answers[0]["content"][-1]["id"]}" name="fn_0">step 0 done</tool_result>',
        f'<tool_result id="{answers[1]["content"][-1]["id"]}" name="fn_0">step 1 done</tool_result>',
    ]
    # The reminders are instructions, in the order they came; the billing line is dropped.
    assert follow_ups[-1]["body"]["customInstructions"].endswith(
        "You are Claude Code.\n\nReminder 0: stay focused.\n\nReminder 1: stay focused."
    )
    assert "billing" not in follow_ups[-1]["body"]["customInstructions"]


def test_metrics_and_the_request_log_say_how_conversations_were_found(client, fake, caplog):
    caplog.set_level("INFO", logger="grok_web_api.request")
    messages = [{"role": "user", "content": "hello there"}]
    for _ in range(2):
        response = complete(client, messages)
        messages += [answered(response), {"role": "user", "content": "and then?"}]
        response.close()  # the request line is written when the response ends
    metrics = client.get("/metrics").get_data(as_text=True)
    route = 'route="/v1/chat/completions"'
    assert f'grok_web_api_model_turns_total{{continuity="new",{route}}} 1.0' in metrics
    assert f'grok_web_api_model_turns_total{{continuity="continued",{route}}} 1.0' in metrics
    lines = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("route") == "/v1/chat/completions"]
    assert [fields.get("continuity") for fields in lines] == ["new", "continued"]
