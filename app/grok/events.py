"""Pure parser: grok.com NDJSON chat stream -> typed events.

No Flask, no I/O, no gevent. One :class:`NDJSONDecoder` per upstream stream;
it holds only per-stream state (the partial-line buffer and the response ids
already reported), so many streams can be decoded concurrently in one thread.

Both framings are understood:

* ``{"result": {"response": {...}}}`` -- ``POST conversations/new``;
* ``{"result": {...}}`` -- ``POST conversations/{id}/responses`` (no wrapper).

Events produced for one line always come in this order, one step of
``NDJSONDecoder._events`` each: 1. errors, 2. response ids, 3. conversation /
title, 4. metadata, 5. reasoning / answer tokens / Done and tool usage,
6. search results, 7. cards, 8. images and video, 9. the final model response.
A line holding only a token takes a shorter path with the same result.

Field names grok.com uses are gathered in the constants and the step methods
below so that an upstream rename is a one-line change.  Unknown
fields are ignored; fields with an unexpected type are ignored as if absent;
nothing in here raises on bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "Event",
    "ConversationCreated",
    "ResponseIds",
    "Token",
    "ReasoningToken",
    "ToolUsage",
    "SearchResults",
    "Card",
    "ImageProgress",
    "ImageGenerated",
    "VideoGenerated",
    "ModelResponse",
    "Title",
    "Metadata",
    "UpstreamError",
    "Done",
    "ParseError",
    "NDJSONDecoder",
    "iter_events",
    "BOOKKEEPING_EVENTS",
]

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
EXCERPT_CHARS = 200

# Stateless and shared; calling its ``decode`` skips ``json.loads``' argument
# handling on the hot path.
_json_decode = json.JSONDecoder().decode

# messageTag routing.  A tag in none of these sets is treated as internal
# noise and dropped (peers only show "final"/empty tags as text).
ANSWER_TAGS = frozenset({"", "final", "assistant"})
REASONING_TAGS = frozenset({"analysis", "summary"})
DROPPED_TAGS = frozenset({"tool_usage_card", "raw_function_result"})

# (payload key, kind, cited) -- read in this order.
SEARCH_FIELDS = (
    ("webSearchResults", "web", False),
    ("citedWebSearchResults", "web", True),
    ("xSearchResults", "x", False),
    ("xposts", "x", False),
    ("citedXposts", "x", True),
)

METADATA_FIELDS = (
    ("uiLayout", "ui_layout"),
    ("llmInfo", "llm_info"),
    ("finalMetadata", "final_metadata"),
)

# A payload holding only these keys is a plain token line: take the fast path.
_HOT_KEYS = frozenset(
    {
        "token",
        "isThinking",
        "isSoftStop",
        "messageTag",
        "responseId",
        "rolloutId",
        "messageStepId",
    }
)

_SNIPPET_KEYS = ("snippet", "preview", "description", "searchEngineText")
_WEB_TITLE_KEYS = ("title", "metadataTitle", "siteName")


# --------------------------------------------------------------------------
# Event types
# --------------------------------------------------------------------------


@dataclass(slots=True, frozen=False)
class Event:
    """Base class of every event the decoder produces."""


@dataclass(slots=True, frozen=False)
class ConversationCreated(Event):
    conversation_id: str
    title: str | None = None


@dataclass(slots=True, frozen=False)
class ResponseIds(Event):
    """Newly seen ids. Only the ids not reported before by this decoder are set."""

    response_id: str | None = None
    user_response_id: str | None = None


@dataclass(slots=True, frozen=False)
class Token(Event):
    """Answer text delta."""

    text: str
    soft_stop: bool = False


@dataclass(slots=True, frozen=False)
class ReasoningToken(Event):
    """Thinking / analysis / summary text delta."""

    text: str
    rollout_id: str | None = None
    step_id: int | None = None


@dataclass(slots=True, frozen=False)
class ToolUsage(Event):
    """A server-side tool invocation card (web search, browse, code...)."""

    card: dict


@dataclass(slots=True, frozen=False)
class SearchResults(Event):
    """Normalised sources; every result has ``url``, ``title``, ``snippet``."""

    kind: str  # "web" or "x"
    results: list[dict]
    cited: bool = False


@dataclass(slots=True, frozen=False)
class Card(Event):
    """A parsed ``cardAttachment.jsonData``."""

    card_id: str | None
    card_type: str | None
    data: dict


@dataclass(slots=True, frozen=False)
class ImageProgress(Event):
    image_id: str | None
    url: str | None
    progress: int | None
    index: int | None = None


@dataclass(slots=True, frozen=False)
class ImageGenerated(Event):
    """A finished image. ``url`` is passed through exactly as upstream sent it
    (usually a relative asset path); consumers resolve and dedupe."""

    url: str
    image_id: str | None = None
    moderated: bool = False


@dataclass(slots=True, frozen=False)
class VideoGenerated(Event):
    url: str | None
    progress: int | None
    data: dict


@dataclass(slots=True, frozen=False)
class ModelResponse(Event):
    """The final full assistant message (``modelResponse``)."""

    response_id: str | None
    message: str | None
    model_hash: str | None
    data: dict


@dataclass(slots=True, frozen=False)
class Title(Event):
    title: str


@dataclass(slots=True, frozen=False)
class Metadata(Event):
    kind: str  # "ui_layout", "llm_info" or "final_metadata"
    data: dict


@dataclass(slots=True, frozen=False)
class UpstreamError(Event):
    """An in-band error reported by grok.com inside the stream."""

    message: str
    code: int | str | None = None
    severity: str | None = None
    data: dict | None = None


@dataclass(slots=True, frozen=False)
class Done(Event):
    """Soft stop: the answer is complete (empty token with ``isSoftStop``)."""


@dataclass(slots=True, frozen=False)
class ParseError(Event):
    """A line that could not be understood. ``excerpt`` is the line's first
    200 characters."""

    message: str
    excerpt: str


# What grok.com sends before it starts answering: ids, model info, titles. Any other event
# (text, reasoning, search, images, the end, a line that is not understood) is the answer.
BOOKKEEPING_EVENTS = (ConversationCreated, ResponseIds, ModelResponse, Title, Metadata)


# --------------------------------------------------------------------------
# Small helpers (all total: they never raise on odd input)
# --------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    """Non-empty string or None."""
    if isinstance(value, str) and value:
        return value
    return None


def _int(value: Any) -> int | None:
    """An int (not a bool); integral floats are accepted."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _excerpt(line: bytes | str) -> str:
    if isinstance(line, bytes):
        # 4 bytes per character at most: enough bytes for 200 characters.
        line = line[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return line[:EXCERPT_CHARS]


def _limit_text(limit: int) -> str:
    mib = 1024 * 1024
    if limit >= mib and limit % mib == 0:
        return f"{limit // mib} MiB"
    return f"{limit} bytes"


def _error_event(value: Any) -> UpstreamError | None:
    if isinstance(value, str):
        return UpstreamError(value) if value else None
    if not isinstance(value, dict):
        return None
    message = _str(value.get("message"))
    if message is None:
        return None
    code = value.get("code")
    if not isinstance(code, (int, str)) or isinstance(code, bool):
        code = None
    return UpstreamError(message, code, _str(value.get("severity")), value)


def _search_entries(value: Any) -> list:
    """Accept a list, ``{"results": list | dict}``, or a dict of objects."""
    if isinstance(value, dict):
        inner = value.get("results")
        if isinstance(inner, (list, dict)):
            value = inner
        if isinstance(value, dict):
            return [v for v in value.values() if isinstance(v, dict)]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _first_str(entry: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _normalise_web(entry: dict) -> dict | None:
    url = _str(entry.get("url")) or _str(entry.get("link"))
    if url is None:
        return None
    out = dict(entry)
    out["url"] = url
    out["title"] = _first_str(entry, _WEB_TITLE_KEYS)
    out["snippet"] = _first_str(entry, _SNIPPET_KEYS)
    return out


def _normalise_x(entry: dict) -> dict | None:
    username = _str(entry.get("username"))
    post_id = entry.get("postId")
    if isinstance(post_id, int) and not isinstance(post_id, bool):
        post_id = str(post_id)
    post_id = _str(post_id)
    if post_id is not None:
        url = f"https://x.com/{username or 'i'}/status/{post_id}"
    else:
        url = _str(entry.get("url"))
        if url is None:
            return None
    out = dict(entry)
    out["url"] = url
    out["title"] = _str(entry.get("name")) or username or ""
    out["snippet"] = _first_str(entry, ("text",) + _SNIPPET_KEYS)
    return out


# --------------------------------------------------------------------------
# Decoder
# --------------------------------------------------------------------------


class NDJSONDecoder:
    """Stateful per-stream decoder.

    ``feed(chunk)`` returns the events of every line completed by ``chunk``;
    ``finish()`` parses a trailing line without a newline.  When a line grows
    beyond ``max_line_bytes`` a :class:`ParseError` is returned, ``overflowed``
    becomes true and the decoder returns nothing from then on.
    """

    __slots__ = (
        "max_line_bytes",
        "overflowed",
        "_buf",
        "_buf_len",
        "_seen_ids",
    )

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.overflowed = False
        self._buf: list[bytes] = []
        self._buf_len = 0
        # Every response id reported so far -> whether it was the user turn's (one dict for
        # both kinds: a set costs 216 bytes even when empty, and there is a decoder per stream).
        self._seen_ids: dict[str, bool] = {}

    # -- framing -----------------------------------------------------------

    def feed(self, chunk: bytes) -> list[Event]:
        if self.overflowed or not chunk:
            return []
        if chunk.find(b"\n") < 0:
            self._buf.append(bytes(chunk))
            self._buf_len += len(chunk)
            if self._buf_len > self.max_line_bytes:
                return [self._overflow(self._head())]
            return []

        lines = chunk.split(b"\n")
        if self._buf:
            self._buf.append(lines[0])
            lines[0] = b"".join(self._buf)
            self._buf.clear()
        tail = lines.pop()

        events: list[Event] = []
        limit = self.max_line_bytes
        for raw in lines:
            if len(raw) > limit:
                events.append(self._overflow(raw))
                return events
            line = raw.strip()
            if line:
                events.extend(self._parse(line))

        if tail:
            self._buf.append(bytes(tail))
            self._buf_len = len(tail)
            if self._buf_len > limit:
                events.append(self._overflow(tail))
        else:
            self._buf_len = 0
        return events

    def finish(self) -> list[Event]:
        if self.overflowed or not self._buf:
            return []
        raw = b"".join(self._buf)
        self._buf.clear()
        self._buf_len = 0
        if len(raw) > self.max_line_bytes:  # only if the limit was lowered
            return [self._overflow(raw)]
        line = raw.strip()
        return self._parse(line) if line else []

    def _head(self) -> bytes:
        """Enough leading bytes of the buffered line for an excerpt."""
        need = EXCERPT_CHARS * 4
        parts: list[bytes] = []
        for part in self._buf:
            parts.append(part[:need])
            need -= len(parts[-1])
            if need <= 0:
                break
        return b"".join(parts)

    def _overflow(self, head: bytes) -> ParseError:
        self.overflowed = True
        self._buf.clear()
        self._buf_len = 0
        return ParseError(f"line exceeds {_limit_text(self.max_line_bytes)} limit", _excerpt(head))

    # -- one line ----------------------------------------------------------

    def parse_line(self, line: bytes | str) -> list[Event]:
        """Parse one complete line (no framing, no size limit)."""
        if isinstance(line, (bytes, bytearray, memoryview)):
            line = bytes(line).strip()
        elif isinstance(line, str):
            line = line.strip()
        else:
            return []
        return self._parse(line) if line else []

    def decode_object(self, obj: dict) -> list[Event]:
        """The events of one line already decoded from JSON (the WebSocket lane's lines)."""
        return self._events(obj, "")

    def _parse(self, line: bytes | str) -> list[Event]:
        line = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = line
        if text.startswith("data:"):  # SSE-style framing
            text = text[5:].strip()
            if not text or text == "[DONE]":
                return []
        try:
            obj = _json_decode(text)
        except (ValueError, RecursionError) as exc:
            return [ParseError(f"invalid JSON: {exc}", _excerpt(line))]
        if not isinstance(obj, dict):
            return [ParseError("line is not a JSON object", _excerpt(line))]
        return self._events(obj, line)

    def _events(self, obj: dict, text: str) -> list[Event]:
        """One line's events, in the order of the module docstring, one step per kind."""
        result = obj.get("result")
        if not isinstance(result, dict):
            err = _error_event(obj.get("error"))
            return [err] if err is not None else []
        response = result.get("response")
        payload = response if isinstance(response, dict) else result
        events: list[Event] = []
        if len(obj) == 1 and (payload is result or len(result) == 1) and payload.keys() <= _HOT_KEYS:
            self._token_line(payload, events)  # the hot path: a plain token line
            return events
        model = payload.get("modelResponse")
        if not isinstance(model, dict):
            model = None
        self._errors(obj, result, payload, model, events)  # 1.
        user = payload.get("userResponse")
        if "responseId" in payload or model is not None or isinstance(user, dict):
            self._ids(payload, user, model, events)  # 2.
        self._conversation(result, events)  # 3.
        self._metadata(payload, events)  # 4.
        self._answer(payload, events)  # 5.
        for key, kind, cited in SEARCH_FIELDS:  # 6.
            if key in payload:
                self._search(payload[key], kind, cited, events)
        self._cards_and_media(payload, model, text, events)  # 7. and 8.
        if model is not None:  # 9.
            events.append(
                ModelResponse(
                    _str(model.get("responseId")),
                    model.get("message") if isinstance(model.get("message"), str) else None,
                    self._model_hash(payload, model),
                    model,
                )
            )
        return events

    # -- the steps ---------------------------------------------------------

    def _token_line(self, payload: dict, events: list[Event]) -> None:
        """A line with only a token (and its response id): the same events as the full path."""
        rid = payload.get("responseId")
        if isinstance(rid, str) and rid and rid not in self._seen_ids:
            self._seen_ids[rid] = False
            events.append(ResponseIds(rid))
        token = payload.get("token")
        if isinstance(token, str):
            self._token(payload, token, events)

    @staticmethod
    def _errors(obj: dict, result: dict, payload: dict, model: dict | None, events: list[Event]) -> None:
        """1. errors, wherever grok.com puts them: beside the result, in it, in the response,
        in the final model response's streamErrors."""
        places = [obj.get("error"), result.get("error")]
        if payload is not result:
            places.append(payload.get("error"))
        if model is not None and isinstance(model.get("streamErrors"), list):
            places.extend(model["streamErrors"])
        for value in places:
            err = _error_event(value)
            if err is not None:
                events.append(err)

    @staticmethod
    def _conversation(result: dict, events: list[Event]) -> None:
        """3. a new conversation, a title (always on ``result``)."""
        conversation = result.get("conversation")
        if isinstance(conversation, dict):
            conversation_id = _str(conversation.get("conversationId"))
            if conversation_id is not None:
                events.append(ConversationCreated(conversation_id, _str(conversation.get("title"))))
        if "title" in result:
            title = result["title"]
            if isinstance(title, dict):
                title = _str(title.get("title")) or _str(title.get("newTitle"))
            else:
                title = _str(title)
            if title is not None:
                events.append(Title(title))

    @staticmethod
    def _metadata(payload: dict, events: list[Event]) -> None:
        """4. metadata blocks (UI layout, model info, final metadata)."""
        for key, kind in METADATA_FIELDS:
            value = payload.get(key)
            if isinstance(value, dict):
                events.append(Metadata(kind, value))

    def _answer(self, payload: dict, events: list[Event]) -> None:
        """5. reasoning / answer tokens / Done, then the tool usage card."""
        token = payload.get("token")
        if isinstance(token, str):
            self._token(payload, token, events)
        card = payload.get("toolUsageCard")
        if isinstance(card, dict) and any(k != "toolUsageCardId" for k in card):
            events.append(ToolUsage(card))

    def _cards_and_media(self, payload: dict, model: dict | None, text: str, events: list[Event]) -> None:
        """7. cards, 8. images (from cards and from the response, each once), then video."""
        images: list[Event] = []
        seen_urls: set[str] = set()
        attachment = payload.get("cardAttachment")
        if isinstance(attachment, dict) and "jsonData" in attachment:
            self._card(attachment["jsonData"], text, events, images, seen_urls)
        self._images(payload, model, images, seen_urls)
        events.extend(images)
        video = payload.get("streamingVideoGenerationResponse")
        if isinstance(video, dict):
            events.append(VideoGenerated(_str(video.get("videoUrl")), _int(video.get("progress")), video))

    # -- field handlers ----------------------------------------------------

    def _ids(self, payload: dict, user: Any, model: dict | None, events: list[Event]) -> None:
        seen = self._seen_ids
        new_user: list[str] = []
        new_response: list[str] = []
        if isinstance(user, dict):
            uid = _str(user.get("responseId"))
            if uid is not None and seen.get(uid) is not True:
                seen[uid] = True
                new_user.append(uid)
        for rid in (
            _str(payload.get("responseId")),
            _str(model.get("responseId")) if model is not None else None,
        ):
            # On the user-turn frame grok repeats the user id as responseId:
            # never report a user id as the assistant response id.
            if rid is not None and rid not in seen:
                seen[rid] = False
                new_response.append(rid)
        count = max(len(new_user), len(new_response))
        for i in range(count):
            events.append(
                ResponseIds(
                    new_response[i] if i < len(new_response) else None,
                    new_user[i] if i < len(new_user) else None,
                )
            )

    @staticmethod
    def _token(payload: dict, token: str, events: list[Event]) -> None:
        soft_stop = payload.get("isSoftStop") is True
        if not token:
            if soft_stop:
                events.append(Done())
            return
        tag = payload.get("messageTag")
        if tag is None:
            tag = ""
        elif not isinstance(tag, str) or tag in DROPPED_TAGS:
            return
        if payload.get("isThinking") is True or tag in REASONING_TAGS:
            rollout = payload.get("rolloutId")
            events.append(
                ReasoningToken(
                    token,
                    rollout if isinstance(rollout, str) and rollout else None,
                    _int(payload.get("messageStepId")),
                )
            )
        elif tag in ANSWER_TAGS:
            events.append(Token(token, soft_stop))

    @staticmethod
    def _search(value: Any, kind: str, cited: bool, events: list[Event]) -> None:
        normalise = _normalise_x if kind == "x" else _normalise_web
        results = []
        for entry in _search_entries(value):
            item = normalise(entry)
            if item is not None:
                results.append(item)
        if results:
            events.append(SearchResults(kind, results, cited))

    @staticmethod
    def _card(
        raw: Any,
        text: str,
        events: list[Event],
        images: list[Event],
        seen_urls: set[str],
    ) -> None:
        if isinstance(raw, str):
            try:
                data = _json_decode(raw)
            except (ValueError, RecursionError) as exc:
                events.append(ParseError(f"invalid cardAttachment.jsonData: {exc}", _excerpt(text)))
                return
        else:
            data = raw
        if not isinstance(data, dict):
            events.append(ParseError("cardAttachment.jsonData is not a JSON object", _excerpt(text)))
            return
        events.append(Card(_str(data.get("id")), _str(data.get("cardType")), data))
        chunk = data.get("image_chunk")
        if isinstance(chunk, dict):
            _image(
                images,
                seen_urls,
                _str(chunk.get("imageUrl")),
                _str(chunk.get("imageUuid")),
                _int(chunk.get("progress")),
                chunk.get("isFinal") is True,
                chunk.get("moderated") is True,
                _int(chunk.get("imageIndex")),
            )

    @staticmethod
    def _images(payload: dict, model: dict | None, images: list[Event], seen_urls: set[str]) -> None:
        stream = payload.get("streamingImageGenerationResponse")
        if isinstance(stream, dict):
            _image(
                images,
                seen_urls,
                _str(stream.get("imageUrl")),
                _str(stream.get("imageId")) or _str(stream.get("imageUuid")),
                _int(stream.get("progress")),
                stream.get("isFinal") is True,
                stream.get("moderated") is True,
                _int(stream.get("imageIndex")),
            )
        cached = payload.get("cachedImageGenerationResponse")
        if isinstance(cached, dict):
            _final_image(images, seen_urls, _str(cached.get("imageUrl")), None, False)
        _final_image(images, seen_urls, _str(payload.get("generatedImageUrl")), None, False)
        if model is not None:
            urls = model.get("generatedImageUrls")
            if isinstance(urls, list):
                for url in urls:
                    _final_image(images, seen_urls, _str(url), None, False)

    @staticmethod
    def _model_hash(payload: dict, model: dict) -> str | None:
        metadata = model.get("metadata")
        if isinstance(metadata, dict):
            info = metadata.get("llm_info")
            if isinstance(info, dict):
                value = _str(info.get("modelHash"))
                if value is not None:
                    return value
        for holder in (model, payload):
            info = holder.get("llmInfo")
            if isinstance(info, dict):
                value = _str(info.get("modelHash"))
                if value is not None:
                    return value
        return None


def _final_image(
    images: list[Event],
    seen_urls: set[str],
    url: str | None,
    image_id: str | None,
    moderated: bool,
) -> None:
    if url is None or url in seen_urls:
        return
    seen_urls.add(url)
    images.append(ImageGenerated(url, image_id, moderated))


def _image(
    images: list[Event],
    seen_urls: set[str],
    url: str | None,
    image_id: str | None,
    progress: int | None,
    is_final: bool,
    moderated: bool,
    index: int | None,
) -> None:
    if is_final or (progress is not None and progress >= 100):
        _final_image(images, seen_urls, url, image_id, moderated)
    elif url is not None or image_id is not None or progress is not None:
        images.append(ImageProgress(image_id, url, progress, index))


def iter_events(chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Event]:
    """Decode a whole byte stream; stops after an oversize-line ParseError."""
    decoder = NDJSONDecoder(max_line_bytes)
    for chunk in chunks:
        yield from decoder.feed(chunk)
        if decoder.overflowed:
            return
    yield from decoder.finish()
