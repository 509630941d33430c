"""Chat stream scenarios of the fake grok.com (see the package docstring for the catalogue).

A chat request picks its scenario with a marker in its text: ``#scenario:<name>[?k=v&k2=v2]``
(the LAST marker in the message wins; values are URL-decoded, so use ``%20`` or ``+`` for spaces).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.parse
import uuid

from .media import jpeg
from .wire import Resp, Stream

MARKER_RE = re.compile(r"#scenario:([A-Za-z0-9_]+)(?:\?([^\s<]*))?")

# -- canned upstream error bodies -------------------------------------------------------------------
BAD_CREDENTIALS = {"code": 16, "message": "Bad credentials. [WKE=unauthenticated:bad-credentials]", "details": []}
ANTI_BOT = {"error": {"code": 7, "message": "Request rejected by anti-bot rules.", "details": []}}
OUT_OF_DATE = {"code": 7, "message": "This page is out of date. Reload to continue.", "details": []}
INVALID_REQUEST = {"code": 3, "message": "Invalid request. Please update your client.", "details": []}
BLOCKED = {
    "code": 7,
    "message": "User is blocked: Bot abuse - free tier account limited [WKE=unauthorized:blocked-user]",
    "details": [],
}
MODEL_NOT_FOUND = {"error": {"code": 7, "message": "Model is not found", "details": []}}
TOO_MANY = {"error": {"code": 8, "message": "Too many requests", "details": []}}
USAGE_LIMIT_MSG = "You've reached your usage limit. Please try again later."
# grok.com's words refusing a request longer than the model takes (seen in public captures; how it
# arrives is not recorded, so the too_long scenario offers a 400 answer and an in-stream error).
TOO_LONG_MSG = (
    "Our apologies, your request is as expansive as the galaxy itself. Could you make it more terrestrial for us?"
)
TOO_LONG = {"code": 3, "message": TOO_LONG_MSG, "details": []}


def not_found(message: str = "Not found") -> Resp:
    return Resp(404, {"code": 5, "message": message, "details": []})


CLOUDFLARE_HTML = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
    '<meta name="robots" content="noindex,nofollow"><meta name="viewport" content="width=device-width,initial-scale=1">'
    '</head><body><div class="main-wrapper" role="main"><div class="main-content">'
    '<h1 class="zone-name-title h1">grok.com</h1><p>Verifying you are human. This may take a few seconds.</p>'
    '<noscript><div class="h2"><span id="challenge-error-text">Enable JavaScript and cookies to continue</span>'
    "</div></noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: \"grok.com\","
    "cType: 'managed'};})();</script></body></html>"
).encode()


def cloudflare_resp() -> Resp:
    return Resp(
        403,
        CLOUDFLARE_HTML,
        "text/html; charset=UTF-8",
        {"cf-mitigated": "challenge", "Cache-Control": "private, max-age=0, no-store, no-cache, must-revalidate"},
    )


# -- marker parsing ----------------------------------------------------------------------------------
class Params(dict):
    def str(self, key, default=None):
        return self.get(key, default)

    def int(self, key, default):
        try:
            return int(self[key])
        except (KeyError, ValueError):
            return default

    def float(self, key, default):
        try:
            return float(self[key])
        except (KeyError, ValueError):
            return default

    def bool(self, key, default=False):
        if key not in self:
            return default
        return self[key].lower() in ("1", "true", "yes", "on", "")


def parse_marker(text) -> tuple[str, Params]:
    """Return (scenario, params) from the LAST marker in ``text``; ('plain', {}) when none."""
    if not isinstance(text, str):
        return "plain", Params()
    found = None
    for found in MARKER_RE.finditer(text):  # noqa: B007 - the last marker wins
        pass
    if found is None:
        return "plain", Params()
    return found.group(1), Params(urllib.parse.parse_qsl(found.group(2) or "", keep_blank_values=True))


def parse_spec(spec: str) -> tuple[str, Params]:
    """'slow?n=3' -> ('slow', {'n': '3'}) (used by enqueue's ``scenario``)."""
    name, _, qs = spec.partition("?")
    return name, Params(urllib.parse.parse_qsl(qs, keep_blank_values=True))


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text or "").strip()


