"""GrokClient: one method per grok.com endpoint (docs/grok-protocol.md), no Flask.

Every request carries the browser headers (docs/grok-protocol.md: requests), a fresh `x-statsig-id` and
`x-xai-request-id`, and goes through the worker's gevent-native transport.
Non-2xx answers are raised as the exceptions of `errors` (classified once, here).

JSON endpoints return a `Reply` (status, headers, the exact body bytes), so a
wrapper can pass grok.com's JSON through unchanged; streaming endpoints return a
`ChatStream` (NDJSON) or an `UpstreamStream` (audio bytes).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

import gevent

from . import events as ev
from .errors import ConfigurationError, GrokError, error_for_status, inband_error
from .lanes import LaneSwitch, MemoryLaneSwitch, open_chat
from .lanes.ws import UserIds, WsChatStream
from .session import SessionState
from .shared import MemoryValues, SharedValues
from .statsig import ChallengeSigner, NoSigner, ProviderSigner, Signature, Signer
from .statsig.chain import AUTO, StatsigChain
from .transport import END, ChunkReader, Transport, UpstreamStream
from .transport import Response as Reply

log = logging.getLogger(__name__)

APP = "/rest/app-chat"
LIVEKIT_TOKENS = "/rest/livekit/tokens"
RATE_LIMITS = "/rest/rate-limits"
MODES = "/rest/modes"
ERROR_BODY_LIMIT = 64 * 1024
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
DOCUMENT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

__all__ = ["GrokClient", "ClientConfig", "ChatStream", "Reply", "NO_BODY", "seg"]


class _NoBody:
    """Marks a request without a body (GET/DELETE), as opposed to a JSON `null`."""

    def __repr__(self) -> str:
        return "<no body>"


_NO_BODY: Any = _NoBody()
NO_BODY: Any = _NO_BODY  # for callers of request()/stream() that send no body at all


def seg(value: str) -> str:
    """A path parameter, percent-encoded so it can never change the upstream path."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class ClientConfig:
    """What the client needs from the settings; swapped atomically on a key reload."""

    base_url: str = "https://grok.com"
    cookie_header: str | None = None
    signer: Signer = NoSigner()
    request_timeout: float = 120.0
    stream_idle_timeout: float = 120.0
    assets_url: str = "https://assets.grok.com"
    chat_lane: str = "auto"  # GROK_CHAT_LANE: auto | rest | ws (app.grok.lanes)
    # The page's keep-alive `ping` event on the WebSocket lane (peers: every 25 s; the page ~3 s).
    ws_ping_interval: float = 25.0
    # A pool account's requests: its label (reported with every outcome) and its own proxy.
    account: str | None = None
    proxy: str | None = None

    @classmethod
    def from_settings(cls, settings) -> "ClientConfig":
        return cls(
            base_url=settings.grok_base_url,
            assets_url=settings.grok_assets_url,
            cookie_header=settings.cookie_header,
            signer=make_signer(
                settings.challenge_header,
                settings.challenge_suffix,
                settings.challenge_trailer,
                settings.token_provider_url,
                mode=settings.statsig_mode,
                cdn_url=settings.grok_cdn_url,
                ttl=settings.statsig_ttl,
            ),
            request_timeout=settings.request_timeout,
            stream_idle_timeout=settings.stream_idle_timeout,
            chat_lane=settings.chat_lane,
        )


def make_signer(
    header: bytes | None,
    suffix: str | None,
    trailer: int = 3,
    provider_url: str | None = None,
    *,
    mode: str = AUTO,
    cdn_url: str = "https://cdn.grok.com",
    ttl: float = 3600.0,
) -> Signer:
    """The STATSIG_SOURCE chain (statsig/chain.py): derived values, then the env triple, then
    a token provider; an explicit mode pins one of them."""
    env = ChallengeSigner(header, suffix, trailer) if header is not None and suffix is not None else None
    provider = ProviderSigner(provider_url) if provider_url else None
    return StatsigChain(mode, env=env, provider=provider, cdn_url=cdn_url, ttl=ttl)


# How much of a stream's start a relay holds while it looks for an early in-band error.
OPENING_LIMIT = 1024 * 1024


