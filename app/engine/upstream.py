"""The `conversations/new` body every model API sends: grok.com's browser-like defaults plus a mode.

Data-driven: `PAYLOAD_DEFAULTS` is the page's body (docs/grok-protocol.md: the new-chat body)
without the per-request fields (message, mode, customInstructions), so a field grok.com renames
or adds is a one-line change.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol


class Mode(Protocol):
    """What selects a grok.com mode (app.openai.models.ModelInfo is one)."""

    upstream: Mapping[str, Any]


# The body grok.com's web client sends for a new chat, minus the
# per-request fields (message, mode, customInstructions).
PAYLOAD_DEFAULTS: dict[str, Any] = {
    "temporary": True,  # nothing is saved in the user's grok.com history
    "disableMemory": True,  # answers must not depend on the account's memories
    "fileAttachments": [],
    "imageAttachments": [],
    "disableSearch": False,
    "enableImageGeneration": True,
    "enableImageStreaming": True,
    "imageGenerationCount": 2,
    "returnImageBytes": False,
    "returnRawGrokInXaiRequest": False,
    "forceConcise": False,
    "enableSideBySide": False,  # one answer per request, never an A/B pair
    "forceSideBySide": False,
    "sendFinalMetadata": True,
    "isReasoning": False,
    "disableTextFollowUps": True,  # follow-up suggestions have no place in an API answer
    "disableArtifact": True,  # code inline in the answer, not in a side canvas
    "isAsyncChat": False,
    "disableSelfHarmShortCircuit": False,
    "searchAllConnectors": False,
    "collectionIds": [],
    "connectors": [],
    "toolOverrides": {},
    "responseMetadata": {},
    "deviceEnvInfo": {
        "darkModeEnabled": False,
        "devicePixelRatio": 2,
        "screenHeight": 1329,
        "screenWidth": 2056,
        "viewportHeight": 1083,
        "viewportWidth": 2056,
    },
}


def upstream_payload(
    model: Mode, message: str, custom_instructions: str | None, temporary: bool = True
) -> dict[str, Any]:
    """The `conversations/new` body for one model request (a follow-up adds its parent to it);
    `temporary` False keeps the conversation in the account's history (KEEP_CONVERSATIONS)."""
    payload = dict(PAYLOAD_DEFAULTS)
    payload["temporary"] = temporary
    payload["message"] = message
    payload.update(model.upstream)
    if custom_instructions:
        payload["customInstructions"] = custom_instructions
    return payload