def split_tokens(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def split_n(text: str, n: int) -> list[str]:
    n = max(1, n)
    step = max(1, -(-len(text) // n))
    parts = [text[i : i + step] for i in range(0, len(text), step)]
    while len(parts) < n:
        parts.append("")
    return parts


# -- pre-stream (status) scenarios ----------------------------------------------------------------
def error_response(name: str, p: Params, state) -> Resp | None:
    """Scenarios answered with a non-2xx status instead of a stream (None if ``name`` is a stream)."""
    if name == "rate_limited":
        secs = p.int("retry_after", 30)
        value = email.utils.formatdate(time.time() + secs, usegmt=True) if p.bool("date") else str(secs)
        return Resp(429, TOO_MANY, headers={"Retry-After": value})
    if name == "expired":
        return Resp(p.int("status", state.config["auth_failure_status"]), BAD_CREDENTIALS)
    if name == "anti_bot":
        return Resp(403, ANTI_BOT)
    if name == "cloudflare":
        return cloudflare_resp()
    if name == "blocked":
        return Resp(403, BLOCKED)
    if name == "outdated":
        return Resp(400, INVALID_REQUEST)
    if name == "model_not_found":
        return Resp(403, MODEL_NOT_FOUND)
    if name == "too_long" and p.str("where", "status") == "status":
        return Resp(400, TOO_LONG)
    if name == "server_error":
        status = p.int("status", 500)
        if status == 502:
            return Resp(
                502,
                b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
                b"</h1></center><hr><center>cloudflare</center></body></html>",
                "text/html",
            )
        if status == 503:
            return Resp(503, {"code": 14, "message": "Service unavailable", "details": []})
        return Resp(status, {"code": 13, "message": "Internal error", "details": []})
    return None


STREAM_SCENARIOS: dict = {}
ERROR_SCENARIOS = {
    "rate_limited",
    "expired",
    "anti_bot",
    "cloudflare",
    "blocked",
    "outdated",
    "model_not_found",
    "server_error",
}


def scenario(name):
    def deco(fn):
        STREAM_SCENARIOS[name] = fn
        return fn

    return deco


def known(name: str) -> bool:
    return name in STREAM_SCENARIOS or name in ERROR_SCENARIOS or name == "slow_headers"


# -- the chat writer ------------------------------------------------------------------------------
class Cancelled(Exception):
    """stop-inflight-responses / DELETE inflight-response hit this response."""


class Chat:
    """Writes one chat answer in the right framing.

    framing: ``new`` (conversation line + ``result.response`` payloads), ``cont`` (payloads directly under
    ``result``: continuation), ``response`` (``result.response`` payloads, no conversation/userResponse
    lines: quick-answer and reconnect).
    """

    def __init__(
        self,
        stream: Stream,
        state,
        framing: str,
        conv: dict | None,
        user_resp: dict | None,
        model_resp: dict,
        message: str,
        params: Params,
        cancel=None,
        title: str | None = None,
    ):
        self.s = stream
        self.state = state
        self.framing = framing
        self.conv = conv
        self.user_resp = user_resp
        self.model_resp = model_resp
        self.rid = model_resp["responseId"]
        self.message = message
        self.p = params
        self.cancel = cancel
        self.title = title
        self.answer: list[str] = []
        self.extra_model: dict = {}

    # framing
    def resp(self, payload: dict):
        if self.framing == "cont":
            self.s.line({"result": payload})
        else:
            self.s.line({"result": {"response": payload}})

    def check_cancel(self):
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    def wait(self, seconds: float):
        self.check_cancel()
        self.s.wait(seconds, self.cancel)
        self.check_cancel()

    def token(self, text: str, thinking: bool = False, tag: str = "final", store: bool = True, **extra):
        """One token line; `store=False` leaves the stored message to the epilogue (re-joining the
        whole answer per token is quadratic: minutes for a 40 MB answer)."""
        self.check_cancel()
        payload = {
            "token": text,
            "isThinking": thinking,
            "isSoftStop": False,
            "responseId": self.rid,
            "messageTag": tag,
        }
        payload.update(extra)
        self.resp(payload)
        if not thinking and tag == "final":
            self.answer.append(text)
            if store:
                self.model_resp["message"] = "".join(self.answer)

    def tokens(self, parts, **kw):
        for t in parts:
            self.token(t, **kw)

    def prologue(self):
        if self.framing == "new":
            self.s.line({"result": {"conversation": self.conv}})
        if self.framing in ("new", "cont") and self.user_resp is not None:
            if self.framing == "cont":
                self.resp({"userResponse": self.user_resp})
            else:
                self.resp(
                    {
                        "userResponse": self.user_resp,
                        "isThinking": False,
                        "isSoftStop": False,
                        "responseId": self.user_resp["responseId"],
                    }
                )
        self.resp(
            {
                "uiLayout": {
                    "reasoningUiLayout": "FUNCTION_CALL",
                    "willThinkLong": False,
                    "effort": "LOW",
                    "steerModelId": "grok-4",
                    "rolloutIds": self.p.get("_rollouts", []),
                },
                "isThinking": False,
                "isSoftStop": False,
                "responseId": self.rid,
            }
        )

    def model_response_obj(self, partial: bool = False) -> dict:
        mr = dict(self.model_resp)
        mr["message"] = "".join(self.answer)
        mr["partial"] = partial
        mr.update(self.extra_model)
        self.model_resp.update(message=mr["message"], partial=partial, **self.extra_model)
        return mr

    def epilogue(self, partial: bool = False):
        payload = {"modelResponse": self.model_response_obj(partial)}
        if self.framing != "cont":
            payload.update(isThinking=False, isSoftStop=False, responseId=self.rid)
        self.resp(payload)
        if self.framing == "new" and self.title:
            self.s.line({"result": {"title": {"newTitle": self.title}}})
        self.resp({"token": "", "isThinking": False, "isSoftStop": True, "responseId": self.rid})
        self.s.finish()

    def default_text(self) -> str:
        said = strip_markers(self.message).splitlines()
        said = said[-1].strip() if said else ""
        if len(said) > 60:
            said = said[:57] + "..."
        text = f"Hello from fake grok. You said: {said}" if said else "Hello from fake grok."
        attached = self.p.get("_attachments")
        return f"{text} Attachments: {', '.join(attached)}." if attached else text


def run_stream(chat: Chat, name: str):
    """Run a stream scenario; handles stop/cancel (answer ends early with partial=true)."""
    fn = STREAM_SCENARIOS.get(name, STREAM_SCENARIOS["plain"])
    if name == "multi_agent":
        chat.p["_rollouts"] = agents(chat.p)
    try:
        chat.prologue()
        done = fn(chat, chat.p)
        if done is not True:
            chat.epilogue()
    except Cancelled:
        chat.epilogue(partial=True)


# -- stream scenarios -------------------------------------------------------------------------------
@scenario("plain")
def _plain(c: Chat, p: Params):
    text = p.str("text")
    n = p.int("tokens", 0)
    if text is None and n > 0:
        parts = [f"w{i} " for i in range(n)]
    else:
        text = c.default_text() if text is None else text
        parts = split_n(text, n) if n > 0 else split_tokens(text)
    c.tokens(parts)


@scenario("gzip")
def _gzip(c: Chat, p: Params):
    _plain(c, p)


@scenario("slow_headers")
def _slow_headers(c: Chat, p: Params):
    _plain(c, p)


@scenario("thinking")
def _thinking(c: Chat, p: Params):
    thoughts = ["Let me ", "think about ", "this ", "carefully."]
    for t in thoughts:
        c.token(t, thinking=True, tag="analysis", messageStepId=0)
    c.tokens(split_tokens(p.str("text") or "After thinking: the answer is 42."))


def agents(p: Params) -> list[str]:
    return [a for a in (p.str("agents") or "Grok,Harper").split(",") if a]


@scenario("multi_agent")
def _multi_agent(c: Chat, p: Params):
    names = agents(p)
    steps = ["Reading the question. ", "Checking sources. ", "Drafting notes. "]
    for i, step in enumerate(steps):
        for name in names:
            c.token(f"[{name}] {step}", thinking=True, tag="analysis", rolloutId=name, messageStepId=i)
    c.tokens(split_tokens(p.str("text") or "The agents agree: the answer is 42."))


@scenario("search")
def _search(c: Chat, p: Params):
    query = p.str("query") or strip_markers(c.message)[:80] or "fake grok"
    if p.bool("tool_card", True):
        card = {"toolUsageCardId": "tuc-1", "webSearch": {"args": {"query": query}}}
        c.token(
            "<xai:tool_usage_card><xai:tool_usage_card_id>tuc-1</xai:tool_usage_card_id>"
            '<xai:tool_name>web_search</xai:tool_name><xai:tool_args><![CDATA[{"query":'
            + json.dumps(query)
            + "}]]></xai:tool_args></xai:tool_usage_card>",
            thinking=True,
            tag="tool_usage_card",
            toolUsageCardId="tuc-1",
            toolUsageCard=card,
        )
    results = [
        {
            "url": "https://example.com/a",
            "title": "Example A",
            "preview": "Preview of A",
            "searchEngineText": "A is true.",
            "description": "About A",
            "siteName": "Example",
            "metadataTitle": "Example A",
            "creator": "",
            "image": "",
            "favicon": "https://example.com/favicon.ico",
            "citationId": "0",
        },
        {
            "url": "https://example.org/b",
            "title": "Example B",
            "preview": "Preview of B",
            "searchEngineText": "B is also true.",
            "description": "About B",
            "siteName": "Example Org",
            "metadataTitle": "Example B",
            "creator": "",
            "image": "",
            "favicon": "",
            "citationId": "1",
        },
    ]
    xres = [
        {
            "username": "grok",
            "name": "Grok",
            "text": "A post about A",
            "postId": "1790000000000000001",
            "createTime": "2026-01-01T00:00:00Z",
            "viewCount": 1234,
            "profileImageUrl": "",
        }
    ]
    c.resp(
        {
            "webSearchResults": {"results": results},
            "isThinking": True,
            "isSoftStop": False,
            "responseId": c.rid,
            "messageTag": "raw_function_result",
        }
    )
    c.resp(
        {
            "xSearchResults": {"results": xres},
            "isThinking": True,
            "isSoftStop": False,
            "responseId": c.rid,
            "messageTag": "raw_function_result",
        }
    )
    cite = {"id": "c1", "type": "render_inline_citation", "cardType": "citation_card", "url": results[0]["url"]}
    c.resp(
        {
            "cardAttachment": {"jsonData": json.dumps(cite, separators=(",", ":"))},
            "isThinking": False,
            "isSoftStop": False,
            "responseId": c.rid,
            "messageTag": "final",
        }
    )
    c.token("According to the source, A is true")
    c.token('<grok:render card_id="c1" card_type="citation_card" type="render_inline_citation">')
    c.token('<argument name="citation_id">0</argument></grok:render>')
    c.token(". Done.")
    c.extra_model.update(
        webSearchResults=results,
        citedWebSearchResults=[results[0]],
        xposts=xres,
        xpostIds=[x["postId"] for x in xres],
        cardAttachmentsJson=[json.dumps(cite, separators=(",", ":"))],
    )


def _publish_images(c: Chat, ids: list[str], moderated: set, size: int, tag_prefix: str = ""):
    """Put every preview and final image of this answer on the asset host (moderated finals are withheld,
    as grok.com does)."""
    uid = c.state.config["user_id"]
    with c.state.lock:
        for idx, image_id in enumerate(ids):
            for part in (0, 1):
                path = f"users/{uid}/generated/{image_id}-part-{part}/image.jpg"
                c.state.store.assets[path] = (jpeg(f"{tag_prefix}{image_id}-part-{part}", size), "image/jpeg")
            if idx not in moderated:
                path = f"users/{uid}/generated/{image_id}/image.jpg"
                c.state.store.assets[path] = (jpeg(f"{tag_prefix}{image_id}", size), "image/jpeg")


@scenario("image")
def _image(c: Chat, p: Params):
    count = max(1, p.int("count", 2))
    # moderated=1: the second image is moderated; moderated=all: every image is
    moderated = set(range(count)) if p.get("moderated") == "all" else {1} if p.bool("moderated") else set()
    uid = c.state.config["user_id"]
    ids = [str(uuid.uuid4()) for _ in range(count)]
    _publish_images(c, ids, moderated, p.int("bytes", 0), p.get("_tag_prefix", ""))
    final_urls = []
    for progress in (0, 50, 100):
        for idx, image_id in enumerate(ids):
            modded = idx in moderated and progress == 100
            if progress < 100:
                url = f"users/{uid}/generated/{image_id}-part-{progress // 50}/image.jpg"
            else:
                url = f"users/{uid}/generated/{image_id}/image.jpg"
            c.resp(
                {
                    "streamingImageGenerationResponse": {
                        "imageId": image_id,
                        "imageUrl": url,
                        "seq": progress // 50,
                        "progress": progress,
                        "moderated": modded,
                        "imageIndex": idx,
                        "assetId": image_id,
                        "imageModel": "imagine",
                        "rRated": False,
                        "sideBySideIndex": 0,
                        "hasWatermark": True,
                        "isFinal": progress == 100,
                    },
                    "isThinking": False,
                    "isSoftStop": False,
                    "responseId": c.rid,
                    "messageTag": "final",
                }
            )
            if progress == 100 and not modded:
                final_urls.append(url)
    cards = []
    for idx, image_id in enumerate(ids):
        modded = idx in moderated
        card = {
            "id": f"img{idx}",
            "type": "render_generated_image",
            "cardType": "generated_image_card",
            "image_chunk": {
                "imageUuid": image_id,
                "imageUrl": f"users/{uid}/generated/{image_id}/image.jpg",
                "progress": 100,
                "moderated": modded,
            },
        }
        cards.append(json.dumps(card, separators=(",", ":")))
        c.resp(
            {
                "cardAttachment": {"jsonData": cards[-1]},
                "isThinking": False,
                "isSoftStop": False,
                "responseId": c.rid,
                "messageTag": "final",
            }
        )
    c.token(p.get("_caption", "Here are your images: "))
    for idx in range(count):
        c.token(
            f'<grok:render card_id="img{idx}" card_type="generated_image_card" type="render_generated_image">'
            '<argument name="index">' + str(idx) + "</argument></grok:render>"
        )
    c.extra_model.update(generatedImageUrls=final_urls, cardAttachmentsJson=cards)
    with c.state.lock:
        for idx, image_id in enumerate(ids):
            c.state.store.images.append(
                {
                    "imageId": image_id,
                    "imageUrl": f"users/{uid}/generated/{image_id}/image.jpg",
                    "prompt": strip_markers(c.message),
                    "moderated": idx in moderated,
                    "conversationId": (c.conv or {}).get("conversationId", c.model_resp.get("conversationId")),
                    "responseId": c.rid,
                    "createTime": c.model_resp.get("createTime"),
                }
            )


@scenario("image_edit")
def _image_edit(c: Chat, p: Params):
    """``mediaGenInput.imageToImage``: the image stream of ``image``; each result's JPEG comment names
    the SHA-256 of the first input (``edit-of-<sha256>:<imageId>``) so tests can check what was edited."""
    inputs = p.get("_inputs") or ["no-input"]
    p["_tag_prefix"] = f"edit-of-{inputs[0]}:"
    p["_caption"] = "Here is the edited image: "
    p.setdefault("count", "1")
    _image(c, p)


@scenario("artifact")
def _artifact(c: Chat, p: Params):
    content = p.str("content") or 'print("hello from a fake artifact")\n'
    conv_id = c.model_resp.get("conversationId")
    with c.state.lock:
        art = c.state.store.new_artifact(p.str("title") or "hello.py", "code", content, conv_id, c.rid)
    c.token("Here is the code: ")
    c.tokens(
        split_tokens(
            f'<xaiArtifact artifact_id="{art["artifactId"]}" artifact_version_id='
            f'"{art["versions"][0]["artifactVersionId"]}" title="{art["title"]}" '
            f'contentType="text/python">{content}</xaiArtifact>',
            16,
        )
    )


@scenario("tool_call")
def _tool_call(c: Chat, p: Params):
    text = p.str("text") or '<tool_call>{"name":"fn_0","arguments":{"city":"Paris"}}</tool_call>'
    c.tokens(split_tokens(text, 5))


@scenario("slow")
def _slow(c: Chat, p: Params):
    n, delay = p.int("n", 20), p.float("delay", 0.1)
    for i in range(n):
        if i:
            c.wait(delay)
        c.token(f"s{i} ")


@scenario("long")
def _long(c: Chat, p: Params):
    # Throughput and backpressure tests: the stored message is updated at the end only.
    n, size = p.int("n", 5000), max(1, p.int("size", 8))
    for i in range(n):
        t = f"L{i} "
        c.token((t + "x" * size)[:size] if size >= len(t) else t[:size], store=False)


@scenario("first_token_delay")
def _first_token_delay(c: Chat, p: Params):
    c.wait(p.float("delay", 2.0))
    c.tokens(split_tokens(p.str("text") or "Finally, the first token."))


@scenario("idle")
def _idle(c: Chat, p: Params):
    c.token("Before the gap. ")
    c.wait(p.float("gap", 600.0))
    c.token("After the gap.")


@scenario("empty_answer")
def _empty_answer(c: Chat, p: Params):
    return None


def _inband(c: Chat, err: dict, where: str, extra: dict | None = None):
    if where == "top":
        c.s.line({"error": err})
    else:
        payload = {"error": err, "isThinking": False, "isSoftStop": False, "responseId": c.rid}
        payload.update(extra or {})
        c.resp(payload)
    c.s.finish()
    return True


@scenario("inband_error")
def _inband_error(c: Chat, p: Params):
    c.tokens(["Partial ", "answer ", "then "])
    msg = p.str("message") or (
        "Stream aborted by server or connection error: Status { code: ResourceExhausted, "
        'message: "Admission denied by perf_based_admission_controller" } (is_first_token: false)'
    )
    err = {
        "message": msg,
        "code": p.int("code", 8),
        "details": [],
        "modelNotAvailable": {},
        "severity": "STREAM_ERROR_SEVERITY_NORMAL",
    }
    return _inband(c, err, p.str("where", "response"))


@scenario("usage_limit")
def _usage_limit(c: Chat, p: Params):
    card = {"image_chunk": {"progress": 100, "systemErrCode": "rate_limit"}}
    return _inband(
        c,
        {"message": USAGE_LIMIT_MSG},
        p.str("where", "response"),
        {"cardAttachment": {"jsonData": json.dumps(card, separators=(",", ":"))}},
    )


@scenario("too_long")
def _too_long(c: Chat, p: Params):
    # where=response|top: refused inside the answer stream, before any token (status: above)
    return _inband(c, dict(TOO_LONG), p.str("where", "response"))


@scenario("drop")
def _drop(c: Chat, p: Params):
    c.tokens(["Dropping ", "the ", "connection "])
    c.s.drop(rst=p.bool("rst"))
    return True


@scenario("malformed")
def _malformed(c: Chat, p: Params):
    c.tokens(["Before ", "garbage. "])
    c.s.line(b'{"result": this is not json')
    c.tokens(["After ", "garbage."])


@scenario("huge_line")
def _huge_line(c: Chat, p: Params):
    size = p.int("size", 16 * 1024 * 1024 + 1)
    c.token("Huge line next. ")
    if c.framing == "cont":
        head = b'{"result":{"token":"'
    else:
        head = b'{"result":{"response":{"token":"'
    tail = b'","isThinking":false,"isSoftStop":false,"responseId":"' + c.rid.encode() + b'","messageTag":"final"}'
    tail += b"}" if c.framing == "cont" else b"}}"
    pad = max(0, size - len(head) - len(tail))
    c.s.big_line(head + b"y" * pad + tail)  # not added to the stored answer (keeps reconnect/logs small)
    c.token(" After the huge line.")


@scenario("invalid_utf8")
def _invalid_utf8(c: Chat, p: Params):
    c.token("Valid start. ")
    frame = (
        b'{"result":{"token":"bad \xff\xfe\xc3( bytes","isThinking":false,"isSoftStop":false}}'
        if c.framing == "cont"
        else b'{"result":{"response":{"token":"bad \xff\xfe\xc3( bytes","isThinking":false,"isSoftStop":false}}}'
    )
    c.s.line(frame)
    c.token("Valid end.")