def _ascii_slices(text: str, step: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """`text` (ASCII) encoded slice by slice, yielding to the hub between slices: encoding 25 MB
    at once holds the worker's only thread for tens of milliseconds."""
    for start in range(0, len(text), step):
        yield text[start : start + step].encode("ascii")
        gevent.sleep(1e-6)  # a timer, not sleep(0): the hub polls the sockets first (app/engine/pacing.py)


class EncodedJSON:
    """A request body already encoded as JSON text (sent as is)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


@dataclass
class Opening:
    """The start of an answer stream, read before a relay answers its client."""

    data: bytes  # the bytes read: the relay sends them first
    error: GrokError | None = None  # the error grok.com reported before answering, if it did


class ChatStream:
    """An NDJSON answer stream from grok.com. Close it (or use `with`) to abort it."""

    lane = "rest"  # the chat lane that carried it (app.grok.lanes)

    def __init__(
        self,
        upstream: UpstreamStream,
        max_line_bytes: int = ev.DEFAULT_MAX_LINE_BYTES,
        state: SessionState | None = None,
        account: str | None = None,
    ):
        self.upstream = upstream
        self.state = state
        self.account = account
        self.status = upstream.status
        self.headers = upstream.headers
        self._max_line_bytes = max_line_bytes

    def raw(self, heartbeat: float | None = None) -> Iterator[bytes | None]:
        """Upstream bytes as they arrive (None for each heartbeat interval of silence)."""
        return self.upstream.chunks(heartbeat)

    def events(self, heartbeat: float | None = None) -> Iterator[ev.Event | None]:
        """Typed events as they arrive (None for each heartbeat interval of silence)."""
        decoder = ev.NDJSONDecoder(max_line_bytes=self._max_line_bytes)
        # The reader's plain calls rather than chunks(): one generator less between here and
        # the wait where a stream spends its life (see ChunkReader).
        reader = ChunkReader(self.upstream, heartbeat)
        try:
            while (chunk := reader.next()) is not END:
                if chunk is None:
                    yield None
                    continue
                for event in decoder.feed(chunk):
                    self._note(event)
                    yield event
                if decoder.overflowed:
                    self.close()
                    return
                # Nor need it hold the last chunk (and its last event) while it waits for the
                # next one: a few hundred bytes per open stream.
                chunk = event = None
        finally:
            reader.close()
        for event in decoder.finish():
            self._note(event)
            yield event

    def opening(self, heartbeat: float | None = None, limit: int = OPENING_LIMIT) -> Opening:
        """Read the stream up to grok.com's first answer event, its first heartbeat interval
        of silence or `limit` bytes, whichever comes first.

        A relay calls this before it answers, so an error grok.com reports before answering
        (an expired session, a usage limit) still becomes the HTTP status the same failure
        gets everywhere. Transport failures on the way are raised as usual."""
        decoder = ev.NDJSONDecoder(max_line_bytes=self._max_line_bytes)
        parts: list[bytes] = []
        size = 0
        error = None
        for chunk in self.upstream.chunks(heartbeat):
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
            answered, error = self._first_answer_in(decoder, chunk)
            if answered or size >= limit or decoder.overflowed:
                break
        else:  # the stream ended: its last line may lack a newline
            _, error = self._first_answer(decoder.finish())
        return Opening(b"".join(parts), error)

    def _first_answer_in(self, decoder: ev.NDJSONDecoder, chunk: bytes) -> tuple[bool, GrokError | None]:
        """`_first_answer` of a chunk's events, decoded a line at a time: the lines after the
        first answer are relayed as they are, so decoding them would be work thrown away."""
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            end = len(chunk) if end < 0 else end + 1
            answered, error = self._first_answer(decoder.feed(chunk[start:end]))
            if answered or decoder.overflowed:
                return answered, error
            start = end
        return False, None

    def _first_answer(self, events: list[ev.Event]) -> tuple[bool, GrokError | None]:
        """(whether these events end a stream's opening, the error grok.com reported first)."""
        for event in events:
            if isinstance(event, ev.UpstreamError):
                self._note(event)
                return True, inband_error(event.message, event.code)
            if not isinstance(event, ev.BOOKKEEPING_EVENTS):
                return True, None
        return False, None

    def _note(self, event: ev.Event) -> None:
        # In-band errors (usage limit, overload, ...) are failures too, for /status and metrics.
        if self.state is not None and isinstance(event, ev.UpstreamError):
            self.state.record_failure(inband_error(event.message, event.code), "POST", account=self.account)

    def close(self) -> None:
        self.upstream.close()

    def __enter__(self) -> "ChatStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GrokClient:
    def __init__(
        self,
        config: ClientConfig,
        transport: Transport | None = None,
        state: SessionState | None = None,
        shared: SharedValues | None = None,
        lane_switch: LaneSwitch | None = None,
    ):
        self.config = config
        self._transport = transport
        self.state = state or SessionState()
        # Values every worker of the host shares (derived statsig values, the mode list); the
        # server puts its run directory's store here.
        self.shared: SharedValues = shared or MemoryValues()
        # Where GROK_CHAT_LANE=auto remembers a switch to the WebSocket (the app shares it).
        self.lane_switch: LaneSwitch = lane_switch or MemoryLaneSwitch()
        self.user_ids = UserIds()

    @classmethod
    def from_settings(
        cls, settings, transport: Transport | None = None, state: SessionState | None = None
    ) -> "GrokClient":
        return cls(ClientConfig.from_settings(settings), transport or Transport.from_settings(settings), state)

    @classmethod
    def from_cookies(
        cls,
        sso: str,
        sso_rw: str | None = None,
        *,
        challenge_header_hex: str | None = None,
        challenge_suffix: str | None = None,
        challenge_trailer: int = 3,
        base_url: str = "https://grok.com",
        statsig_source: str = AUTO,
    ) -> "GrokClient":
        """Library entry point: a client from cookie values; the statsig values are derived from
        grok.com's page unless challenge values are given and `statsig_source="env"`."""
        from .statsig import parse_header_hex

        header = parse_header_hex(challenge_header_hex) if challenge_header_hex else None
        cookie = f"sso={sso}; sso-rw={sso_rw or sso}"
        return cls(
            ClientConfig(
                base_url=base_url.rstrip("/"),
                cookie_header=cookie,
                signer=make_signer(header, challenge_suffix, challenge_trailer, mode=statsig_source),
            )
        )

    def sibling(self, config: ClientConfig) -> "GrokClient":
        """A client with other credentials (a pool account) on this client's transport, session
        state and shared values (derived statsig values and the mode list are not per account)."""
        return GrokClient(config, self._transport, self.state, self.shared, self.lane_switch)

    def reconfigure(self, config: ClientConfig, transport: Transport | None = None) -> None:
        """Apply new credentials (and a transport with new options); requests already in
        flight keep the old ones."""
        self.config = config
        if transport is not None:
            self._transport = transport

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = Transport()
        return self._transport

    # ------------------------------------------------------------------ plumbing
    def _headers(
        self, config: ClientConfig, method: str, path: str, page: str = "/", signer: Signer | None = None
    ) -> tuple[list[tuple[str, str | None]], Signature]:
        if not config.cookie_header:
            raise ConfigurationError("GROK_SSO_COOKIE is not set")
        if signer is None:
            signer = config.signer
            signer.prepare(self)
        signature = signer.sign(method, path)
        return [
            ("cookie", config.cookie_header),
            ("content-type", "application/json"),
            ("accept", "*/*"),
            ("origin", config.base_url),
            ("referer", config.base_url + page),
            ("sec-fetch-dest", "empty"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "same-origin"),
            ("priority", "u=1, i"),
            ("x-xai-request-id", signature.request_id),
            ("x-statsig-id", signature.statsig_id),
            # Navigation-only headers of the impersonation profile; fetch() never sends them.
            ("upgrade-insecure-requests", None),
            ("sec-fetch-user", None),
        ], signature

    def _prepare(self, method: str, path: str, query, body, page: str = "/", signer: Signer | None = None):
        config = self.config
        # libcurl sends percent escapes in upper case (%c3 -> %C3): sign the path it will send.
        path = _ESCAPE.sub(lambda m: m.group().upper(), path)
        url = config.base_url + path
        if query:
            url += "?" + (query if isinstance(query, str) else urlencode(_query_pairs(query), doseq=True))
        if body is _NO_BODY:
            payload = None
        elif isinstance(body, EncodedJSON):
            payload = body.data
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
        sign_path = urlsplit(url).path
        headers, signature = self._headers(config, method, sign_path, page, signer)
        return url, headers, payload, signature

    @staticmethod
    def _fail(status: int, headers: Mapping[str, str], body: bytes) -> GrokError:
        return error_for_status(status, body.decode("utf-8", errors="replace"), dict(headers))

    def _renewed(self, config: ClientConfig, signature: Signature, error: GrokError) -> bool:
        """After a stale/anti-bot answer: whether the signer has new values to retry with. Only
        ever asked before anything of the answer went to our own client."""
        return config.signer.renew(self, signature, error)

    def request(
        self,
        method: str,
        path: str,
        *,
        query=None,
        body: Any = _NO_BODY,
        timeout: float | None = None,
        signer: Signer | None = None,
        record: bool = True,
    ) -> Reply:
        """A buffered request to `path` (absolute, e.g. /rest/app-chat/conversations).

        A rejection of stale statsig values is retried once with renewed ones. `signer`
        overrides the configured one (no renewal then), and `record=False` keeps the outcome
        out of the session state (a derivation's canaries)."""
        config = self.config
        for attempt in (1, 2):
            url, headers, payload, signature = self._prepare(method, path, query, body, signer=signer)
            try:
                reply = self.transport.request(
                    method, url, headers, payload, timeout or config.request_timeout, proxy=config.proxy
                )
            except GrokError as exc:
                if record:
                    self.state.record_failure(exc, method, path, account=config.account)
                raise
            if 200 <= reply.status < 300:
                break
            error = self._fail(reply.status, reply.headers, reply.content[:ERROR_BODY_LIMIT])
            if attempt == 1 and signer is None and self._renewed(config, signature, error):
                continue
            if record:
                self.state.record_failure(error, method, path, account=config.account)
            raise error
        if record:
            self.state.record_success(reply.status, method, path, account=config.account)
        return reply

    def stream(
        self,
        method: str,
        path: str,
        *,
        query=None,
        body: Any = _NO_BODY,
        idle_timeout: float | None = None,
        page: str = "/",
    ) -> UpstreamStream:
        """A streamed request; raises on a non-2xx status before any body is consumed.
        `page` is the grok.com page the request comes from (its Referer)."""
        config = self.config
        for attempt in (1, 2):
            url, headers, payload, signature = self._prepare(method, path, query, body, page)
            try:
                return self._open(method, url, headers, payload, idle_timeout, record_http=False)
            except GrokError as exc:
                # Nothing of this answer has reached our client yet: a retry is invisible to it.
                if attempt == 1 and getattr(exc, "status", None) and self._renewed(config, signature, exc):
                    continue
                if getattr(exc, "status", None):
                    self.state.record_failure(exc, method, path, account=config.account)
                raise
        raise AssertionError("unreachable")

    def _open(
        self,
        method: str,
        url: str,
        headers,
        payload,
        idle_timeout: float | None,
        *,
        record_http: bool = True,
        source: str = "grok",
    ) -> UpstreamStream:
        """Open a stream; an HTTP error is recorded here only with `record_http` (else by the caller).
        `source` names the host for the session state (see Outcome.source)."""
        path = urlsplit(url).path
        try:
            upstream = self.transport.stream(
                method, url, headers, payload, idle_timeout or self.config.stream_idle_timeout, proxy=self.config.proxy
            )
        except GrokError as exc:
            self.state.record_failure(exc, method, path, source, account=self.config.account)
            raise
        if not upstream.ok:
            try:
                content = upstream.read(ERROR_BODY_LIMIT)
            except GrokError:
                content = b""
            error = self._fail(upstream.status, upstream.headers, content)
            if record_http:
                self.state.record_failure(error, method, path, source, account=self.config.account)
            raise error
        self.state.record_success(upstream.status, method, path, source, account=self.config.account)
        return upstream

    def _json(self, method: str, endpoint: str, body: Any = _NO_BODY, **kw) -> Reply:
        return self.request(method, f"{APP}/{endpoint}", body=body, **kw)

    def _chat(self, method: str, endpoint: str, body: Any = None) -> ChatStream:
        return self._answer(self.stream(method, f"{APP}/{endpoint}", body=body))

    def _answer(self, upstream: UpstreamStream) -> ChatStream:
        return ChatStream(upstream, state=self.state, account=self.config.account)

    # ------------------------------------------------------------------ chat
    def new_conversation(self, body: Mapping[str, Any]) -> ChatStream | WsChatStream:
        """A new conversation, on the chat lane GROK_CHAT_LANE chooses (app.grok.lanes)."""
        return open_chat(self, dict(body))

    def edit_image(self, body: Mapping[str, Any]) -> ChatStream:
        """An image edit (`mediaGenInput.imageToImage`), sent from the Imagine page as the browser does."""
        return self._answer(self.stream("POST", f"{APP}/conversations/new", body=dict(body), page="/imagine"))

    def add_response(
        self, conversation_id: str, body: Mapping[str, Any], *, instructions_known: bool = False
    ) -> ChatStream | WsChatStream:
        """A new message in a conversation, on the chat lane GROK_CHAT_LANE chooses.
        `instructions_known`: the conversation's messages already hold these custom instructions
        (an earlier message carried them over the WebSocket, which has no field for them and
        puts them in front of the message): that lane does not repeat them."""
        return open_chat(self, dict(body), conversation_id, instructions_known=instructions_known)

    def quick_answer(self, query: str) -> ChatStream:
        return self._chat("POST", "quick-answer", {"query": query})

    def reconnect_response(self, response_id: str) -> ChatStream:
        return self._answer(
            self.stream("GET", f"{APP}/conversations/reconnect-response-v2/{seg(response_id)}", body=_NO_BODY)
        )

    def stop_inflight_responses(self, conversation_id: str) -> Reply:
        return self._json("POST", f"conversations/{seg(conversation_id)}/stop-inflight-responses", None)

    def cancel_response(self, response_id: str) -> Reply:
        return self._json("DELETE", f"conversations/inflight-response/{seg(response_id)}", _NO_BODY)

    # ------------------------------------------------------------------ conversations
    def list_conversations(
        self,
        page_size: int | None = None,
        page_token: str | None = None,
        starred: bool | None = None,
        workspace_id: str | None = None,
    ) -> Reply:
        return self._json(
            "GET",
            "conversations",
            _NO_BODY,
            query={
                "pageSize": page_size,
                "pageToken": page_token,
                "filterIsStarred": starred,
                "workspaceId": workspace_id,
            },
        )

    def delete_all_conversations(self) -> Reply:
        return self._json("DELETE", "conversations", _NO_BODY)

    def list_deleted_conversations(self, page_size: int | None = None, page_token: str | None = None) -> Reply:
        return self._json(
            "GET", "conversations/deleted", _NO_BODY, query={"pageSize": page_size, "pageToken": page_token}
        )

    def get_conversation(self, conversation_id: str) -> Reply:
        return self._json("GET", f"conversations/{seg(conversation_id)}", _NO_BODY)

    def update_conversation(self, conversation_id: str, body: Mapping[str, Any]) -> Reply:
        return self._json("PUT", f"conversations/{seg(conversation_id)}", dict(body))

    def delete_conversation(self, conversation_id: str, *, soft: bool = False, delete_media: bool = False) -> Reply:
        if soft:
            return self._json("DELETE", f"conversations/soft/{seg(conversation_id)}", _NO_BODY)
        return self._json(
            "DELETE",
            f"conversations/{seg(conversation_id)}",
            _NO_BODY,
            query={"deleteMedia": True} if delete_media else None,
        )

    def conversation_exists(self, conversation_id: str) -> Reply:
        return self._json("GET", f"conversations/exists/{seg(conversation_id)}", _NO_BODY)

    def restore_conversation(self, conversation_id: str) -> Reply:
        return self._json("POST", "conversations/restore", {"conversationId": conversation_id})

    def generate_title(self, conversation_id: str) -> Reply:
        return self._json("POST", f"conversations/{seg(conversation_id)}/title", {})

    def list_responses(self, conversation_id: str, include_threads: bool = False) -> Reply:
        return self._json(
            "GET",
            f"conversations/{seg(conversation_id)}/responses",
            _NO_BODY,
            query={"includeThreads": True} if include_threads else None,
        )

    def artifacts_metadata(self, conversation_id: str) -> Reply:
        return self._json("POST", f"conversations/{seg(conversation_id)}/artifacts_metadata", {})

    # ------------------------------------------------------------------ files and code
    def upload_file(self, body: Mapping[str, Any]) -> Reply:
        fields = dict(body)
        content = fields.pop("content", None)
        if isinstance(content, str) and len(content) > 1024 * 1024 and content.isascii():
            if '"' not in content and "\\" not in content:
                # Base64 of a big file needs no JSON escaping: spliced in, not re-encoded (json.dumps
                # of 25 MB is a long stretch of CPU during which the worker serves nobody else).
                head = json.dumps(fields, separators=(",", ":"))[:-1] + ("," if fields else "")
                data = b"".join([head.encode(), b'"content":"', *_ascii_slices(content), b'"}'])
                return self._json("POST", "upload-file", EncodedJSON(data))
        if content is not None:
            fields["content"] = content
        return self._json("POST", "upload-file", fields)

    def fetch_asset(self, path: str, idle_timeout: float | None = None) -> UpstreamStream:
        """GET `path` (relative, already vetted) from the asset host, as the grok.com page loads an
        image: the session cookies and the browser's headers, no statsig token."""
        config = self.config
        if not config.cookie_header:
            raise ConfigurationError("GROK_SSO_COOKIE is not set")
        headers = [
            ("cookie", config.cookie_header),
            ("accept", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"),
            ("referer", config.base_url + "/"),
            ("sec-fetch-dest", "image"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-site", "same-site"),
            ("priority", "i"),
            ("upgrade-insecure-requests", None),
            ("sec-fetch-user", None),
        ]
        return self._open("GET", f"{config.assets_url}/{path}", headers, None, idle_timeout, source="assets")

    def file_metadata(self, file_id: str) -> Reply:
        return self._json("POST", f"file-metadata/{seg(file_id)}", {})

    def run_code(self, language: str, code: str) -> Reply:
        return self._json("POST", "run-code", {"language": language, "code": code})

    # ------------------------------------------------------------------ voice
    def read_response(self, response_id: str, voice_id: str | None = None) -> UpstreamStream:
        return self.stream("GET", f"{APP}/read-response/{seg(response_id)}", body=_NO_BODY, query={"voiceId": voice_id})

    def read_response_audio(self, response_id: str, voice_id: str | None = None) -> UpstreamStream:
        return self.stream(
            "GET", f"{APP}/read-response-audio/{seg(response_id)}", body=_NO_BODY, query={"voiceId": voice_id}
        )

    def tts(self, body: Mapping[str, Any]) -> Reply:
        return self._json("POST", "tts", dict(body))

    def livekit_token(self) -> Reply:
        return self.request("POST", LIVEKIT_TOKENS, body={})

    def voice_post_recording(self, body: Any) -> Reply:
        return self._json("POST", "voice/post-recording", body)

    def voice_share(self, video_bytes: str, text: str) -> Reply:
        return self._json("POST", "voice/share", {"videoBytes": video_bytes, "text": text})

    # ------------------------------------------------------------------ memory
    def memory_blurb(self) -> Reply:
        return self._json("GET", "user-memory-blurb", _NO_BODY)

    def list_memories(self, companion_id: str) -> Reply:
        return self._json("GET", f"memories_v2/{seg(companion_id)}", _NO_BODY)

    def update_memory(self, memory_id: str, content: str) -> Reply:
        return self._json("PUT", f"memory_v2/{seg(memory_id)}", {"content": content})

    def delete_memory(self, memory_id: str, *, soft: bool = False) -> Reply:
        prefix = "memory_v2/soft" if soft else "memory_v2"
        return self._json("DELETE", f"{prefix}/{seg(memory_id)}", _NO_BODY)

    def delete_all_memories(self, companion_id: str, *, soft: bool = False) -> Reply:
        prefix = "memories_v2/soft" if soft else "memories_v2"
        return self._json("DELETE", f"{prefix}/{seg(companion_id)}", _NO_BODY)

    def memories_for_conversations(self, conversation_ids: Sequence[str]) -> Reply:
        return self._json("POST", "memory", {"conversationIds": list(conversation_ids)})

    def delete_memories_for_conversations(self, conversation_ids: Sequence[str]) -> Reply:
        return self._json("DELETE", "memory", _NO_BODY, query=[("conversationIds", cid) for cid in conversation_ids])

    # ------------------------------------------------------------------ artifacts
    def get_artifact(self, artifact_id: str) -> Reply:
        return self._json("POST", f"artifacts/{seg(artifact_id)}", {})

    def update_artifact(self, artifact_id: str, body: Mapping[str, Any]) -> Reply:
        return self._json("POST", f"artifacts/{seg(artifact_id)}/update", dict(body))

    def artifact_content(self, version_id: str) -> Reply:
        return self._json("GET", f"artifact_content/{seg(version_id)}", _NO_BODY)

    # ------------------------------------------------------------------ sharing
    def share_conversation(self, conversation_id: str, body: Mapping[str, Any]) -> Reply:
        return self._json("POST", f"conversations/{seg(conversation_id)}/share", dict(body))

    def share_artifact(self, conversation_id: str, body: Mapping[str, Any]) -> Reply:
        return self._json("POST", f"conversations/{seg(conversation_id)}/share_artifact", dict(body))

    def list_share_links(self, page_size: int | None = None, page_token: str | None = None) -> Reply:
        return self._json("GET", "share_links", _NO_BODY, query={"pageSize": page_size, "pageToken": page_token})

    def get_share_link(self, share_link_id: str) -> Reply:
        return self._json("GET", f"share_links_data/{seg(share_link_id)}", _NO_BODY)

    def delete_share_link(self, share_link_id: str) -> Reply:
        return self._json("DELETE", f"share_links/{seg(share_link_id)}", _NO_BODY)

    def clone_share_link(self, share_link_id: str) -> Reply:
        return self._json("POST", f"share_links/{seg(share_link_id)}/clone", {})

    def get_shared_artifact(self, artifact_id: str) -> Reply:
        return self._json("GET", f"shared_artifacts/{seg(artifact_id)}", _NO_BODY)

    # ------------------------------------------------------------------ suggestions, images, drive
    def suggestions(self, query: str | None = None, count: int = 8) -> Reply:
        return self._json("GET", "suggestions", _NO_BODY, query={"query": query, "count": count})

    def conversation_starters(self) -> Reply:
        return self._json("GET", "conversation-starters", _NO_BODY)

    def follow_up_suggestions(self, body: Any) -> Reply:
        return self._json("POST", "fetch-suggestions", body)

    def image_generations(self) -> Reply:
        return self._json("GET", "image-generations", _NO_BODY)

    def google_drive_files(self, query: str | None = None) -> Reply:
        return self._json("GET", "google-drive/files", _NO_BODY, query={"query": query})

    def google_drive_file(self, file_id: str) -> Reply:
        return self._json("GET", f"google-drive/files/{seg(file_id)}", _NO_BODY)

    # ------------------------------------------------------------------ account
    def rate_limits(self, model_name: str = "fast") -> Reply:
        return self.request("POST", RATE_LIMITS, body={"modelName": model_name})

    def modes(self) -> Reply:
        """The account's mode list (docs/grok-protocol.md: the mode list): ids, titles, availability, the default."""
        return self.request("POST", MODES, body={"locale": "en"})

    def canary(self, signer: Signer) -> Reply:
        """One signed quota-free call with `signer`'s values, kept out of the session state:
        whether grok.com accepts a derivation's candidate values (docs/grok-protocol.md: the canary)."""
        return self.request("POST", RATE_LIMITS, body={"modelName": "fast"}, signer=signer, record=False)

    def fetch_document(self, path: str, *, anonymous: bool = False, limit: int) -> Reply:
        """A grok.com page as a browser navigates to it (the statsig derivation reads it). At most
        `limit` + 1 bytes are read; no redirect is followed and no outcome recorded."""
        config = self.config
        headers: list[tuple[str, str | None]] = [
            ("accept", DOCUMENT_ACCEPT),
            ("cache-control", "no-cache"),
            ("pragma", "no-cache"),
            ("sec-fetch-dest", "document"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-site", "none"),
            ("sec-fetch-user", "?1"),
            ("upgrade-insecure-requests", "1"),
        ]
        if not anonymous and config.cookie_header:
            headers.append(("cookie", config.cookie_header))
        return self._read_limited(config.base_url + path, headers, limit)

    def fetch_script(self, url: str, *, limit: int) -> Reply:
        """One of the page's script chunks (already vetted to be grok.com's), without cookies."""
        headers: list[tuple[str, str | None]] = [
            ("accept", "*/*"),
            ("referer", self.config.base_url + "/"),
            ("sec-fetch-dest", "script"),
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-site", "same-site"),
            ("upgrade-insecure-requests", None),
            ("sec-fetch-user", None),
        ]
        return self._read_limited(url, headers, limit)

    def _read_limited(self, url: str, headers, limit: int) -> Reply:
        upstream = self.transport.stream("GET", url, headers, None, self.config.request_timeout)
        with upstream:
            content = upstream.read(limit + 1)
        return Reply(upstream.status, upstream.headers, content, url)

    def check_session(self) -> bool:
        """The session check (docs/grok-protocol.md): True when valid; raises AuthExpired or another GrokError."""
        self._json("GET", "conversations", _NO_BODY, query={"pageSize": 1})
        return True


def _query_pairs(query) -> list[tuple[str, str]]:
    items: Iterable = query.items() if isinstance(query, Mapping) else query
    pairs = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append((key, str(value)))
    return pairs
