"""The browser helper that extracts the challenge values (docs/configuration.md: the setup page).

`SNIPPET` is the reference's one-line devtools snippet, unchanged: it needs the
"Void" client mod on grok.com, runs grok's own request middleware for a fake
POST with `Math.random` and `Date.now` pinned and `crypto.subtle.digest` spied
on, and prints the three CHALLENGE_* lines. `bookmarklet()` does the same
extraction and copies a ready-to-run `... update-keys ...` command to the clipboard
instead (values shell-quoted). The commands are spelled for this installation
(app.ops.commands: `.venv/bin/grok-web-api` after `make run`).
"""

from __future__ import annotations

import json
from urllib.parse import quote

SNIPPET = (
    'var m=Void.findByProps("chatApi"),p=m.chatApi.configuration.middleware[0].pre,r=Math.random,'
    "d=Date.now,g=crypto.subtle.digest.bind(crypto.subtle),h;Math.random=()=>0;Date.now=()=>1e12;"
    "crypto.subtle.digest=async(a,b)=>{h=new TextDecoder().decode(b);return g(a,b)};"
    'var s=await p({url:"https://grok.com/rest/app-chat/x",init:{method:"POST",headers:{}}});'
    "Math.random=r;Date.now=d;crypto.subtle.digest=g;"
    'var t=new Uint8Array([...atob(s.init.headers["x-statsig-id"])].map(c=>c.charCodeAt(0)));'
    'console.log(`CHALLENGE_HEADER_HEX=${[...t.slice(0,49)].map(b=>b.toString(16).padStart(2,"0")).join("")}'
    '\\nCHALLENGE_SUFFIX=${h.split("!").slice(2).join("!").replace(/^-?\\d+/,"")}'
    "\\nCHALLENGE_TRAILER=${t[69]}`)"
)

_BOOKMARKLET_SOURCE = (
    "(async()=>{var r=Math.random,d=Date.now,g=crypto.subtle.digest.bind(crypto.subtle),h,s,c;"
    'try{var m=Void.findByProps("chatApi"),p=m.chatApi.configuration.middleware[0].pre;'
    "Math.random=()=>0;Date.now=()=>1e12;"
    "crypto.subtle.digest=async(a,b)=>{h=new TextDecoder().decode(b);return g(a,b)};"
    's=await p({url:"https://grok.com/rest/app-chat/x",init:{method:"POST",headers:{}}})}'
    'catch(e){alert("grok-web-api: run this on grok.com with the Void client mod installed ("+e+")");return}'
    "finally{Math.random=r;Date.now=d;crypto.subtle.digest=g}"
    'var t=new Uint8Array([...atob(s.init.headers["x-statsig-id"])].map(x=>x.charCodeAt(0))),'
    "q=v=>\"'\"+String(v).replace(/'/g,\"'\\\\''\")+\"'\";"
    'c=COMMAND+" update-keys CHALLENGE_HEADER_HEX="'
    '+[...t.slice(0,49)].map(b=>b.toString(16).padStart(2,"0")).join("")'
    '+" CHALLENGE_SUFFIX="+q(h.split("!").slice(2).join("!").replace(/^-?\\d+/,""))'
    '+" CHALLENGE_TRAILER="+t[69]+" --reload";console.log(c);'
    'try{await navigator.clipboard.writeText(c);alert("grok-web-api: the update-keys command is on the clipboard; '
    "paste it into a terminal in the server's directory.\")}"
    'catch(e){prompt("Copy this command:",c)}})()'
)


def bookmarklet_source(command: str) -> str:
    """The bookmarklet's script, copying `<command> update-keys ...` (command: app.ops.commands)."""
    return _BOOKMARKLET_SOURCE.replace("COMMAND+", json.dumps(command) + "+", 1)


def bookmarklet(command: str) -> str:
    return "javascript:" + quote(bookmarklet_source(command), safe="()=>{};,.!*'\"[]+$`/\\?:&|^")


def update_keys_command(command: str) -> str:
    return f"{command} update-keys CHALLENGE_HEADER_HEX=... CHALLENGE_SUFFIX=... CHALLENGE_TRAILER=3 --reload"


def instructions(command: str) -> str:
    """The /setup text: two instruction lines, a blank line, the snippet."""
    return (
        "Install the Void client mod, open grok.com, open the devtools console and paste this snippet; "
        f"it prints the three CHALLENGE_* lines for .env (or pipe them to `{command} update-keys --stdin --reload`).\n"
        "The snippet uses top-level await and `var`, so it is safe to re-run.\n"
        "\n" + SNIPPET
    )
