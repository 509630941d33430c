"""Continuity across hosts: two servers under gunicorn sharing a Redis continue each other's
conversations, turn after turn, through the official openai SDK; without a shared store each
host knows only its own."""

from __future__ import annotations

import openai

from tests.support.gunicorn import app_env

APP = "/rest/app-chat"
NEW = f"{APP}/conversations/new"
SHELL = {
    "type": "function",
    "function": {
        "name": "exec_command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    },
}


def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def turn(server, messages: list[dict], stream: bool = False):
    """One completion through the SDK: (the assistant message as a dict, the response headers)."""
    with sdk(server) as client:  # no idle keep-alive connection left to hold up the server's stop
        return _turn(client.chat.completions, messages, stream)


def _turn(chat, messages: list[dict], stream: bool):
    if not stream:
        raw = chat.with_raw_response.create(model="expert", messages=messages, tools=[SHELL])
        message = raw.parse().choices[0].message
        return message.model_dump(exclude_none=True), raw.headers
    with chat.with_streaming_response.create(model="expert", messages=messages, tools=[SHELL], stream=True) as raw:
        content, calls = [], {}
        for chunk in raw.parse():
            for choice in chunk.choices:
                content.append(choice.delta.content or "")
                for call in choice.delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"id": call.id, "type": "function", "function": {}})
                    if call.function.name:
                        slot["function"]["name"] = call.function.name
                    slot["function"]["arguments"] = slot["function"].get("arguments", "") + (
                        call.function.arguments or ""
                    )
        message = {"role": "assistant", "content": "".join(content) or None}
        if calls:
            message["tool_calls"] = list(calls.values())
        return message, raw.headers


def chats(fake) -> list[str]:
    return [e["path"] for e in fake.requests_log(f"{APP}/conversations/") if e["method"] == "POST"]


def test_two_hosts_sharing_redis_continue_each_others_conversations(fake, start_server, redis_session, redis_prefix):
    env = app_env(fake, REDIS_URL=redis_session.url, REDIS_PREFIX=redis_prefix)
    hosts = [start_server(env), start_server(env)]
    messages = [{"role": "user", "content": "check the build #scenario:agent?prop=cmd&calls=3"}]
    conversation = None
    for number in range(4):
        host = hosts[number % 2]  # a load balancer alternating between the hosts
        message, headers = turn(host, messages, stream=number % 2 == 1)
        conversation = conversation or headers["x-grok-conversation-id"]
        assert headers["x-grok-conversation-id"] == conversation
        assert headers["x-grok-continuity"] == ("new" if number == 0 else "continued")
        messages.append(message)
        if number < 3:
            [call] = message["tool_calls"]
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"build step {number} ok"})
    assert messages[-1]["content"] == "Done. The tool said: build step 2 ok"
    assert chats(fake) == [NEW] + [f"{APP}/conversations/{conversation}/responses"] * 3


def test_hosts_without_a_shared_store_know_only_their_own_conversations(fake, start_server):
    first, second = start_server(app_env(fake)), start_server(app_env(fake))
    messages = [{"role": "user", "content": "hello"}]
    message, _ = turn(first, messages)
    messages += [message, {"role": "user", "content": "and then?"}]
    _, headers = turn(second, messages)
    assert headers["x-grok-continuity"] == "new"
    _, headers = turn(first, messages)
    assert headers["x-grok-continuity"] == "continued"
    assert chats(fake)[:2] == [NEW, NEW]
