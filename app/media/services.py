"""The media objects of an app (signer, disk cache, fetcher, limits), built from its settings.

Rebuilt when the runtime's settings object changes (a key reload), so a new
ASSET_SIGNING_KEY or cache setting applies to the next request. A generated signing key is
read again from the shared-state store every KEY_REFRESH_SECONDS, so a host that had to make
its own while Redis was away switches to the shared one (and still accepts its own links).
Nothing per-request here.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flask import request

from ..grok.accounts import FAILS_OVER
from ..grok.errors import GrokError
from ..problems import Problem, from_grok_error
from ..runtime import grok, runtime
from ..settings import MIB, Settings
from .cache import AssetCache
from .fetch import Fetcher, FetchPolicy
from .inputs import ChatMedia, MediaError, MediaLimits, UploadFailed, prepare_chat_media
from .signing import AssetSigner, asset_path_of, load_key

KEY_REFRESH_SECONDS = 60.0


def key_file_of(settings: Settings) -> str | None:
    """Where a generated signing key is kept: ASSET_KEY_FILE, else beside the settings file."""
    if settings.asset_key_file:
        return settings.asset_key_file
    return f"{settings.env_file}.asset-key" if settings.env_file else None


@dataclass
class MediaServices:
    settings: Settings
    signer: AssetSigner
    cache: AssetCache
    fetcher: Fetcher
    limits: MediaLimits
    key_read_at: float = field(default_factory=time.monotonic)

    @classmethod
    def build(cls, settings: Settings, store, run_dir: Path) -> "MediaServices":
        """The media of an app whose run directory is `run_dir` (the asset cache's default home)."""
        cache_dir = Path(settings.asset_cache_dir) if settings.asset_cache_dir else run_dir / "assets"
        return cls(
            settings=settings,
            signer=AssetSigner(
                load_key(settings.asset_signing_key, store, key_file_of(settings)), settings.asset_url_ttl
            ),
            cache=AssetCache(cache_dir, int(settings.asset_cache_max_mb * MIB)),
            fetcher=Fetcher(FetchPolicy.from_settings(settings)),
            limits=MediaLimits.from_settings(settings),
        )

    def refresh_key(self, store) -> None:
        """Follow the shared generated key (see the module docstring)."""
        self.key_read_at = time.monotonic()
        if self.settings.asset_signing_key:
            return
        key = load_key(None, store, key_file_of(self.settings))
        if key != self.signer.key:
            self.signer = AssetSigner(key, self.settings.asset_url_ttl, older_keys=(self.signer.key,))

    def base_url(self) -> str:
        """Where clients reach this server: PUBLIC_BASE_URL, else the request's own scheme and host."""
        return self.settings.public_base_url or request.host_url.rstrip("/")

    def linker(self, owner: str | None = None) -> Callable[[str], str]:
        """For one response: asset reference from grok.com -> a URL the client can open (a signed
        link to our proxy; any other absolute URL unchanged). The same asset always gets the same
        link within a response, so an image is recognised (and shown) once. The asset is recorded
        as `owner`'s (the account that made it), so the proxy fetches it with that account."""
        accounts = runtime().pool if owner else None  # now: the link may be made after the request
        return AssetLinker(self, self.base_url(), accounts, owner)


class AssetLinker:
    """MediaServices.linker's link maker: called with an asset reference, gives its URL.

    A class with slots rather than a closure: there is one per streamed answer, and a closure
    over six names cost twice the memory.
    """

    __slots__ = ("_media", "_base", "_accounts", "_owner", "_made")

    def __init__(self, media: MediaServices, base: str, accounts, owner: str | None):
        self._media, self._base, self._accounts, self._owner = media, base, accounts, owner
        self._made: dict[str, str] | None = None

    def __call__(self, reference: str) -> str:
        path = asset_path_of(reference, self._media.settings.grok_assets_url)
        if path is None:
            return reference
        if self._made is None:
            self._made = {}
        if path not in self._made:
            self._made[path] = self._media.signer.link(self._base, path)
            if self._accounts is not None:
                self._accounts.own("asset", path, self._owner)
        return self._made[path]


def services() -> MediaServices:
    rt = runtime()
    built = rt.media
    if built is None or built.settings is not rt.settings:
        built = rt.media = MediaServices.build(rt.settings, rt.store, rt.rundir)
    elif time.monotonic() - built.key_read_at > KEY_REFRESH_SECONDS:
        built.refresh_key(rt.store)
    return built


def media_request_limit(settings: Settings) -> int:
    """The body size a request carrying media may have: the media limit as base64 plus room for the rest."""
    return settings.max_request_media_bytes * 4 // 3 + 2 * MIB


def media_body(view):
    """Let this view's request body be as large as MAX_REQUEST_MEDIA_BYTES allows (the app-wide
    limit is for plain JSON). Place it under @blp.route and above @blp.arguments."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request.max_content_length = media_request_limit(runtime().settings)
        return view(*args, **kwargs)

    return wrapper


def upload_problem(where: str, error: GrokError) -> Problem:
    """The problem for a failed upload to grok.com: the upstream failure's, naming the input."""
    problem = from_grok_error(error)
    problem.detail = f"{where}: uploading to grok.com failed: {problem.detail}"
    problem.param = where
    return problem


def upload_chat_media(messages: list, routed=None) -> ChatMedia:
    """Upload the image and file parts of a chat request's latest user turn (see inputs.py) to
    the account that will answer (`routed`, else the request's); a part that cannot be used is
    a 400 naming it. In a pool, a refusal another account may not meet is raised as it is, so
    the request moves to another account (app/routing.py)."""
    media = services()
    try:
        return prepare_chat_media(messages, routed.client if routed else grok(), media.fetcher, media.limits)
    except MediaError as exc:
        raise Problem(400, "bad_request", str(exc), param=exc.where) from None
    except UploadFailed as exc:
        if runtime().pool.strict and exc.error.failure_class in FAILS_OVER:
            raise exc.error from None
        raise upload_problem(exc.where, exc.error) from None
