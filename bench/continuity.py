"""Benchmark: a 20-turn agent loop with and without conversation continuity (docs/continuity.md).

A client like a coding agent: a ~20 KB system prompt, four tools, one tool call per turn with
a ~1 KB result, streamed chat completions, the whole history sent every time. For each turn:
the bytes of the request the server sent grok.com (the fake's request log) and the client's
time to first token (first content or tool-call chunk). Run once as is (continuity on) and once
with `X-Grok-Continuity: off` (every turn a new conversation carrying the flattened history).

    python -m bench --only continuity
"""

from __future__ import annotations

import http.client
import json
import statistics
import time

TURNS = 20
SYSTEM_PROMPT = ("You are a careful coding agent working in a repository. Follow the rules. " * 280)[:20_000]
RESULT = ("src/module.py:42: def handler(request): return respond(request.json)\n" * 15)[:1_000]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} in the workspace",
            "parameters": {"type": "object", "properties": {prop: {"type": "string"}}, "required": [prop]},
        },
    }
    for name, prop in (("exec_command", "cmd"), ("read_file", "path"), ("write_file", "path"), ("search", "query"))
]
CHATS = ("/rest/app-chat/conversations/new", "/responses")


def _turn(host: str, port: int, messages: list[dict], headers: dict) -> tuple[float | None, dict]:
    """One streamed completion: (ms to the first content or tool-call chunk, the assistant message)."""
    body = {"model": "expert", "stream": True, "messages": messages, "tools": TOOLS}
    conn = http.client.HTTPConnection(host, port, timeout=60)
    start = time.perf_counter()
    first = None
    content, calls = [], {}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        for raw in resp:
            if not raw.startswith(b"data: {"):
                continue
            for choice in json.loads(raw[6:])["choices"]:
                delta = choice["delta"]
                if (delta.get("content") or delta.get("tool_calls")) and first is None:
                    first = (time.perf_counter() - start) * 1000
                content.append(delta.get("content") or "")
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(call["index"], {"id": call.get("id"), "type": "function", "function": {}})
                    fn = call.get("function") or {}
                    slot["function"]["name"] = fn.get("name") or slot["function"].get("name")
                    slot["function"]["arguments"] = slot["function"].get("arguments", "") + fn.get("arguments", "")
    finally:
        conn.close()
    message = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return first, message


def agent_loop(host: str, port: int, fake, continuity: bool, turns: int = TURNS) -> list[dict]:
    """One loop of `turns` tool rounds and the final answer; a row per turn."""
    headers = {"content-type": "application/json"}
    if not continuity:
        headers["X-Grok-Continuity"] = "off"
    marker = f"#scenario:agent?prop=cmd&calls={turns}&args=%7B%22cmd%22%3A%22make%20test%22%7D"
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "fix the tests " + marker}]
    rows = []
    for turn in range(turns + 1):
        fake.clear()
        ttft, message = _turn(host, port, messages, headers)
        sent = [e for e in fake.requests_log() if e["method"] == "POST" and e["path"].endswith(CHATS)]
        rows.append({"turn": turn + 1, "upstream_bytes": sum(e["bytes"] for e in sent), "ttft_ms": ttft})
        messages.append(message)
        if not message.get("tool_calls"):
            break
        for call in message["tool_calls"]:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"turn {turn}\n{RESULT}"})
    return rows


def run_continuity(host: str, port: int, fake, turns: int = TURNS) -> dict:
    """Both loops, per turn, and a summary row for each."""
    agent_loop(host, port, fake, True, 2)  # warm-up, not reported
    out = {}
    for name, on in (("continuity", True), ("flattened", False)):
        rows = agent_loop(host, port, fake, on, turns)
        sizes = [r["upstream_bytes"] for r in rows]
        ttfts = [r["ttft_ms"] for r in rows if r["ttft_ms"] is not None]
        out[name] = {
            "turns": len(rows),
            "first_turn_bytes": sizes[0],
            "last_turn_bytes": sizes[-1],
            "total_upstream_kb": round(sum(sizes) / 1024, 1),
            "ttft_ms_p50": statistics.median(ttfts) if ttfts else None,
            "ttft_ms_last": ttfts[-1] if ttfts else None,
            "per_turn": rows,
        }
    return out


def per_turn_table(result: dict) -> dict:
    """Turn -> bytes and TTFT of both loops side by side, for print_table."""
    table = {}
    cont, flat = result["continuity"]["per_turn"], result["flattened"]["per_turn"]
    for a, b in zip(cont, flat, strict=False):
        table[f"turn {a['turn']}"] = {
            "bytes_continuity": a["upstream_bytes"],
            "bytes_flattened": b["upstream_bytes"],
            "ttft_ms_continuity": a["ttft_ms"],
            "ttft_ms_flattened": b["ttft_ms"],
        }
    return table
