"""/v1/models: the OpenAI model ids this server offers and what each one asks grok.com for.

The ids are grok.com's mode ids. The live list comes from the account's mode list
(app/grok/modes.py, `POST /rest/modes`, cached per grok.com build): a new upstream mode
appears without a release, a mode the account's tier cannot use is listed with
`available: false`, and a mode that vanished upstream answers a clear 404 instead of
quietly running as `auto`. Without a live list (no cookies yet, grok.com unreachable)
the built-in list below serves, as in the reference implementation (docs/models.md): five ids, where
`grok-43` is sent as `modelMode` without `modeId`. An id in neither list falls back to
`auto` with a warning, and the requested id is still echoed back in responses.

Each mode's `upstream` fields are merged over the engine's browser-like payload
(app/engine/upstream.py), which every model API shares.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import marshmallow as ma

from ..engine.upstream import PAYLOAD_DEFAULTS, upstream_payload  # noqa: F401 (re-exported)
from ..grok.accounts import mode_of
from ..grok.modes import ModeList
from ..problems import Problem
from ..runtime import no_upstream, runtime
from ..web.blueprint import Blueprint

log = logging.getLogger(__name__)

OWNER = "xai"
DEFAULT_MODEL = "auto"
# The modes every account has had since 2025: a chat naming one never waits for the live list.
CORE_MODES = ("auto", "fast", "expert", "heavy")
NEW_MODE_CREATED = 1767225600  # 2026-01-01: `created` for a mode the built-in list does not know


@dataclass(frozen=True)
class ModelInfo:
    id: str
    created: int
    description: str
    # The fields that select this mode upstream (merged over PAYLOAD_DEFAULTS).
    upstream: Mapping[str, Any]
    available: bool = True  # False: the account's tier cannot use it (live list only)
    beta: bool = False

    def as_openai(self) -> dict[str, Any]:
        # Key order as the reference server: id, object, created, owned_by, description.
        out: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": OWNER,
            "description": self.description,
            "available": self.available,
        }
        if self.beta:
            out["beta"] = True
        return out


MODELS: dict[str, ModelInfo] = {
    m.id: m
    for m in (
        ModelInfo("auto", 1710000000, "Chooses Fast or Expert based on query complexity", {"modeId": "auto"}),
        ModelInfo("fast", 1710000000, "Quick responses", {"modeId": "fast"}),
        ModelInfo("expert", 1710000000, "Thinks hard", {"modeId": "expert"}),
        ModelInfo("heavy", 1720000000, "Team of experts \u2014 multi-agent orchestration", {"modeId": "heavy"}),
        ModelInfo(
            "grok-43", 1740000000, "Grok 4.3 \u2014 early access, may require account access", {"modelMode": "grok-43"}
        ),
    )
}


def live_modes(fetch: bool = True) -> ModeList | None:
    """The account's mode list (cached per grok.com build for every worker; `fetch=False` never
    asks grok.com), or None without cookies or without an answer: the built-in list then serves."""
    rt = runtime()
    if not rt.configured:
        return None
    client = rt.default_client()
    if not fetch:
        return rt.modes.cached(client)
    build = getattr(client.config.signer, "build", None)
    return rt.modes.current(client, build=build, max_age=rt.settings.statsig_ttl)


def live_modes_for(requested: str | None) -> ModeList | None:
    """The list a chat naming `requested` runs against: only an id beyond the core modes (a new
    or a vanished mode) waits for grok.com's list; the others take what is cached."""
    return live_modes(fetch=bool(requested) and requested.strip().lower() not in CORE_MODES)


def offered(live: ModeList | None) -> dict[str, ModelInfo]:
    """The models on offer: the live mode list when there is one, else the built-in list."""
    if live is None:
        return MODELS
    models = {}
    for mode in live.modes:
        known = MODELS.get(mode.id)
        description = mode.description or (known.description if known else None) or mode.title or mode.id
        models[mode.id] = ModelInfo(
            mode.id,
            known.created if known else NEW_MODE_CREATED,
            description,
            {"modeId": mode.id},
            available=mode.available,
            beta=mode.beta,
        )
    return models


