"""The WebSocket chat (/v1/chat/ws) on a pool of accounts: each new conversation a socket starts
is placed by the pool like a POST /v1/chat (an account that can serve the mode now, a refusal
moved to another account and cooled down, whether grok.com refused with a status or inside the
answer, on either chat lane), not pinned to the account the socket opened on."""

from __future__ import annotations

import pytest
import simple_websocket

from tests.integration.test_account_pool_lanes import chat_starts, spent
from tests.integration.test_native_ws import connect, events, send, turn
from tests.support.accounts import add_fake_accounts, pool_env
from tests.support.gunicorn import GunicornServer

KEY = "ws-pool-key"


@pytest.mark.parametrize("lane,limit", [("rest", "http"), ("rest", "inband"), ("ws", "inband")])
def test_new_chats_on_one_socket_go_where_the_pool_sends_them(fake, tmp_path, lane, limit):
    accounts_file = tmp_path / "accounts.json"
    # "work" comes first (the pool's default account) and has no queries left.
    add_fake_accounts(fake, accounts_file, {"work": spent(900, limit), "home": {}})
    env = pool_env(fake, accounts_file, API_KEY=KEY, GROK_CHAT_LANE=lane)
    with GunicornServer(env) as server:
        ws = connect(server, KEY)
        try:
            for _ in range(6):
                send(ws, {"type": "chat", "message": "hello"})
                frames = turn(ws)
                assert frames[-1]["type"] == "done", frames[-1]
                assert events(frames, "token") and not events(frames, "upstreamError"), frames
            # Pinned by the header, the socket's chats stay on that account, refusal and all.
            pinned = simple_websocket.Client.connect(
                server.url.replace("http", "ws") + "/v1/chat/ws",
                headers={"Authorization": f"Bearer {KEY}", "X-Grok-Account": "work"},
            )
            send(pinned, {"type": "chat", "message": "hello"})
            refused = turn(pinned)[-1]
            pinned.close()
        finally:
            ws.close()
    # home answered every chat; work was asked once (by the pool, or by the pinned socket if the
    # pool's random tie-break never fell on it), then cooled down and refused without asking.
    assert sorted(chat_starts(fake)) == [("home", False)] * 6 + [("work", True)], chat_starts(fake)
    assert refused["type"] == "error" and refused["problem"]["type"] == "rate_limited", refused
