"""The /rest/ surface of the fake grok.com: an in-memory store and one function per upstream endpoint.

Every route function takes a ``Req`` and returns a ``Resp`` (plain body) or a ``StreamResp``. Route
functions run with ``state.lock`` held; stream bodies run after it is released.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
import uuid
from datetime import datetime, timezone

from . import (
    agents,  # noqa: F401 (registers the agent scenarios)
    build,
    threads,
)
from . import scenarios as sc
from .scenarios import INVALID_REQUEST, MODEL_NOT_FOUND, Chat, Params, not_found
from .wire import Resp, Stream, StreamResp

APP = "/rest/app-chat"

KNOWN_MODELS = [
    "grok-2",
    "grok-3",
    "grok-3-mini",
    "grok-3-mini-fast",
    "grok-3-auto",
    "grok-3-reasoning",
    "grok-4",
    "grok-4-mini",
    "grok-4-auto",
    "grok-4-heavy",
    "grok-4.1-fast-reasoning",
    "grok-4.1-fast-non-reasoning",
    "grok-4.20-0309-reasoning",
    "grok-4.20-0309-non-reasoning",
    "grok-4.20-multi-agent-0309",
    "grok-code-fast-1",
    "grok-imagine-image",
    "grok-imagine-image-pro",
    "grok-imagine-video",
    "imagine-image-edit",
    "imagine-video-gen",
    "grok-latest",
]

# proto3-JSON-like type checks on the chat bodies (null is always accepted, unknown keys are ignored)
_BOOL = {
    "temporary",
    "disableSearch",
    "enableImageGeneration",
    "returnImageBytes",
    "returnRawGrokInXaiRequest",
    "enableImageStreaming",
    "forceConcise",
    "enableSideBySide",
    "sendFinalMetadata",
    "isReasoning",
    "disableTextFollowUps",
    "disableArtifact",
    "disableArtifactDiff",
    "doForceTriggerArtifact",
    "isFromGrokFiles",
    "disableMemory",
    "forceSideBySide",
    "skipResponseCache",
    "isAsyncChat",
    "enableNsfw",
    "isKidsMode",
    "isRegenRequest",
    "disableSelfHarmShortCircuit",
    "searchAllConnectors",
    "disablePersonalization",
    "skipCancelCurrentInflightRequests",
    "isPreset",
}
_STR = {
    "message",
    "modelName",
    "customInstructions",
    "customPersonality",
    "deepsearchPreset",
    "systemPromptName",
    "threadParentId",
    "modelMode",
    "companionId",
    "modelOverrideKey",
    "modeId",
    "imageEditUri",
    "selectedFileTextContent",
    "templateId",
    "imagineProjectId",
    "parentResponseId",
    "parentQuotedText",
    "followUpType",
    "resumeResponseId",
    "query",
}
_STR_LIST = {
    "fileAttachments",
    "webpageUrls",
    "imageEditUris",
    "enabledSkills",
    "workspaceIds",
    "modelsUserCanUse",
    "collectionIds",
    "connectorIds",
    "disabledConnectorIds",
}
_LIST = {"imageAttachments", "connectors", "highlightsStoryRequests"}
_INT = {"imageGenerationCount", "selectedFileTextContentStartPosition", "selectedFileTextContentEndPosition"}
_OBJ = {"toolOverrides", "responseMetadata", "deviceEnvInfo", "browserGeoLocation", "metadata", "mediaGenInput"}
IMAGE_EDIT_MODEL = "imagine-image-edit"


def iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(uuid.uuid4())


def invalid(req, reason: str) -> Resp:
    req.entry["reject"] = reason
    return Resp(400, INVALID_REQUEST)


class Req:
    def __init__(self, handler, state, method, path, query, headers, body: bytes, json_value, entry):
        self.handler = handler
        self.state = state
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.json = json_value
        self.entry = entry
        self.params: dict = {}
        self.forced_scenario: str | None = None

    def q(self, name, default=None):
        vals = self.query.get(name)
        return vals[0] if vals else default

    def obj(self) -> dict | None:
        """The JSON body as an object; an absent/empty/null body counts as {}."""
        if self.json is None:
            return {}
        return self.json if isinstance(self.json, dict) else None


# -- store ------------------------------------------------------------------------------------------
class Store:
    def __init__(self):
        self.reset()

    def reset(self):
        self.conversations: dict[str, dict] = {}
        self.responses: dict[str, dict] = {}
        self.share_links: dict[str, dict] = {}
        self.shared_artifacts: dict[str, dict] = {}
        self.memories: dict[str, dict] = {}
        self.artifacts: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self.files: dict[str, dict] = {}
        self.images: list[dict] = []
        # asset host: path -> (bytes, content type); see media.py
        self.assets: dict[str, tuple[bytes, str]] = {}
        self.inflight: dict[str, tuple[str | None, threading.Event]] = {}
        self.chat_times: list[float] = []
        self.drive_files = [
            {
                "id": "gdrive-demo-1",
                "name": "Quarterly report.docx",
                "mimeType": "application/vnd.google-apps.document",
                "modifiedTime": "2026-01-02T10:00:00Z",
                "webViewLink": "https://docs.google.com/document/d/gdrive-demo-1",
            },
            {
                "id": "gdrive-demo-2",
                "name": "Budget.xlsx",
                "mimeType": "application/vnd.google-apps.spreadsheet",
                "modifiedTime": "2026-01-03T11:00:00Z",
                "webViewLink": "https://docs.google.com/spreadsheets/d/gdrive-demo-2",
            },
        ]
        for mid, content in (
            ("mem-demo-1", "The user likes concise answers."),
            ("mem-demo-2", "The user is writing tests against a fake grok."),
        ):
            self.memories[mid] = {
                "memoryId": mid,
                "companionId": "companion-demo",
                "content": content,
                "createTime": iso(1767225600),
                "conversationId": None,
                "_deleted": False,
            }
        art = self.new_artifact(
            "demo.py", "code", 'print("demo")\n', None, None, artifact_id="art-demo", version_id="artv-demo-1"
        )
        self.shared_artifacts["shared-art-demo"] = {
            "sharedArtifactId": "shared-art-demo",
            "artifactId": art["artifactId"],
            "artifactVersionId": "artv-demo-1",
            "title": art["title"],
            "artifactType": "code",
            "content": 'print("demo")\n',
        }

    # conversations / responses
    def new_conversation(self, body: dict) -> dict:
        now = iso()
        cid = new_id()
        conv = {
            "conversationId": cid,
            "title": "New conversation",
            "starred": False,
            "createTime": now,
            "modifyTime": now,
            "systemPromptName": body.get("systemPromptName") or "",
            "temporary": bool(body.get("temporary")),
            "mediaTypes": [],
            "workspaces": list(body.get("workspaceIds") or []),
            "taskResult": {},
            "_deleted": False,
            "_responses": [],
        }
        threads.touch(conv)
        self.conversations[cid] = conv
        return conv

    def new_response(self, conv_id, sender, message, parent, body: dict | None = None) -> dict:
        body = body or {}
        r = {
            "responseId": new_id(),
            "conversationId": conv_id,
            "message": message,
            "sender": sender,
            "createTime": iso(),
            "parentResponseId": parent or "",
            "manual": False,
            "partial": False,
            "shared": False,
            "query": "",
            "queryType": "",
            "webSearchResults": [],
            "xpostIds": [],
            "xposts": [],
            "generatedImageUrls": [],
            "imageAttachments": list(body.get("imageAttachments") or []),
            "fileAttachments": list(body.get("fileAttachments") or []),
            "cardAttachmentsJson": [],
            "fileUris": [],
            "fileAttachmentsMetadata": [],
            "isControl": False,
            "steps": [],
            "imageEditUris": [],
            "mediaTypes": [],
            "webpageUrls": list(body.get("webpageUrls") or []),
            "citedWebSearchResults": [],
            "streamErrors": [],
            "threadParentId": body.get("threadParentId") or "",
        }
        self.responses[r["responseId"]] = r
        if conv_id in self.conversations:
            self.conversations[conv_id]["_responses"].append(r["responseId"])
            self.conversations[conv_id]["modifyTime"] = r["createTime"]
            threads.touch(self.conversations[conv_id])
        return r

    def live_conv(self, cid) -> dict | None:
        conv = self.conversations.get(cid)
        return conv if conv is not None and not conv["_deleted"] else None

    def delete_conversation(self, cid):
        conv = self.conversations.pop(cid, None)
        if conv:
            for rid in conv["_responses"]:
                self.responses.pop(rid, None)

    def new_artifact(self, title, kind, content, conv_id, response_id, artifact_id=None, version_id=None) -> dict:
        aid = artifact_id or new_id()
        vid = version_id or new_id()
        ver = {"artifactVersionId": vid, "artifactId": aid, "content": content, "createTime": iso()}
        art = {
            "artifactId": aid,
            "title": title,
            "artifactType": kind,
            "createTime": ver["createTime"],
            "conversationId": conv_id,
            "responseId": response_id,
            "versions": [ver],
        }
        self.artifacts[aid] = art
        self.versions[vid] = ver
        return art


def pub(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def conv_pub(conv: dict) -> dict:
    return pub(conv)


def artifact_pub(art: dict) -> dict:
    out = {k: v for k, v in art.items() if k != "versions"}
    out["versions"] = [
        {"artifactVersionId": v["artifactVersionId"], "createTime": v["createTime"]} for v in art["versions"]
    ]
    out["latestVersionId"] = art["versions"][-1]["artifactVersionId"]
    return out


def paginate(req, items: list, key: str):
    """pageSize (1..100, default 60) / opaque pageToken; returns a body dict or an error Resp."""
    raw_size = req.q("pageSize")
    try:
        size = 60 if raw_size in (None, "") else int(raw_size)
    except ValueError:
        return invalid(req, "pageSize")
    if size <= 0 or size > 100:
        return invalid(req, "pageSize_range")
    token = req.q("pageToken")
    start = 0
    if token:
        try:
            kind, _, off = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
            start = int(off)
            if kind != key or start < 0:
                raise ValueError
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return invalid(req, "pageToken")
    page = items[start : start + size]
    body = {key: page}
    if start + size < len(items):
        body["nextPageToken"] = base64.urlsafe_b64encode(f"{key}:{start + size}".encode()).decode().rstrip("=")
    return body


def bool_q(req, name) -> bool | None | Resp:
    v = req.q(name)
    if v is None:
        return None
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    return invalid(req, f"{name}_not_bool")


# -- chat ---------------------------------------------------------------------------------------------
def check_chat_body(req, body) -> Resp | None:
    if not isinstance(body, dict):
        return invalid(req, "body_not_object")
    for k, v in body.items():
        if v is None:
            continue
        bad = (
            (k in _BOOL and not isinstance(v, bool))
            or (k in _STR and not isinstance(v, str))
            or (k in _INT and (isinstance(v, bool) or not isinstance(v, (int, str))))
            or (k in _LIST and not isinstance(v, list))
            or (k in _OBJ and not isinstance(v, dict))
            or (k in _STR_LIST and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)))
        )
        if bad:
            return invalid(req, f"field_type:{k}")
    model = body.get("modelName")
    known = req.state.config.get("known_models")
    if model and known is not None and model not in known:
        req.entry["reject"] = "model_not_found"
        return Resp(403, MODEL_NOT_FOUND)
    return None


def pick_scenario(req, text, default: str = "plain") -> tuple[str, Params] | Resp:
    if req.forced_scenario:
        name, params = sc.parse_spec(req.forced_scenario)
    elif isinstance(text, str) and sc.MARKER_RE.search(text):
        name, params = sc.parse_marker(text)
    else:
        name, params = default, Params()
    req.entry["scenario"] = name
    if not sc.known(name):
        req.entry["reject"] = f"unknown_scenario:{name}"
        return Resp(400, {"code": 3, "message": f"fakegrok: unknown scenario {name!r}", "details": []})
    return name, params


def chat_stream(req, framing, name, params, conv, user_resp, model_resp, message, title=None) -> StreamResp:
    state = req.state
    cancel = threading.Event()
    state.store.inflight[model_resp["responseId"]] = (model_resp.get("conversationId"), cancel)
    state.store.chat_times.append(time.time())

    def run(stream: Stream):
        try:
            if name == "slow_headers":
                stream.wait(params.float("delay", 2.0))
            stream.start(200, "application/json", gzip=(name == "gzip"))
            chat = Chat(stream, state, framing, conv, user_resp, model_resp, message, params, cancel, title)
            sc.run_stream(chat, name)
        finally:
            with state.lock:
                state.store.inflight.pop(model_resp["responseId"], None)

    return StreamResp(run, name)


def check_attachments(req, body) -> Resp | None:
    """fileAttachments must name files uploaded to this account."""
    files = req.state.store.files
    for fid in body.get("fileAttachments") or []:
        if fid not in files:
            return invalid(req, "unknown_file_attachment")
    return None


def image_edit_inputs(req, body) -> list[dict] | Resp | None:
    """The uploaded files an image-edit request (``mediaGenInput.imageToImage``) works on; None when
    the request is not an image edit."""
    media = body.get("mediaGenInput")
    if media is None:
        return None
    edit = media.get("imageToImage")
    if not isinstance(edit, dict):
        return invalid(req, "mediaGenInput_kind")
    if body.get("modelName") != IMAGE_EDIT_MODEL:
        return invalid(req, "image_edit_model")
    assets = edit.get("inputAssets")
    if not isinstance(edit.get("prompt"), str) or not isinstance(assets, list) or not assets:
        return invalid(req, "image_edit_fields")
    inputs = []
    for fid in assets:
        meta = req.state.store.files.get(fid) if isinstance(fid, str) else None
        if meta is None:
            return invalid(req, "image_edit_unknown_asset")
        if not meta["fileMimeType"].startswith("image/"):
            return invalid(req, "image_edit_not_image")
        inputs.append(meta)
    return inputs


def default_scenario(body, edit_inputs) -> str:
    if edit_inputs:
        return "image_edit"
    if (body.get("toolOverrides") or {}).get("imageGen") is True:
        return "image"  # the image tool was forced on
    return "plain"


def chat_new(req):
    body = req.json
    err = check_chat_body(req, body)
    if err:
        return err
    if not isinstance(body.get("message"), str):
        return invalid(req, "message_required")
    err = check_attachments(req, body)
    if err:
        return err
    edit_inputs = image_edit_inputs(req, body)
    if isinstance(edit_inputs, Resp):
        return edit_inputs
    picked = pick_scenario(req, body["message"], default_scenario(body, edit_inputs))
    if isinstance(picked, Resp):
        return picked
    name, params = picked
    if name in ("image", "image_edit"):
        if "count" not in params and body.get("imageGenerationCount") is not None:
            params["count"] = str(body["imageGenerationCount"])
        params["_inputs"] = [meta["sha256"] for meta in edit_inputs or []]
    params["_attachments"] = [req.state.store.files[f]["fileName"] for f in body.get("fileAttachments") or []]
    params["_instructions"] = body.get("customInstructions") or ""
    err = sc.error_response(name, params, req.state)
    if err:
        return err
    store = req.state.store
    conv = store.new_conversation(body)
    conv_line = conv_pub(conv)
    user = store.new_response(conv["conversationId"], "human", body["message"], None, body)
    model = store.new_response(conv["conversationId"], "ASSISTANT", "", user["responseId"])
    model["metadata"] = model_meta(req, body)
    model["model"] = body.get("modelName") or body.get("modeId") or body.get("modelMode") or "auto"
    title = " ".join(sc.strip_markers(body["message"]).split()[:5])[:60] or "New conversation"
    conv["title"] = title
    return chat_stream(req, "new", name, params, conv_line, pub(user), model, body["message"], title)


def model_meta(req, body) -> dict:
    return {
        "llm_info": {"modelHash": req.state.config["model_hash"]},
        "request_metadata": {
            "model": body.get("modelName") or "",
            "mode": body.get("modeId") or body.get("modelMode") or "auto",
        },
    }


def chat_continue(req):
    """A follow-up: the rules of threads.py, then an answer to the thread it continues."""
    store = req.state.store
    threads.purge_expired(req.state)
    conv = store.live_conv(req.params["cid"])
    if conv is None:
        return threads.check_follow_up(req, None, {})
    body = req.json
    err = check_chat_body(req, body)
    if err:
        return err
    if not isinstance(body.get("message"), str):
        return invalid(req, "message_required")
    err = check_attachments(req, body)
    if err:
        return err
    err = threads.check_follow_up(req, conv, body)
    if err:
        return err
    parent = body.get("parentResponseId")
    if not parent and conv["_responses"]:
        parent = conv["_responses"][-1]
    thread = threads.thread_text(store, parent, body["message"])
    picked = pick_scenario(req, thread)
    if isinstance(picked, Resp):
        return picked
    name, params = picked
    params["_attachments"] = [store.files[f]["fileName"] for f in body.get("fileAttachments") or []]
    params["_instructions"] = body.get("customInstructions") or ""
    err = sc.error_response(name, params, req.state)
    if err:
        return err
    user = store.new_response(conv["conversationId"], "human", body["message"], parent, body)
    model = store.new_response(conv["conversationId"], "ASSISTANT", "", user["responseId"])
    model["metadata"] = model_meta(req, body)
    return chat_stream(req, "cont", name, params, None, pub(user), model, thread)


def quick_answer(req):
    body = req.obj()
    if body is None or not isinstance(body.get("query"), str):
        return invalid(req, "query_required")
    picked = pick_scenario(req, body["query"])
    if isinstance(picked, Resp):
        return picked
    name, params = picked
    err = sc.error_response(name, params, req.state)
    if err:
        return err
    if name == "plain" and "text" not in params:
        params["text"] = "Quick answer: " + (sc.strip_markers(body["query"])[:60] or "nothing asked")
    model = req.state.store.new_response(None, "ASSISTANT", "", None)
    model["metadata"] = model_meta(req, {})
    return chat_stream(req, "response", name, params, None, None, model, body["query"])


def reconnect(req):
    store = req.state.store
    old = store.responses.get(req.params["rid"])
    if old is None or old["sender"] != "ASSISTANT":
        return not_found("Response not found")
    if req.forced_scenario:
        picked = pick_scenario(req, "")
        if isinstance(picked, Resp):
            return picked
        name, params = picked
        err = sc.error_response(name, params, req.state)
        if err:
            return err
    else:
        name, params = "plain", Params(text=old["message"] or "Reconnected.")
        req.entry["scenario"] = "plain"
    # the replay writes into a copy so the stored answer is not altered
    replay = dict(old)
    cancel_holder = store.inflight.get(old["responseId"])

    def run(stream: Stream):
        stream.start(200, "application/json", gzip=(name == "gzip"))
        chat = Chat(
            stream, req.state, "response", None, None, replay, "", params, cancel_holder[1] if cancel_holder else None
        )
        sc.run_stream(chat, name)

    return StreamResp(run, name)


def stop_inflight(req):
    store = req.state.store
    if store.live_conv(req.params["cid"]) is None:
        return not_found("Conversation not found")
    for cid, ev in list(store.inflight.values()):
        if cid == req.params["cid"]:
            ev.set()
    return Resp(200, {})


def cancel_inflight(req):
    store = req.state.store
    rid = req.params["rid"]
    if rid not in store.responses:
        return not_found("Response not found")
    held = store.inflight.get(rid)
    if held:
        held[1].set()
    return Resp(204)


# -- conversations ----------------------------------------------------------------------------------
def list_conversations(req):
    starred = bool_q(req, "filterIsStarred")
    if isinstance(starred, Resp):
        return starred
    ws = req.q("workspaceId")
    convs = [c for c in req.state.store.conversations.values() if not c["_deleted"] and not c["temporary"]]
    if starred:
        convs = [c for c in convs if c["starred"]]
    if ws:
        convs = [c for c in convs if ws in c["workspaces"]]
    convs.sort(key=lambda c: c["modifyTime"], reverse=True)
    body = paginate(req, [conv_pub(c) for c in convs], "conversations")
    return body if isinstance(body, Resp) else Resp(200, body)


def delete_all_conversations(req):
    for cid in list(req.state.store.conversations):
        req.state.store.delete_conversation(cid)
    return Resp(204)


def list_deleted(req):
    convs = [c for c in req.state.store.conversations.values() if c["_deleted"]]
    convs.sort(key=lambda c: c["modifyTime"], reverse=True)
    body = paginate(req, [conv_pub(c) for c in convs], "conversations")
    return body if isinstance(body, Resp) else Resp(200, body)


def get_conversation(req):
    threads.purge_expired(req.state)
    conv = req.state.store.conversations.get(req.params["cid"])
    return Resp(200, conv_pub(conv)) if conv else not_found("Conversation not found")


def update_conversation(req):
    conv = req.state.store.conversations.get(req.params["cid"])
    if conv is None:
        return not_found("Conversation not found")
    body = req.obj()
    if body is None:
        return invalid(req, "body_not_object")
    if "title" in body and not isinstance(body["title"], str):
        return invalid(req, "field_type:title")
    if "starred" in body and not isinstance(body["starred"], bool):
        return invalid(req, "field_type:starred")
    if "title" in body:
        conv["title"] = body["title"]
    if "starred" in body:
        conv["starred"] = body["starred"]
    conv["modifyTime"] = iso()
    return Resp(200, conv_pub(conv))


def delete_conversation(req):
    store = req.state.store
    if req.params["cid"] not in store.conversations:
        return not_found("Conversation not found")
    dm = bool_q(req, "deleteMedia")
    if isinstance(dm, Resp):
        return dm
    if dm:
        store.images[:] = [i for i in store.images if i.get("conversationId") != req.params["cid"]]
    store.delete_conversation(req.params["cid"])
    return Resp(204)


def soft_delete_conversation(req):
    conv = req.state.store.conversations.get(req.params["cid"])
    if conv is None:
        return not_found("Conversation not found")
    conv["_deleted"] = True
    conv["modifyTime"] = iso()
    return Resp(204)


def conversation_exists(req):
    threads.purge_expired(req.state)
    if req.params["cid"] in req.state.store.conversations:
        return Resp(200, {"exists": True})
    return not_found("Conversation not found")


def restore_conversation(req):
    body = req.obj()
    if body is None or not isinstance(body.get("conversationId"), str):
        return invalid(req, "conversationId_required")
    conv = req.state.store.conversations.get(body["conversationId"])
    if conv is None:
        return not_found("Conversation not found")
    conv["_deleted"] = False
    return Resp(200, {})


def generate_title(req):
    store = req.state.store
    conv = store.conversations.get(req.params["cid"])
    if conv is None:
        return not_found("Conversation not found")
    first = next(
        (
            store.responses[r]["message"]
            for r in conv["_responses"]
            if r in store.responses and store.responses[r]["sender"] == "human"
        ),
        "",
    )
    title = " ".join(sc.strip_markers(first).split()[:5])[:60] or "New conversation"
    conv["title"] = title
    return Resp(200, {"newTitle": title})


def list_responses(req):
    threads.purge_expired(req.state)
    store = req.state.store
    conv = store.conversations.get(req.params["cid"])
    if conv is None:
        return not_found("Conversation not found")
    include_threads = bool_q(req, "includeThreads")
    if isinstance(include_threads, Resp):
        return include_threads
    out = [pub(store.responses[r]) for r in conv["_responses"] if r in store.responses]
    if not include_threads:
        out = [r for r in out if not r.get("threadParentId")]
    return Resp(200, {"responses": out})


def artifacts_metadata(req):
    store = req.state.store
    if req.params["cid"] not in store.conversations:
        return not_found("Conversation not found")
    arts = [artifact_pub(a) for a in store.artifacts.values() if a["conversationId"] == req.params["cid"]]
    return Resp(200, {"artifacts": arts})


# -- files, code, voice ---------------------------------------------------------------------------
def upload_file(req):
    body = req.obj()
    if body is None:
        return invalid(req, "body_not_object")
    for k in ("fileName", "fileMimeType", "content"):
        if not isinstance(body.get(k), str) or (k != "content" and not body[k]):
            return invalid(req, f"{k}_required")
    try:
        data = base64.b64decode(body["content"], validate=True)
    except (binascii.Error, ValueError):
        return invalid(req, "content_not_base64")
    fid = new_id()
    meta = {
        "fileMetadataId": fid,
        "fileMimeType": body["fileMimeType"],
        "fileName": body["fileName"],
        "fileUri": f"users/{req.state.config['user_id']}/{fid}/content",
        "parsedFileUri": "",
        "createTime": iso(),
        "fileSource": body.get("fileSource") or "SELF_UPLOAD_FILE_SOURCE",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    req.state.store.files[fid] = meta
    req.state.store.assets[meta["fileUri"]] = (data, body["fileMimeType"])
    return Resp(200, meta)


def file_metadata(req):
    meta = req.state.store.files.get(req.params["fid"])
    return Resp(200, meta) if meta else not_found("File not found")


def run_code(req):
    body = req.obj()
    if body is None or not isinstance(body.get("language"), str) or not isinstance(body.get("code"), str):
        return invalid(req, "language_and_code_required")
    return Resp(
        200,
        {
            "success": True,
            "stdout": f"fakegrok ran {len(body['code'])} bytes of {body['language']}\n",
            "stderr": "",
            "outputFiles": [],
            "exitCode": 0,
            "language": body["language"],
        },
    )


FAKE_MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)


def read_response(req):
    rid = req.params["rid"]
    if rid not in req.state.store.responses:
        return not_found("Response not found")
    frames = 40

    def run(stream: Stream):
        stream.start(200, "audio/mpeg")
        stream.chunk(b"ID3\x03\x00\x00\x00\x00\x00\x00")
        for _ in range(frames // 8):
            stream.chunk(FAKE_MP3_FRAME * 8)
        stream.finish()

    req.entry["scenario"] = None
    return StreamResp(run, None)


def tts(req):
    body = req.obj()
    if body is None or not isinstance(body.get("articles"), list):
        return invalid(req, "articles_required")
    audio = b"ID3\x03\x00\x00\x00\x00\x00\x00" + FAKE_MP3_FRAME * 4
    return Resp(200, {"result": {"data": base64.b64encode(audio).decode(), "contentType": "audio/mpeg"}})


def post_recording(req):
    if req.obj() is None:
        return invalid(req, "body_not_object")
    return Resp(201)


def voice_share(req):
    body = req.obj()
    if body is None or not isinstance(body.get("videoBytes"), str) or not isinstance(body.get("text"), str):
        return invalid(req, "videoBytes_and_text_required")
    pid = new_id()
    return Resp(200, {"postId": pid, "shareUrl": f"https://grok.com/share/voice/{pid}"})


def livekit_token(req):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")

    now = int(time.time())
    jwt = ".".join(
        [
            b64({"alg": "HS256", "typ": "JWT"}),
            b64(
                {
                    "iss": "fakegrok",
                    "sub": req.state.config["user_id"],
                    "nbf": now,
                    "exp": now + 3600,
                    "video": {"room": "grok-" + new_id(), "roomJoin": True},
                }
            ),
            base64.urlsafe_b64encode(hashlib.sha256(str(now).encode()).digest()).decode().rstrip("="),
        ]
    )
    return Resp(200, {"token": jwt, "url": "wss://livekit.grok.com"})


def rate_limits(req):
    body = req.obj()
    if body is None:
        return invalid(req, "body_not_object")
    window = 7200
    total = 140
    now = time.time()
    used = sum(1 for t in req.state.store.chat_times if now - t < window)
    return Resp(
        200,
        {
            "windowSizeSeconds": window,
            "remainingQueries": max(0, total - used),
            "totalQueries": total,
            "lowEffortRateLimits": {"cost": 1, "remainingQueries": max(0, total - used)},
            "highEffortRateLimits": {"cost": 4, "remainingQueries": max(0, (total - used) // 4)},
        },
    )


# -- memory -----------------------------------------------------------------------------------------
def memory_blurb(req):
    return Resp(200, {"memoryContent": "The user likes concise answers and is testing against a fake grok."})


def list_memories(req):
    mems = [
        pub(m)
        for m in req.state.store.memories.values()
        if m["companionId"] == req.params["companion"] and not m["_deleted"]
    ]
    return Resp(200, {"memories": mems})


def delete_memories(req, soft=False):
    for m in list(req.state.store.memories.values()):
        if m["companionId"] == req.params["companion"]:
            if soft:
                m["_deleted"] = True
            else:
                del req.state.store.memories[m["memoryId"]]
    return Resp(204)


def update_memory(req):
    mem = req.state.store.memories.get(req.params["mid"])
    if mem is None or mem["_deleted"]:
        return not_found("Memory not found")
    body = req.obj()
    if body is None or not isinstance(body.get("content"), str):
        return invalid(req, "content_required")
    mem["content"] = body["content"]
    return Resp(200, pub(mem))


def delete_memory(req, soft=False):
    mem = req.state.store.memories.get(req.params["mid"])
    if mem is None:
        return not_found("Memory not found")
    if soft:
        mem["_deleted"] = True
    else:
        del req.state.store.memories[req.params["mid"]]
    return Resp(204)


def memories_for_conversations(req):
    body = req.obj()
    ids = body.get("conversationIds") if body else None
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        return invalid(req, "conversationIds_required")
    out = []
    store = req.state.store
    for cid in ids:
        if cid not in store.conversations:
            continue
        mid = new_id()
        mem = {
            "memoryId": mid,
            "companionId": "",
            "conversationId": cid,
            "createTime": iso(),
            "_deleted": False,
            "content": f"Memory of conversation '{store.conversations[cid]['title']}'.",
        }
        store.memories[mid] = mem
        out.append(pub(mem))
    return Resp(200, {"memories": out})


def delete_memories_for_conversations(req):
    ids = req.query.get("conversationIds") or []
    if not ids:
        return invalid(req, "conversationIds_required")
    store = req.state.store
    for mid, mem in list(store.memories.items()):
        if mem.get("conversationId") in ids:
            del store.memories[mid]
    return Resp(204)


# -- artifacts -------------------------------------------------------------------------------------
def get_artifact(req):
    art = req.state.store.artifacts.get(req.params["aid"])
    return Resp(200, artifact_pub(art)) if art else not_found("Artifact not found")


def update_artifact(req):
    store = req.state.store
    art = store.artifacts.get(req.params["aid"])
    if art is None:
        return not_found("Artifact not found")
    body = req.obj()
    if body is None:
        return invalid(req, "body_not_object")
    for k in ("fullArtifact", "artifactDiff", "artifactVersionId"):
        if body.get(k) is not None and not isinstance(body[k], str):
            return invalid(req, f"field_type:{k}")
    base = art["versions"][-1]
    if body.get("artifactVersionId"):
        base = store.versions.get(body["artifactVersionId"])
        if base is None or base["artifactId"] != art["artifactId"]:
            return not_found("Artifact version not found")
    if body.get("fullArtifact") is not None:
        content = body["fullArtifact"]
    elif body.get("artifactDiff") is not None:
        content = base["content"] + body["artifactDiff"]
    else:
        return invalid(req, "fullArtifact_or_artifactDiff_required")
    ver = {"artifactVersionId": new_id(), "artifactId": art["artifactId"], "content": content, "createTime": iso()}
    art["versions"].append(ver)
    store.versions[ver["artifactVersionId"]] = ver
    return Resp(
        200, {"artifactId": art["artifactId"], "artifactVersionId": ver["artifactVersionId"], "content": content}
    )


def artifact_content(req):
    ver = req.state.store.versions.get(req.params["vid"])
    if ver is None:
        return not_found("Artifact version not found")
    return Resp(200, dict(ver, contentType="text/plain"))


# -- sharing -----------------------------------------------------------------------------------------
def share_conversation(req):
    store = req.state.store
    conv = store.live_conv(req.params["cid"])
    if conv is None:
        return not_found("Conversation not found")
    body = req.obj()
    if body is None:
        return invalid(req, "body_not_object")
    rid = body.get("responseId")
    if rid is not None and (not isinstance(rid, str) or rid not in conv["_responses"]):
        return not_found("Response not found")
    sid = new_id()
    store.share_links[sid] = {
        "shareLinkId": sid,
        "conversationId": conv["conversationId"],
        "title": conv["title"],
        "createTime": iso(),
        "viewCount": 0,
        "responseId": rid or "",
        "allowIndexing": bool(body.get("allowIndexing")),
        "_responses": list(conv["_responses"]),
    }
    return Resp(201, {"shareLinkId": sid, "shareLink": f"https://grok.com/share/{sid}"})


def share_artifact(req):
    store = req.state.store
    if store.live_conv(req.params["cid"]) is None:
        return not_found("Conversation not found")
    body = req.obj()
    if body is None or not all(isinstance(body.get(k), str) for k in ("responseId", "artifactId", "artifactVersionId")):
        return invalid(req, "responseId_artifactId_artifactVersionId_required")
    art = store.artifacts.get(body["artifactId"])
    ver = store.versions.get(body["artifactVersionId"])
    if art is None or ver is None or ver["artifactId"] != art["artifactId"]:
        return not_found("Artifact not found")
    said = new_id()
    store.shared_artifacts[said] = {
        "sharedArtifactId": said,
        "artifactId": art["artifactId"],
        "artifactVersionId": ver["artifactVersionId"],
        "title": art["title"],
        "artifactType": art["artifactType"],
        "content": ver["content"],
    }
    return Resp(200, {"sharedArtifactId": said, "shareLink": f"https://grok.com/share/artifact/{said}"})


def list_share_links(req):
    links = sorted((pub(s) for s in req.state.store.share_links.values()), key=lambda s: s["createTime"], reverse=True)
    body = paginate(req, links, "shareLinks")
    return body if isinstance(body, Resp) else Resp(200, body)


def share_link_data(req):
    store = req.state.store
    link = store.share_links.get(req.params["sid"])
    if link is None:
        return not_found("Share link not found")
    link["viewCount"] += 1
    conv = store.conversations.get(link["conversationId"])
    return Resp(
        200,
        {
            "shareLinkId": link["shareLinkId"],
            "viewCount": link["viewCount"],
            "conversation": conv_pub(conv)
            if conv
            else {"conversationId": link["conversationId"], "title": link["title"]},
            "responses": [pub(store.responses[r]) for r in link["_responses"] if r in store.responses],
        },
    )


def delete_share_link(req):
    if req.state.store.share_links.pop(req.params["sid"], None) is None:
        return not_found("Share link not found")
    return Resp(204)


def clone_share_link(req):
    store = req.state.store
    link = store.share_links.get(req.params["sid"])
    if link is None:
        return not_found("Share link not found")
    if req.obj() is None:
        return invalid(req, "body_not_object")
    conv = store.new_conversation({})
    conv["title"] = link["title"]
    parent = None
    out = []
    for rid in link["_responses"]:
        old = store.responses.get(rid)
        if old is None:
            continue
        new = store.new_response(conv["conversationId"], old["sender"], old["message"], parent)
        parent = new["responseId"]
        out.append(pub(new))
    return Resp(201, {"conversation": conv_pub(conv), "responses": out})


def shared_artifact(req):
    sa = req.state.store.shared_artifacts.get(req.params["said"])
    return Resp(200, sa) if sa else not_found("Shared artifact not found")


# -- suggestions, images, drive ---------------------------------------------------------------------
def suggestions(req):
    raw = req.q("count", "8")
    try:
        count = int(raw)
    except ValueError:
        return invalid(req, "count_not_int")
    if count < 0 or count > 50:
        return invalid(req, "count_range")
    query = req.q("query") or "grok"
    return Resp(
        200,
        {"suggestions": [{"text": f"{query} suggestion {i + 1}", "query": f"{query} {i + 1}"} for i in range(count)]},
    )


def conversation_starters(req):
    return Resp(
        200,
        {
            "starters": [
                {"text": "Explain quantum computing simply", "category": "learn"},
                {"text": "Write a haiku about the sea", "category": "create"},
                {"text": "Plan a weekend in Paris", "category": "plan"},
            ]
        },
    )


def fetch_suggestions(req):
    return Resp(
        200,
        {
            "suggestions": [
                {"text": "Tell me more", "query": "Tell me more"},
                {"text": "Give an example", "query": "Give an example"},
            ]
        },
    )


def image_generations(req):
    return Resp(200, {"generations": list(reversed(req.state.store.images))})


def drive_files(req):
    q = (req.q("query") or "").lower()
    files = [f for f in req.state.store.drive_files if q in f["name"].lower()]
    return Resp(200, {"files": files})


def drive_file(req):
    f = next((f for f in req.state.store.drive_files if f["id"] == req.params["gid"]), None)
    return Resp(200, f) if f else not_found("File not found")


# -- routing -------------------------------------------------------------------------------------------
ROUTES = [
    ("POST", APP + "/conversations/new", chat_new),
    ("POST", APP + "/conversations/{cid}/responses", chat_continue),
    ("GET", APP + "/conversations/{cid}/responses", list_responses),
    ("POST", APP + "/quick-answer", quick_answer),
    ("GET", APP + "/conversations/reconnect-response-v2/{rid}", reconnect),
    ("POST", APP + "/conversations/{cid}/stop-inflight-responses", stop_inflight),
    ("DELETE", APP + "/conversations/inflight-response/{rid}", cancel_inflight),
    ("GET", APP + "/conversations", list_conversations),
    ("DELETE", APP + "/conversations", delete_all_conversations),
    ("GET", APP + "/conversations/deleted", list_deleted),
    ("GET", APP + "/conversations/{cid}", get_conversation),
    ("PUT", APP + "/conversations/{cid}", update_conversation),
    ("DELETE", APP + "/conversations/{cid}", delete_conversation),
    ("DELETE", APP + "/conversations/soft/{cid}", soft_delete_conversation),
    ("GET", APP + "/conversations/exists/{cid}", conversation_exists),
    ("POST", APP + "/conversations/restore", restore_conversation),
    ("POST", APP + "/conversations/{cid}/title", generate_title),
    ("POST", APP + "/conversations/{cid}/artifacts_metadata", artifacts_metadata),
    ("POST", APP + "/upload-file", upload_file),
    ("POST", APP + "/file-metadata/{fid}", file_metadata),
    ("POST", APP + "/run-code", run_code),
    ("GET", APP + "/read-response/{rid}", read_response),
    ("GET", APP + "/read-response-audio/{rid}", read_response),
    ("POST", APP + "/tts", tts),
    ("POST", APP + "/voice/post-recording", post_recording),
    ("POST", APP + "/voice/share", voice_share),
    ("GET", APP + "/user-memory-blurb", memory_blurb),
    ("GET", APP + "/memories_v2/{companion}", list_memories),
    ("DELETE", APP + "/memories_v2/{companion}", delete_memories),
    ("DELETE", APP + "/memories_v2/soft/{companion}", lambda r: delete_memories(r, soft=True)),
    ("PUT", APP + "/memory_v2/{mid}", update_memory),
    ("DELETE", APP + "/memory_v2/{mid}", delete_memory),
    ("DELETE", APP + "/memory_v2/soft/{mid}", lambda r: delete_memory(r, soft=True)),
    ("POST", APP + "/memory", memories_for_conversations),
    ("DELETE", APP + "/memory", delete_memories_for_conversations),
    ("POST", APP + "/artifacts/{aid}", get_artifact),
    ("POST", APP + "/artifacts/{aid}/update", update_artifact),
    ("GET", APP + "/artifact_content/{vid}", artifact_content),
    ("POST", APP + "/conversations/{cid}/share", share_conversation),
    ("POST", APP + "/conversations/{cid}/share_artifact", share_artifact),
    ("GET", APP + "/share_links", list_share_links),
    ("GET", APP + "/share_links_data/{sid}", share_link_data),
    ("DELETE", APP + "/share_links/{sid}", delete_share_link),
    ("POST", APP + "/share_links/{sid}/clone", clone_share_link),
    ("GET", APP + "/shared_artifacts/{said}", shared_artifact),
    ("GET", APP + "/suggestions", suggestions),
    ("GET", APP + "/conversation-starters", conversation_starters),
    ("POST", APP + "/fetch-suggestions", fetch_suggestions),
    ("GET", APP + "/image-generations", image_generations),
    ("GET", APP + "/google-drive/files", drive_files),
    ("GET", APP + "/google-drive/files/{gid}", drive_file),
    ("POST", "/rest/livekit/tokens", livekit_token),
    ("POST", "/rest/rate-limits", rate_limits),
    ("POST", "/rest/modes", lambda r: build.modes(r)),
]

_COMPILED = [(m, p.strip("/").split("/"), fn) for m, p, fn in ROUTES]


def match(method: str, path: str):
    """Return (fn, params) | ("405", allowed_methods) | None. Literal segments beat {params}."""
    segs = path.strip("/").split("/")
    candidates = []
    for m, pat, fn in _COMPILED:
        if len(pat) != len(segs):
            continue
        params = {}
        literals = 0
        for p, s in zip(pat, segs, strict=True):
            if p.startswith("{"):
                if not s:
                    break
                params[p[1:-1]] = s
            elif p != s:
                break
            else:
                literals += 1
        else:
            candidates.append((literals, m, fn, params))
    if not candidates:
        return None
    same = [c for c in candidates if c[1] == method]
    if not same:
        return "405", sorted({c[1] for c in candidates})
    best = max(same, key=lambda c: c[0])
    return best[2], best[3]
