"""Deriving a build's statsig values from grok.com itself (docs/grok-protocol.md: the token).

1. page      GET / with the account's cookies (as every request: same impersonation), then
             anonymously, then /imagine: the first page with a seed and a curve table wins
             (a 404 that still carries them counts);
2. scripts   the page's /_next/static/chunks/*.js from grok.com's own origins, to find the
             generator chunk (module 1645e3) and read its index set;
3. canary    each candidate index set gives an L; one signed POST /rest/rate-limits per
             candidate says whether grok.com accepts it: the chunk's own set first, then the
             last good one, then the sets grok.com used before, newest first (at most
             MAX_CANARIES per derivation, so a search never looks like an attack).

Every failure is a `DerivationError` naming the step, the URL and what was found there.
When the build is the one derived before, steps 2 and 3 reuse its index set and the
scripts are not fetched again.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field, replace

import gevent
from gevent.pool import Pool

from .. import errors as gerr
from . import chunks
from .fingerprint import IndexSet, fingerprint
from .page import PageData, PageError, allowed_script, describe, origin, read_page
from .signers import ChallengeSigner
from .token import ChallengeValues

log = logging.getLogger(__name__)

PAGE_MAX_BYTES = 8 * 1024 * 1024
SCRIPT_MAX_BYTES = 2 * 1024 * 1024
SCRIPTS_MAX_TOTAL = 32 * 1024 * 1024
MAX_SCRIPTS = 64
FETCH_CONCURRENCY = 8
MAX_CANARIES = 10
GENERATOR_HOPS = 3  # loader -> generator (or its shell) -> the shell's body
BUDGET_SECONDS = 60.0
PAGES = (("/", False), ("/", True), ("/imagine", False))  # (path, anonymous)


class DerivationError(Exception):
    """A derivation step failed: `step` (page, seed, curves, scripts, generator, canary),
    `url` where, `found` what was there instead. Never carries a secret."""

    def __init__(self, step: str, url: str, found: str, *, failure_class: str | None = None):
        self.step = step
        self.url = url
        self.found = found
        self.failure_class = failure_class
        super().__init__(f"step '{step}' on {url}: {found}")

    def to_json(self) -> dict:
        return {"step": self.step, "url": self.url, "found": self.found, "failure_class": self.failure_class}


@dataclass(frozen=True)
class Derived:
    """One build's derived values and where they came from."""

    seed: bytes
    fingerprint: str
    index_set: IndexSet
    index_source: str
    build_id: str
    release: str | None
    page_url: str
    generator_url: str | None
    derived_at: float
    verified: bool
    canary: str
    notes: tuple[str, ...] = field(default=())

    @property
    def values(self) -> ChallengeValues:
        return ChallengeValues.from_pair(self.seed, self.fingerprint)

    @property
    def id(self) -> str:
        """Names these exact values: the build, the seed and the index set."""
        return f"{self.build_id}/{self.seed[:4].hex()}/{self.index_set}"

    def to_json(self) -> dict:
        return {
            "seed": base64.b64encode(self.seed).decode(),
            "fingerprint": self.fingerprint,
            "index_set": self.index_set.as_list(),
            "index_source": self.index_source,
            "build_id": self.build_id,
            "release": self.release,
            "page_url": self.page_url,
            "generator_url": self.generator_url,
            "derived_at": self.derived_at,
            "verified": self.verified,
            "canary": self.canary,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data) -> "Derived | None":
        try:
            return cls(
                seed=base64.b64decode(data["seed"]),
                fingerprint=str(data["fingerprint"]),
                index_set=IndexSet.of(data["index_set"]),
                index_source=str(data["index_source"]),
                build_id=str(data["build_id"]),
                release=data.get("release"),
                page_url=str(data["page_url"]),
                generator_url=data.get("generator_url"),
                derived_at=float(data["derived_at"]),
                verified=bool(data["verified"]),
                canary=str(data["canary"]),
                notes=tuple(data.get("notes") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None


class Deriver:
    """One derivation with one client (see the module docstring). `client` is a GrokClient:
    its `fetch_document`, `fetch_script` and `canary` send the requests."""

    def __init__(self, client, *, cdn_url: str = "https://cdn.grok.com", previous: Derived | None = None):
        self.client = client
        self.base_url = client.config.base_url
        self.origins = tuple(dict.fromkeys((origin(self.base_url), origin(cdn_url))))
        self.previous = previous
        self.has_cookies = bool(client.config.cookie_header)
        self._script_bytes_left = SCRIPTS_MAX_TOTAL
        self._over_budget_logged = False

    def run(self, budget: float = BUDGET_SECONDS) -> Derived:
        timer = gevent.Timeout(budget)
        timer.start()
        try:
            page = self.page()
            candidates, generator_url, why = self.candidates(page)
            return self.choose(page, candidates, generator_url, why)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise DerivationError("budget", self.base_url, f"derivation took longer than {budget:g} s") from None
        finally:
            timer.close()

    # ------------------------------------------------------------------ 1. the page
    def page(self) -> PageData:
        problems: list[DerivationError] = []
        for path, anonymous in PAGES:
            if not anonymous and not self.has_cookies:
                continue
            url = self.base_url + path
            label = url + (" (anonymous)" if anonymous else "")
            try:
                reply = self.client.fetch_document(path, anonymous=anonymous, limit=PAGE_MAX_BYTES)
            except gerr.GrokError as exc:
                raise DerivationError("page", url, exc.message, failure_class=exc.failure_class) from None
            html = reply.content.decode("utf-8", "replace")
            if len(reply.content) > PAGE_MAX_BYTES:
                problems.append(DerivationError("page", label, f"the page is larger than {PAGE_MAX_BYTES} bytes"))
                continue
            if reply.status not in range(200, 300) and reply.status != 404:
                cls = gerr.CLOUDFLARE if "just a moment" in html.lower() else None
                problems.append(
                    DerivationError("page", label, f"HTTP {reply.status}, {describe(html)}", failure_class=cls)
                )
                continue
            try:
                return read_page(html, url, self.origins)
            except PageError as exc:
                cls = gerr.CLOUDFLARE if "Cloudflare" in exc.found else None
                problems.append(
                    DerivationError(exc.step, label, f"HTTP {reply.status}, {exc.found}", failure_class=cls)
                )
        if not problems:
            raise DerivationError("page", self.base_url + "/", "no page could be requested")
        first = problems[0]
        found = first.found if len(problems) == 1 else "; ".join(f"{p.url}: {p.found}" for p in problems)
        raise DerivationError(first.step, first.url, found, failure_class=first.failure_class)

    # ------------------------------------------------------------------ 2. the index set
    def candidates(self, page: PageData) -> tuple[list[tuple[IndexSet, str]], str | None, str]:
        """Index sets to try, in order, with how each was found; the generator URL; and why the
        generator gave no set (empty when it did)."""
        found: list[tuple[IndexSet, str]] = []
        previous = self.previous
        if previous is not None and previous.build_id == page.build_id and previous.verified:
            return [(previous.index_set, "the same build as before")], previous.generator_url, ""
        generator_url, index_set, why = self.read_generator(page)
        if index_set is not None:
            found.append((index_set, why))
        if previous is not None and previous.verified:
            found.append((previous.index_set, f"the last good set (build {previous.build_id})"))
        found += [(known, f"the set grok.com used in {date}") for date, known in chunks.KNOWN_INDEX_SETS]
        unique: dict[IndexSet, str] = {}
        for index, how in found:
            unique.setdefault(index, how)
        return list(unique.items())[:MAX_CANARIES], generator_url, "" if index_set is not None else why

    def read_generator(self, page: PageData) -> tuple[str | None, IndexSet | None, str]:
        """The generator chunk's URL, its index set, and how it was found (or why not).

        Looked for in the page's chunks that define module 1645e3, else in the chunks the
        page's loaders pull in before calling it; a chunk that defines the module without the
        byte reads is a shell, and the chunks it names are looked at next (GENERATOR_HOPS
        levels). Only when no chunk defines or loads the module at all are the page's
        obfuscated chunks tried."""
        scripts = page.scripts[:MAX_SCRIPTS]
        if not scripts:
            return None, None, f"the page ({page.url}) names no script chunks"
        sources = self._fetch_scripts(scripts)
        wanted = [url for url, source in sources.items() if chunks.defines_generator(source)]
        if not wanted:
            wanted = list(
                dict.fromkeys(
                    ref for url, source in sources.items() for ref in chunks.generator_references(source, url)
                )
            )
        module_seen = bool(wanted)
        problems: list[str] = []
        looked: set[str] = set()
        first: str | None = None
        for _ in range(GENERATOR_HOPS):
            wanted = [url for url in dict.fromkeys(wanted) if url not in looked][: chunks.MAX_REFERENCES]
            if not wanted:
                break
            looked.update(wanted)
            refused = [url for url in wanted if not self._allowed(url)]
            problems += [f"the generator chunk {url} is not on grok.com's origins" for url in refused]
            missing = [url for url in wanted if url not in sources and url not in refused]
            sources.update(self._fetch_scripts(missing))
            problems += [f"the generator chunk {url} could not be fetched" for url in missing if url not in sources]
            present = sorted(
                (url for url in wanted if url in sources), key=lambda u: not chunks.defines_generator(sources[u])
            )
            for url in present:
                first = first or url
                index_set, how = chunks.read_index_set(sources[url])
                if index_set is not None:
                    return url, index_set, how
                problems.append(f"{url}: the generator chunk holds {how}")
            # A shell: the chunk defining the module (else the first one the loader names) pulls
            # the body from the chunks it names.
            shells = [url for url in present if chunks.defines_generator(sources[url])] or present[:1]
            wanted = [ref for url in shells for ref in chunks.chunk_references(sources[url], url)]
        if module_seen:
            return first, None, "; ".join(problems[:3])
        for url, source in sources.items():
            if chunks.looks_obfuscated(source):
                index_set, how = chunks.read_index_set(source)
                if index_set is not None:
                    return url, index_set, how + " (an obfuscated chunk; module 1645e3 not found)"
        return None, None, f"none of the page's {len(scripts)} script chunks loads module 1645e3"

    def _allowed(self, url: str) -> bool:
        return allowed_script(url, self.origins)

    def _fetch_scripts(self, urls) -> dict[str, str]:
        """The scripts' sources (those that answered 2xx within the limits), in `urls` order.
        All fetches of one derivation share SCRIPTS_MAX_TOTAL: past it, nothing more is fetched
        or kept."""

        def fetch(url: str):
            if self._script_bytes_left <= 0:
                return url, None
            try:
                reply = self.client.fetch_script(url, limit=SCRIPT_MAX_BYTES)
            except gerr.GrokError as exc:
                log.debug("statsig: script %s failed: %s", url, exc.message)
                return url, None
            if not 200 <= reply.status < 300 or len(reply.content) > SCRIPT_MAX_BYTES:
                return url, None
            self._script_bytes_left -= len(reply.content)
            if self._script_bytes_left < 0:
                return url, None
            return url, reply.content.decode("utf-8", "replace")

        results = dict(Pool(FETCH_CONCURRENCY).imap_unordered(fetch, [u for u in urls if self._allowed(u)]))
        if self._script_bytes_left < 0 and not self._over_budget_logged:
            self._over_budget_logged = True
            log.warning(
                "statsig: the page's scripts exceed %d bytes in total; the rest were not read", SCRIPTS_MAX_TOTAL
            )
        return {url: results[url] for url in urls if results.get(url) is not None}

    # ------------------------------------------------------------------ 3. the canary
    def choose(self, page: PageData, candidates, generator_url: str | None, why: str) -> Derived:
        notes = list(page.notes)
        if why:
            notes.append(why)
        canary_url = self.base_url + "/rest/rate-limits"
        rejected: list[str] = []
        for index_set, how in candidates:
            pair = fingerprint(page.seed, page.table, index_set)
            derived = Derived(
                seed=page.seed,
                fingerprint=pair,
                index_set=index_set,
                index_source=how,
                build_id=page.build_id,
                release=page.release,
                page_url=page.url,
                generator_url=generator_url,
                derived_at=time.time(),
                verified=False,
                canary="not sent: no session cookies",
                notes=tuple(notes),
            )
            if not self.has_cookies:
                if how.startswith("read from") or how.startswith("the same build"):
                    return derived
                raise DerivationError(
                    "canary",
                    canary_url,
                    f"the generator's index set could not be read ({why}) and, without session "
                    "cookies, no canary can tell which known set the build uses",
                )
            verdict, detail = self.try_canary(derived.values)
            if verdict == "accepted":
                return replace(derived, verified=True, canary=detail)
            if verdict == "inconclusive":
                # The canary cannot judge (session, Cloudflare, network): keep the best candidate
                # unverified; the next rejection of a real request re-derives.
                return replace(derived, canary=f"inconclusive: {detail}")
            rejected.append(f"{index_set} ({how})")
        raise DerivationError(
            "canary",
            canary_url,
            f"grok.com rejected every candidate index set: {'; '.join(rejected)}"
            + (f". The generator gave none: {why}" if why else ""),
            failure_class=gerr.STALE_CHALLENGE,
        )

    def try_canary(self, values: ChallengeValues) -> tuple[str, str]:
        """('accepted' | 'rejected' | 'inconclusive', what grok.com answered)."""
        try:
            reply = self.client.canary(ChallengeSigner(values.header, values.suffix, values.trailer))
        except gerr.GrokError as exc:
            if exc.failure_class in (gerr.STALE_CHALLENGE, gerr.ANTI_BOT):
                return "rejected", exc.message
            return "inconclusive", f"{exc.failure_class}: {exc.message}"
        return "accepted", f"accepted (HTTP {reply.status} on POST /rest/rate-limits)"
