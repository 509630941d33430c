"""Text filters for Grok's answer: internal tags, stop sequences, JSON extraction.

Grok's answer text carries markup meant for grok.com's own UI:

* `<grok:render card_id=".." card_type=".." type="..">…</grok:render>` refers to a card
  sent elsewhere in the stream (`cardAttachment`): an inline citation becomes a
  markdown link `[[n]](url)` plus an OpenAI `url_citation` annotation, a generated
  image becomes a markdown image, a searched image a linked thumbnail; anything else
  is removed.
* `<xai:…>…</xai:…>` elements (tool-usage cards) are removed with their content.
* `<xaiArtifact …>code</xaiArtifact>` keeps the code, fenced as a markdown code block.

Tags arrive split across tokens, so `TagFilter` is incremental: it holds back only
what could still turn into one of these tags, and text without `<` passes through
untouched (the hot path). A render tag whose card has not arrived yet holds the
text after it until the card comes (`card_added`) or the answer ends.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urljoin

log = logging.getLogger(__name__)

ASSET_BASE = "https://assets.grok.com/"
# Shown where grok.com withheld a generated image.
MODERATED_NOTICE = "*(image withheld by grok.com's moderation)*"
MAX_ELEMENT_CHARS = 64 * 1024

_OPENERS = ("<grok:render", "</grok:render", "<xai:", "</xai:", "<xaiartifact", "</xaiartifact")
_ATTR = re.compile(r'([A-Za-z_][\w:-]*)\s*=\s*"([^"]*)"')
_ARGUMENT = re.compile(r'<argument\s+name="([^"]*)"\s*>(.*?)</argument>', re.S)
_XAI_NAME = re.compile(r"<xai:([\w.-]+)")


def asset_url(path: str) -> str:
    """An absolute URL for a grok.com asset path (relative paths live on the asset host)."""
    if path.startswith(("http://", "https://")):
        return path
    return urljoin(ASSET_BASE, path.lstrip("/"))


@dataclass(slots=True)
class Sources:
    """What the answer's tags refer to: cards, search results, citations, images.

    One per chat completion; filled from stream events as they arrive.
    """

    cards: dict[str, dict] = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)  # web results, in arrival order
    titles: dict[str, str] = field(default_factory=dict)  # url -> title
    citation_numbers: dict[str, int] = field(default_factory=dict)
    # image links shown inline (dicts used as sets: an empty dict is 64 bytes, a set 216)
    rendered_images: dict[str, None] = field(default_factory=dict)
    # asset reference -> the URL clients get (the server passes a signed proxy link maker)
    link: Callable[[str], str] = asset_url
    noticed_moderated: dict[str, None] = field(default_factory=dict)  # asset_url() of moderated images noticed

    def moderated_notice(self, reference: str) -> str:
        """The notice for a moderated image, the first time that image comes up ("" after)."""
        key = asset_url(reference)
        if key in self.noticed_moderated:
            return ""
        self.noticed_moderated[key] = None
        return MODERATED_NOTICE

    def add_card(self, card_id: str | None, data: dict) -> None:
        if card_id:
            self.cards[card_id] = data

    def add_results(self, kind: str, results: list[dict]) -> None:
        for item in results:
            url = item.get("url")
            if not url:
                continue
            if kind == "web" and url not in self.titles:
                self.results.append(item)
            if item.get("title") and url not in self.titles:
                self.titles[url] = item["title"]

    def result_for_citation(self, citation_id: str | None) -> dict | None:
        if citation_id is None:
            return None
        for item in self.results:
            if str(item.get("citationId", "")) == citation_id:
                return item
        if citation_id.isdigit() and int(citation_id) < len(self.results):
            return self.results[int(citation_id)]
        return None

    def number_for(self, url: str) -> int:
        number = self.citation_numbers.get(url)
        if number is None:
            number = self.citation_numbers[url] = len(self.citation_numbers) + 1
        return number


@dataclass(slots=True)
class Citation:
    """A link the filter produced, as positions in the filter's output stream."""

    start: int
    end: int
    url: str
    title: str


_PENDING = object()  # a render tag waiting for its card


