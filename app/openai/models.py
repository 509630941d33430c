"""The OpenAI model ids this server offers and what each one asks grok.com for.

reference-behaviour §8.2 / §8.8: five ids, one per mode of grok.com's model picker.
`grok-43` is sent as `modelMode` without `modeId` (an older `modeId` value for it was
fabricated and removed upstream of us). Anything else falls back to `auto` with a
warning, and the requested id is still echoed back in responses.

Each mode's `upstream` fields are merged over the engine's browser-like payload
(app/engine/upstream.py), which every model API shares.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from ..engine.upstream import PAYLOAD_DEFAULTS, upstream_payload  # noqa: F401 (re-exported)
from ..grok.accounts import mode_of

log = logging.getLogger(__name__)

OWNER = "xai"
DEFAULT_MODEL = "auto"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    created: int
    description: str
    # The fields that select this mode upstream (merged over PAYLOAD_DEFAULTS).
    upstream: Mapping[str, Any]

    def as_openai(self) -> dict[str, Any]:
        # Key order as the reference server: id, object, created, owned_by, description.
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": OWNER,
            "description": self.description,
        }


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


def lookup(model_id: str) -> ModelInfo | None:
    """The model for an id exactly as listed by /v1/models, or None."""
    return MODELS.get(model_id)


def resolve(requested: str | None) -> ModelInfo:
    """The model a chat request runs on: exact id, else case-insensitive, else `auto`."""
    if not requested:
        return MODELS[DEFAULT_MODEL]
    found = MODELS.get(requested) or MODELS.get(requested.strip().lower())
    if found is None:
        log.warning("unknown model %r: using %r (GET /v1/models lists the available ids)", requested, DEFAULT_MODEL)
        return MODELS[DEFAULT_MODEL]
    return found


def mode_for(requested: str | None) -> str:
    """The grok.com mode a request for this model id runs on (the pool's quota and cooldowns
    are per mode); quietly, as `resolve` logs an unknown id when the request is planned."""
    found = MODELS.get(requested or DEFAULT_MODEL) or MODELS.get((requested or "").strip().lower())
    return mode_of((found or MODELS[DEFAULT_MODEL]).upstream)


def listing() -> dict[str, Any]:
    return {"object": "list", "data": [m.as_openai() for m in MODELS.values()]}
