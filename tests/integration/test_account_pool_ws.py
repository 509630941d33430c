"""The WebSocket chat (/v1/chat/ws) on a pool of accounts: each new conversation a socket starts
is placed by the pool like a POST /v1/chat (an account that can serve the mode now, a refusal
moved to another account and cooled down), not pinned to the account the socket opened on."""

from __future__ import annotations

import simple_websocket

from app.grok.accounts import Account
from app.ops.accounts import add_account
from tests.integration.test_native_ws import connect, events, send, turn
from tests.support.gunicorn import GunicornServer, app_env

APP = "/rest/app-chat"
KEY = "ws-pool-key"


def test_new_chats_on_one_socket_go_where_the_pool_sends_them(fake, tmp_path):
    accounts_file = tmp_path / "accounts.json"
    # "work" comes first (the pool's default account) and has no queries left for auto.
    for name, options in {"work": {"quota": {"auto": {"total": 0, "window": 900}}}, "home": {}}.items():
        made = fake.add_account(name, **options)
        add_account(accounts_file, Account(name, made["sso"], made["sso_rw"]))
    env = app_env(fake, GROK_SSO_COOKIE="", GROK_SSO_RW_COOKIE="", ACCOUNTS_FILE=str(accounts_file), API_KEY=KEY)
    with GunicornServer(env) as server:
        ws = connect(server, KEY)
        try:
            for _ in range(6):
                send(ws, {"type": "chat", "message": "hello"})
                frames = turn(ws)
                assert frames[-1]["type"] == "done", frames[-1]
                assert events(frames, "token")
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
    served = [(e["account"], e["status"]) for e in fake.requests_log(APP + "/conversations/new")]
    # home answered every chat; work was asked once (by the pool, or by the pinned socket if the
    # pool's random tie-break never fell on it), then cooled down and refused without asking.
    assert sorted(served) == [("home", 200)] * 6 + [("work", 429)], served
    assert refused["type"] == "error" and refused["problem"]["type"] == "rate_limited", refused