class TagFilter:
    """Incremental filter of Grok's internal tags (see the module docstring).

    `feed`, `card_added` and `finish` return the text that is safe to show, in order.
    With `cite=True`, inline citations are recorded in `citations` (positions count
    characters of everything this filter has returned).
    """

    # A filter lives as long as its stream, and most streams have no citation, card or
    # artifact: its lists start as the shared empty tuple and become lists when first needed.
    __slots__ = ("sources", "cite", "citations", "length", "_at_line_start", "_buf", "_pending", "_queued", "_fences")

    def __init__(self, sources: Sources, cite: bool = True):
        self.sources = sources
        self.cite = cite
        self.citations: list[Citation] | tuple = ()
        self.length = 0  # characters returned so far
        self._at_line_start = True
        self._buf = ""  # unprocessed text starting with a possible tag
        self._pending = ""  # a complete render element waiting for its card
        self._queued: list[str] | tuple = ()  # text that arrived after the pending element
        self._fences: list[bool] | tuple = ()  # open xaiArtifact elements: fenced or not

    # -- public -----------------------------------------------------------------------------
    def feed(self, text: str) -> str:
        if self._pending:
            self._queue(text)
            return ""
        if not self._buf and "<" not in text:
            if text:
                self.length += len(text)
                self._at_line_start = text[-1] == "\n"
            return text
        return self._process(self._buf + text)

    def card_added(self) -> str:
        """Release what waited for a card, if the card it waited for is now known."""
        if not self._pending:
            return ""
        rendered = self._render(self._pending)
        if rendered is _PENDING:
            return ""
        return self._release(rendered)

    def finish(self) -> str:
        out = []
        while self._pending:  # releasing may reach another tag whose card never came
            log.debug("render tag without its card dropped: %.200s", self._pending)
            out.append(self._release(""))
        if self._buf:
            log.debug("unterminated internal tag dropped: %.200s", self._buf)
            self._buf = ""
        while self._fences:
            out.append(self._emit(self._fence_end() if self._fences.pop() else ""))
        return "".join(out)

    # -- internals ------------------------------------------------------------------------------
    def _release(self, rendered: str) -> str:
        self._pending = ""
        queued, self._queued = "".join(self._queued), ()
        head = self._emit(rendered)
        return head + (self._process(self._buf + queued) if queued or self._buf else "")

    def _queue(self, text: str) -> None:
        if not self._queued:
            self._queued = []
        self._queued.append(text)

    def _emit(self, text: str) -> str:
        if text:
            self.length += len(text)
            self._at_line_start = text[-1] == "\n"
        return text

    def _process(self, data: str) -> str:
        self._buf = ""
        out: list[str] = []
        i = 0
        n = len(data)
        while i < n:
            j = data.find("<", i)
            if j < 0:
                out.append(self._emit(data[i:]))
                break
            if j > i:
                out.append(self._emit(data[i:j]))
            end = self._element_end(data, j)
            if end is None:  # not one of our tags
                out.append(self._emit("<"))
                i = j + 1
                continue
            if end < 0:  # could still become one: wait for more text
                if n - j > MAX_ELEMENT_CHARS:
                    log.warning("unterminated internal tag longer than %d characters shown as text", MAX_ELEMENT_CHARS)
                    out.append(self._emit(data[j:]))
                else:
                    self._buf = data[j:]
                break
            element = data[j:end]
            rendered = self._replacement(element)
            if rendered is _PENDING:
                self._pending = element
                if end < n:
                    self._queue(data[end:])
                break
            if rendered:
                out.append(self._emit(rendered))
            i = end
        return "".join(out)

    @staticmethod
    def _element_end(data: str, j: int) -> int | None:
        """End index of the internal element starting at `j`; -1 if incomplete; None if none."""
        head = data[j : j + 14].lower()
        if not any(o.startswith(head) or head.startswith(o) for o in _OPENERS):
            return None
        if not any(head.startswith(o) for o in _OPENERS):
            return -1  # a prefix of an opener, at the end of the data
        close = data.find(">", j)
        if close < 0:
            return -1
        if head.startswith(("</", "<xaiartifact")):
            return close + 1
        if head.startswith("<xai:"):
            if data[close - 1] == "/":
                return close + 1
            match = _XAI_NAME.match(data, j)
            name = match.group(1) if match else ""
            closing = f"</xai:{name}>"
            k = data.find(closing, close)
            return -1 if k < 0 else k + len(closing)
        k = data.find("</grok:render>", close)
        return -1 if k < 0 else k + len("</grok:render>")

    def _replacement(self, element: str):
        lower = element[:14].lower()
        if lower.startswith("<grok:render"):
            return self._render(element)
        if lower.startswith("<xaiartifact"):
            attrs = dict(_ATTR.findall(element))
            content_type = attrs.get("contentType", attrs.get("contenttype", ""))
            fenced = bool(content_type) and content_type not in ("text/markdown", "text/plain")
            if not self._fences:
                self._fences = []
            self._fences.append(fenced)
            if fenced:
                language = content_type.rsplit("/", 1)[-1].removeprefix("x-")
                return ("" if self._at_line_start else "\n") + "```" + language + "\n"
            return ""
        if lower.startswith("</xaiartifact"):
            if self._fences and self._fences.pop():
                return self._fence_end()
            return ""
        return ""  # xai:* elements and stray closing tags

    def _fence_end(self) -> str:
        return "```\n" if self._at_line_start else "\n```\n"

    def _render(self, element: str):
        opening = element[: element.find(">") + 1]
        attrs = dict(_ATTR.findall(opening))
        args = dict(_ARGUMENT.findall(element))
        kind = attrs.get("type", "")
        card_id = attrs.get("card_id")
        card = self.sources.cards.get(card_id) if card_id else None
        if kind == "render_inline_citation" or attrs.get("card_type") == "citation_card":
            url = card.get("url") if card else None
            if not url:
                result = self.sources.result_for_citation(args.get("citation_id"))
                url = result.get("url") if result else None
            if not url:
                return _PENDING if card_id and card is None else ""
            return self._citation(url)
        if card is None:
            if card_id and kind in ("render_generated_image", "render_searched_image", "render_file"):
                return _PENDING
            log.debug("render tag of type %r without a card dropped", kind)
            return ""
        chunk = card.get("image_chunk")
        if isinstance(chunk, dict):
            url = chunk.get("imageUrl")
            if not url:
                log.info("generated image %s not shown (no URL)", chunk.get("imageUuid"))
                return ""
            if chunk.get("moderated") is True:
                log.info("generated image %s withheld by grok.com's moderation", chunk.get("imageUuid"))
                return self.sources.moderated_notice(url)
            link = self.sources.link(url)
            self.sources.rendered_images[link] = None
            return f"![image]({link})"
        image = card.get("image")
        if isinstance(image, dict) and (image.get("thumbnail") or image.get("original")):
            title = (image.get("title") or "image").replace("]", ")").replace("[", "(")
            thumb = image.get("thumbnail") or image.get("original")
            link = image.get("link") or image.get("original") or thumb
            return f"[![{title}]({thumb})]({link})"
        log.debug("render tag of type %r with an unsupported card dropped", kind)
        return ""

    def _citation(self, url: str) -> str:
        number = self.sources.number_for(url)
        text = f"[[{number}]]({url})"
        if self.cite:
            start = self.length
            if not self.citations:
                self.citations = []
            self.citations.append(Citation(start, start + len(text), url, self.sources.titles.get(url) or url))
        return text


