"""Every typed native route (except /v1/chat): what the wrapper receives and what grok.com must see.

One `Case` per route variant. Paths and bodies may name resources created for the
test: {conv} (a conversation), {resp} (its assistant response), {file} (an uploaded
file), {share} (a share link of {conv}). Seeded fake data (art-demo, mem-demo-1,
companion-demo, shared-art-demo, gdrive-demo-1) is used by name.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from typing import Any

APP = "/rest/app-chat"
NO_BODY: Any = object()
DUMMY_IDS = {"conv": "c-1", "resp": "r-1", "file": "f-1", "share": "s-1"}  # when nothing real is needed


@dataclass
class Case:
    id: str
    method: str
    path: str
    upstream: str  # "METHOD /path"
    query: dict | None = None
    json: Any = NO_BODY
    multipart: dict | None = None
    upstream_query: dict = field(default_factory=dict)
    upstream_body: Any = NO_BODY  # NO_BODY: the upstream request has no body
    status: int = 200
    content_type: str | None = "application/json"  # None: no body in the answer
    passthrough: bool = True  # the answer is grok.com's body, unchanged
    answer: Any = None  # the fixed body answered instead (the reference's {"status": ...} routes)
    on_upstream_404: Any = None  # the JSON answered when grok.com says 404 (None: a 404 problem)

    def __str__(self) -> str:
        return self.id

    @property
    def upstream_method(self) -> str:
        return self.upstream.split(" ", 1)[0]

    @property
    def upstream_path(self) -> str:
        return self.upstream.split(" ", 1)[1]

    @property
    def needs(self) -> set[str]:
        return set(
            re.findall(r"\{(\w+)\}", repr((self.path, self.query, self.json, self.upstream, self.upstream_body)))
        )

    def send(self, client, ids: dict):
        """Issue the wrapper request with the Flask test client."""
        kwargs: dict = {"query_string": fill(self.query, ids)}
        if self.json is not NO_BODY:
            kwargs["json"] = fill(self.json, ids)
        if self.multipart is not None:
            kwargs["data"] = {
                k: (io.BytesIO(v[0]), v[1], v[2]) if isinstance(v, tuple) else v for k, v in self.multipart.items()
            }
            kwargs["content_type"] = "multipart/form-data"
        return client.open(fill(self.path, ids), method=self.method, **kwargs)


def fill(value, ids: dict):
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


HELLO_B64 = base64.b64encode(b"hello\n").decode()
UPLOAD = {"fileName": "notes.txt", "fileMimeType": "text/plain", "content": HELLO_B64}

CONVERSATIONS = [
    Case(
        "conversations-list",
        "GET",
        "/v1/conversations",
        f"GET {APP}/conversations",
        query={"page_size": "2", "starred": "false", "workspace_id": "ws-1"},
        upstream_query={"pageSize": ["2"], "filterIsStarred": ["false"], "workspaceId": ["ws-1"]},
    ),
    Case("conversations-list-plain", "GET", "/v1/conversations", f"GET {APP}/conversations"),
    Case(
        "conversations-delete-all",
        "DELETE",
        "/v1/conversations",
        f"DELETE {APP}/conversations",
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "conversations-deleted",
        "GET",
        "/v1/conversations/deleted",
        f"GET {APP}/conversations/deleted",
        query={"page_size": "5"},
        upstream_query={"pageSize": ["5"]},
    ),
    Case("conversation-get", "GET", "/v1/conversations/{conv}", f"GET {APP}/conversations/{{conv}}"),
    Case(
        "conversation-update",
        "PUT",
        "/v1/conversations/{conv}",
        f"PUT {APP}/conversations/{{conv}}",
        json={"title": "Renamed", "starred": True},
        upstream_body={"title": "Renamed", "starred": True},
    ),
    Case(
        "conversation-delete",
        "DELETE",
        "/v1/conversations/{conv}",
        f"DELETE {APP}/conversations/{{conv}}",
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "conversation-delete-media",
        "DELETE",
        "/v1/conversations/{conv}",
        f"DELETE {APP}/conversations/{{conv}}",
        query={"delete_media": "true"},
        upstream_query={"deleteMedia": ["true"]},
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "conversation-delete-soft",
        "DELETE",
        "/v1/conversations/{conv}",
        f"DELETE {APP}/conversations/soft/{{conv}}",
        query={"soft": "1"},
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "conversation-exists",
        "GET",
        "/v1/conversations/{conv}/exists",
        f"GET {APP}/conversations/exists/{{conv}}",
        passthrough=False,
        on_upstream_404={"exists": False},
    ),
    Case(
        "conversation-restore",
        "POST",
        "/v1/conversations/{conv}/restore",
        f"POST {APP}/conversations/restore",
        upstream_body={"conversationId": "{conv}"},
        passthrough=False,
        answer={"status": "restored"},
    ),
    Case(
        "conversation-title",
        "POST",
        "/v1/conversations/{conv}/title",
        f"POST {APP}/conversations/{{conv}}/title",
        upstream_body={},
    ),
    Case(
        "conversation-responses",
        "GET",
        "/v1/conversations/{conv}/responses",
        f"GET {APP}/conversations/{{conv}}/responses",
    ),
    Case(
        "conversation-responses-threads",
        "GET",
        "/v1/conversations/{conv}/responses",
        f"GET {APP}/conversations/{{conv}}/responses",
        query={"include_threads": "true"},
        upstream_query={"includeThreads": ["true"]},
    ),
    Case(
        "conversation-artifacts",
        "GET",
        "/v1/conversations/{conv}/artifacts",
        f"POST {APP}/conversations/{{conv}}/artifacts_metadata",
        upstream_body={},
    ),
]

FILES = [
    Case(
        "files-upload-json",
        "POST",
        "/v1/files",
        f"POST {APP}/upload-file",
        json=dict(UPLOAD, fileSource="SELF_UPLOAD_FILE_SOURCE"),
        upstream_body=dict(UPLOAD, fileSource="SELF_UPLOAD_FILE_SOURCE"),
    ),
    Case(
        "files-upload-multipart",
        "POST",
        "/v1/files",
        f"POST {APP}/upload-file",
        multipart={"file": (b"hello\n", "notes.txt", "text/plain"), "makePublic": "true"},
        upstream_body=dict(UPLOAD, makePublic=True),
    ),
    Case("files-metadata", "GET", "/v1/files/{file}/metadata", f"POST {APP}/file-metadata/{{file}}", upstream_body={}),
    Case(
        "code-run",
        "POST",
        "/v1/code/run",
        f"POST {APP}/run-code",
        json={"language": "python", "code": "print(6 * 7)"},
        upstream_body={"language": "python", "code": "print(6 * 7)"},
    ),
]

VOICE = [
    Case(
        "voice-read",
        "GET",
        "/v1/voice/read/{resp}",
        f"GET {APP}/read-response/{{resp}}",
        query={"voice_id": "Ara"},
        upstream_query={"voiceId": ["Ara"]},
        content_type="audio/mpeg",
    ),
    Case(
        "voice-audio",
        "GET",
        "/v1/voice/audio/{resp}",
        f"GET {APP}/read-response-audio/{{resp}}",
        content_type="audio/mpeg",
    ),
    Case(
        "voice-tts",
        "POST",
        "/v1/voice/tts",
        f"POST {APP}/tts",
        json={"articles": ["Hello"], "voice": "Ara", "enableAlignment": False},
        upstream_body={"articles": ["Hello"], "voice": "Ara", "enableAlignment": False},
    ),
    Case("voice-livekit", "POST", "/v1/voice/livekit/token", "POST /rest/livekit/tokens", upstream_body={}),
    Case(
        "voice-post-recording",
        "POST",
        "/v1/voice/post-recording",
        f"POST {APP}/voice/post-recording",
        json={"conversationId": "{conv}", "durationMs": 1200},
        upstream_body={"conversationId": "{conv}", "durationMs": 1200},
        status=201,
        content_type=None,
    ),
    Case(
        "voice-share",
        "POST",
        "/v1/voice/share",
        f"POST {APP}/voice/share",
        json={"videoBytes": "AAAAIGZ0eXA=", "text": "My chat"},
        upstream_body={"videoBytes": "AAAAIGZ0eXA=", "text": "My chat"},
    ),
]

MEMORY = [
    Case("memory-blurb", "GET", "/v1/memory/blurb", f"GET {APP}/user-memory-blurb"),
    Case("memory-list", "GET", "/v1/memory/v2/companion-demo", f"GET {APP}/memories_v2/companion-demo"),
    Case(
        "memory-update",
        "PUT",
        "/v1/memory/v2/mem-demo-1",
        f"PUT {APP}/memory_v2/mem-demo-1",
        json={"content": "Prefers metric units."},
        upstream_body={"content": "Prefers metric units."},
        passthrough=False,
        answer={"status": "updated"},
    ),
    Case(
        "memory-delete",
        "DELETE",
        "/v1/memory/v2/mem-demo-1",
        f"DELETE {APP}/memory_v2/mem-demo-1",
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "memory-delete-soft",
        "DELETE",
        "/v1/memory/v2/mem-demo-1",
        f"DELETE {APP}/memory_v2/soft/mem-demo-1",
        query={"soft": "true"},
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "memory-delete-all",
        "DELETE",
        "/v1/memory/v2/all/companion-demo",
        f"DELETE {APP}/memories_v2/companion-demo",
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "memory-delete-all-soft",
        "DELETE",
        "/v1/memory/v2/all/companion-demo",
        f"DELETE {APP}/memories_v2/soft/companion-demo",
        query={"soft": "true"},
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "memory-by-conversation",
        "POST",
        "/v1/memory/by-conversation",
        f"POST {APP}/memory",
        json={"conversationIds": ["{conv}"]},
        upstream_body={"conversationIds": ["{conv}"]},
    ),
    Case(
        "memory-by-conversation-delete",
        "DELETE",
        "/v1/memory/by-conversation",
        f"DELETE {APP}/memory",
        query={"conversation_ids": ["{conv}", "c-2"]},
        upstream_query={"conversationIds": ["{conv}", "c-2"]},
        passthrough=False,
        answer={"status": "deleted"},
    ),
]

ARTIFACTS = [
    Case("artifact-get", "GET", "/v1/artifacts/art-demo", f"POST {APP}/artifacts/art-demo", upstream_body={}),
    Case(
        "artifact-update",
        "PUT",
        "/v1/artifacts/art-demo",
        f"POST {APP}/artifacts/art-demo/update",
        json={"artifactDiff": "print(2)\n", "artifactVersionId": "artv-demo-1"},
        upstream_body={"artifactDiff": "print(2)\n", "artifactVersionId": "artv-demo-1"},
    ),
    Case(
        "artifact-content",
        "GET",
        "/v1/artifacts/art-demo/content/artv-demo-1",
        f"GET {APP}/artifact_content/artv-demo-1",
    ),
]

SHARING = [
    Case(
        "share-conversation",
        "POST",
        "/v1/sharing/{conv}",
        f"POST {APP}/conversations/{{conv}}/share",
        json={"sharePublicly": True, "responseId": "{resp}"},
        upstream_body={"sharePublicly": True, "responseId": "{resp}"},
        status=201,
    ),
    Case(
        "share-conversation-empty",
        "POST",
        "/v1/sharing/{conv}",
        f"POST {APP}/conversations/{{conv}}/share",
        upstream_body={},
        status=201,
    ),
    Case(
        "share-artifact",
        "POST",
        "/v1/sharing/{conv}/artifact",
        f"POST {APP}/conversations/{{conv}}/share_artifact",
        json={"responseId": "{resp}", "artifactId": "art-demo", "artifactVersionId": "artv-demo-1"},
        upstream_body={"responseId": "{resp}", "artifactId": "art-demo", "artifactVersionId": "artv-demo-1"},
    ),
    Case(
        "share-links",
        "GET",
        "/v1/sharing/links",
        f"GET {APP}/share_links",
        query={"page_size": "10"},
        upstream_query={"pageSize": ["10"]},
    ),
    Case("share-link-get", "GET", "/v1/sharing/links/{share}", f"GET {APP}/share_links_data/{{share}}"),
    Case(
        "share-link-delete",
        "DELETE",
        "/v1/sharing/links/{share}",
        f"DELETE {APP}/share_links/{{share}}",
        passthrough=False,
        answer={"status": "deleted"},
    ),
    Case(
        "share-link-clone",
        "POST",
        "/v1/sharing/links/{share}/clone",
        f"POST {APP}/share_links/{{share}}/clone",
        upstream_body={},
        status=201,
    ),
    Case(
        "shared-artifact", "GET", "/v1/sharing/artifacts/shared-art-demo", f"GET {APP}/shared_artifacts/shared-art-demo"
    ),
]

SUGGESTIONS = [
    Case(
        "suggestions",
        "GET",
        "/v1/suggestions",
        f"GET {APP}/suggestions",
        query={"query": "cats"},
        upstream_query={"query": ["cats"], "count": ["8"]},
    ),
    Case(
        "suggestions-count",
        "GET",
        "/v1/suggestions",
        f"GET {APP}/suggestions",
        query={"count": "3"},
        upstream_query={"count": ["3"]},
    ),
    Case("suggestions-starters", "GET", "/v1/suggestions/starters", f"GET {APP}/conversation-starters"),
    Case(
        "suggestions-follow-up",
        "POST",
        "/v1/suggestions/follow-up",
        f"POST {APP}/fetch-suggestions",
        json={"conversationId": "{conv}", "responseId": "{resp}"},
        upstream_body={"conversationId": "{conv}", "responseId": "{resp}"},
    ),
]

IMAGES = [Case("images", "GET", "/v1/images", f"GET {APP}/image-generations")]

GOOGLE_DRIVE = [
    Case(
        "drive-files",
        "GET",
        "/v1/google-drive/files",
        f"GET {APP}/google-drive/files",
        query={"query": "budget"},
        upstream_query={"query": ["budget"]},
    ),
    Case("drive-file", "GET", "/v1/google-drive/files/gdrive-demo-1", f"GET {APP}/google-drive/files/gdrive-demo-1"),
]

ALL = CONVERSATIONS + FILES + VOICE + MEMORY + ARTIFACTS + SHARING + SUGGESTIONS + IMAGES + GOOGLE_DRIVE


def assert_problem(resp, status: int, type_: str, param: str | None = None) -> dict:
    """The answer is an RFC 7807 problem of this status and type (naming `param` when given)."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["type"] == type_ and body["status"] == status
    if param is not None:
        assert body["error"]["param"] == param, body
        assert param in body["detail"]
    return body