def vanished(model_id: str, live: ModeList | None) -> bool:
    """Whether grok.com stopped offering a mode this server knew (built in, or listed before)."""
    if live is None or live.get(model_id) is not None:
        return False
    return model_id in MODELS or model_id in live.retired


def vanished_problem(model_id: str) -> Problem:
    return Problem(
        404,
        "not_found",
        f"The model '{model_id}' is no longer offered by grok.com: it is not in the account's mode list. "
        "GET /v1/models lists the current ones.",
        param="model",
    )


def lookup(model_id: str, live: ModeList | None = None) -> ModelInfo | None:
    """The model for an id exactly as listed by /v1/models, or None."""
    return offered(live).get(model_id)


def resolve(requested: str | None, live: ModeList | None = None) -> ModelInfo:
    """The model a chat request runs on: exact id, else case-insensitive, else `auto`; a mode
    grok.com stopped offering is a 404 problem."""
    models = offered(live)
    if not requested:
        return models.get(DEFAULT_MODEL) or MODELS[DEFAULT_MODEL]
    for candidate in (requested, requested.strip().lower()):
        if candidate in models:
            return models[candidate]
        if vanished(candidate, live):
            raise vanished_problem(candidate)
    log.warning("unknown model %r: using %r (GET /v1/models lists the available ids)", requested, DEFAULT_MODEL)
    return models.get(DEFAULT_MODEL) or MODELS[DEFAULT_MODEL]


def mode_for(requested: str | None, live: ModeList | None = None) -> str:
    """The grok.com mode a request for this model id runs on (the pool's quota and cooldowns
    are per mode); quietly, as `resolve` logs an unknown id when the request is planned."""
    models = offered(live)
    found = models.get(requested or DEFAULT_MODEL) or models.get((requested or "").strip().lower())
    return mode_of((found or MODELS[DEFAULT_MODEL]).upstream)


def listing(live: ModeList | None = None) -> dict[str, Any]:
    return {"object": "list", "data": [m.as_openai() for m in offered(live).values()]}


# -- the routes ------------------------------------------------------------------------------------
blp = Blueprint("models", __name__, url_prefix="/v1", description="OpenAI-compatible model list")


class OpenAIModelSchema(ma.Schema):
    id = ma.fields.String()
    object = ma.fields.String()
    created = ma.fields.Integer()
    owned_by = ma.fields.String()
    description = ma.fields.String()
    available = ma.fields.Boolean(metadata={"description": "false: the account's grok.com plan cannot use this mode"})
    beta = ma.fields.Boolean(metadata={"description": "grok.com marks the mode as a beta"})


class OpenAIModelListSchema(ma.Schema):
    object = ma.fields.String()
    data = ma.fields.List(ma.fields.Nested(OpenAIModelSchema))


@blp.route("/models", methods=["GET"])
@no_upstream
@blp.response(200, OpenAIModelListSchema, example=listing())
@blp.doc(
    summary="List the models (grok.com modes)",
    description="The account's modes as grok.com lists them (cached per grok.com build); the built-in list "
    "while there are no cookies or grok.com does not answer.",
)
def list_models():
    return listing(live_modes())


@blp.route("/models/<model_id>", methods=["GET"])
@no_upstream
@blp.response(200, OpenAIModelSchema, example=MODELS["expert"].as_openai())
@blp.doc(summary="One model")
def get_model(model_id: str):
    live = live_modes()
    found = lookup(model_id, live)
    if found is None:
        if vanished(model_id, live):
            raise vanished_problem(model_id)
        raise Problem(
            404, "not_found", f"Model '{model_id}' not found. Use GET /v1/models for available ", param="model"
        )
    return found.as_openai()