class StopMatcher:
    """Cuts a streamed text at the first occurrence of any stop sequence."""

    __slots__ = ("stops", "_hold", "_buf", "matched", "sequence")

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._buf = ""
        self.matched = False
        self.sequence: str | None = None  # the stop sequence that matched

    def feed(self, text: str) -> str:
        if self.matched:
            return ""
        data = self._buf + text
        cut = -1
        for stop in self.stops:
            k = data.find(stop)
            if k >= 0 and (cut < 0 or k < cut):
                cut = k
                self.sequence = stop
        if cut >= 0:
            self.matched = True
            self._buf = ""
            return data[:cut]
        if self._hold == 0:
            return data
        # Hold back the longest tail that is a prefix of some stop sequence. Only tails that start
        # with a stop's first character are tried (str.find): trying every length was quadratic in
        # the stop's length for every streamed token.
        keep = 0
        for stop in self.stops:
            k = data.find(stop[0], max(len(data) - len(stop) + 1, 0))
            while k != -1 and len(data) - k > keep:
                if stop.startswith(data[k:]):
                    keep = len(data) - k
                    break
                k = data.find(stop[0], k + 1)
        self._buf = data[len(data) - keep :] if keep else ""
        return data[: len(data) - keep] if keep else data

    def finish(self) -> str:
        out, self._buf = self._buf, ""
        return "" if self.matched else out


_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)\r?\n?[ \t]*```", re.S)


def extract_json(text: str) -> tuple[str, bool]:
    """The JSON document in an answer that should be JSON: (text, parsed_ok).

    Accepts the answer as is, or the first fenced block that parses; otherwise
    the answer is returned unchanged with `parsed_ok` false.
    """
    stripped = text.strip()
    if _parses(stripped):
        return stripped, True
    for match in _FENCE.finditer(text):
        body = match.group(1).strip()
        if _parses(body):
            return body, True
    return text, False


def _parses(text: str) -> bool:
    if not text:
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
