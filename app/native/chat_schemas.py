"""Request bodies of the native chat routes (docs/api.md), camelCase as upstream.

Known fields are typed (a wrong type is a 422 naming the field, never an opaque
upstream 400); unknown fields are forwarded unchanged on both new and continued
chats, so fields grok.com adds later work without a release; `null` means absent
and is not sent upstream.
"""

from __future__ import annotations

import logging

import marshmallow as ma
from marshmallow import validate

from ..web.fields import StrictBoolean, StrictInteger
from .fields import ClosedBody, ForwardedBody

log = logging.getLogger(__name__)

U32 = 2**32 - 1
U64 = 2**64 - 1

MODEL_NAMES = (
    "grok-2, grok-3, grok-3-mini, grok-3-mini-fast, grok-4, grok-4-mini, grok-4.1-fast-reasoning, "
    "grok-4.1-fast-non-reasoning, grok-4.20-0309-reasoning, grok-4.20-0309-non-reasoning, "
    "grok-4.20-multi-agent-0309, grok-code-fast-1, grok-imagine-image, grok-imagine-image-pro, "
    "grok-imagine-video"
)


def _doc(description: str | None) -> dict:
    return {"description": description} if description else {}


def boolean(description: str | None = None):
    return StrictBoolean(allow_none=True, metadata=_doc(description))


def string(description: str | None = None):
    return ma.fields.String(allow_none=True, metadata=_doc(description))


def strings(description: str | None = None):
    return ma.fields.List(ma.fields.String(), allow_none=True, metadata=_doc(description))


def integer(high: int, description: str | None = None):
    return StrictInteger(validate=validate.Range(0, high), allow_none=True, metadata=_doc(description))


def any_list(description: str | None = None):
    return ma.fields.List(ma.fields.Raw(allow_none=True), allow_none=True, metadata=_doc(description))


def obj(description: str | None = None):
    return ma.fields.Dict(allow_none=True, metadata=_doc(description))


def any_json(description: str | None = None):
    return ma.fields.Raw(allow_none=True, metadata=_doc(description))


class ForwardingSchema(ForwardedBody):
    """Unknown keys are kept (forwarded upstream); null values are dropped (= absent)."""

    @ma.post_load
    def _drop_nulls(self, data: dict, **_kw) -> dict:
        unknown = sorted(k for k in data if k not in self.fields)
        if unknown:
            log.info("forwarding body fields grok-web-api does not know: %s", ", ".join(unknown))
        return {k: v for k, v in data.items() if v is not None}


class ChatOptionsSchema(ForwardingSchema):
    """Options valid for new and continued conversations."""

    message = ma.fields.String(required=True, metadata=_doc("The user's message."))
    modelName = string(f"Model; known values: {MODEL_NAMES}. Any other string is forwarded.")
    modeId = string("UI mode: auto, fast, expert, heavy (any other string is forwarded).")
    modelMode = string("Legacy mode: fast, expert, heavy, auto, grok-4-mini-thinking, grok-4-1, ...")
    fileAttachments = strings("fileMetadataId values from POST /v1/files.")
    imageAttachments = any_list()
    disableSearch = boolean()
    enableImageGeneration = boolean()
    returnImageBytes = boolean()
    returnRawGrokInXaiRequest = boolean()
    enableImageStreaming = boolean()
    imageGenerationCount = integer(U32)
    forceConcise = boolean()
    toolOverrides = obj('Force or disable tools, e.g. {"webSearch": false, "imageGen": true}.')
    enableSideBySide = boolean()
    customInstructions = string()
    customPersonality = string()
    deepsearchPreset = string("deepsearch, deepersearch or think (any other string is forwarded).")
    isReasoning = boolean()
    systemPromptName = string()
    webpageUrls = strings()
    imageEditUris = strings()
    disableArtifact = boolean()
    disableMemory = boolean()
    disableSelfHarmShortCircuit = boolean()
    threadParentId = string("Response id to start a thread from.")
    skipResponseCache = boolean()
    enableNsfw = boolean()
    isRegenRequest = boolean()
    companionId = string()
    modelOverrideKey = string()
    enabledSkills = strings()


class NewChatSchema(ChatOptionsSchema):
    """`POST /v1/chat` -> `conversations/new`."""

    temporary = boolean("true = not saved to the conversation history.")
    sendFinalMetadata = boolean()
    imageEditUri = string()
    workspaceIds = strings()
    disableTextFollowUps = boolean()
    responseMetadata = obj()
    disableArtifactDiff = boolean()
    doForceTriggerArtifact = boolean()
    isFromGrokFiles = boolean()
    selectedFileTextContent = string()
    selectedFileTextContentStartPosition = integer(U64)
    selectedFileTextContentEndPosition = integer(U64)
    forceSideBySide = boolean()
    modelsUserCanUse = strings()
    isAsyncChat = boolean()
    isKidsMode = boolean()
    supportedFastTools = any_json()
    templateId = string()
    collectionIds = strings()
    connectorIds = strings()
    connectors = any_list()
    searchAllConnectors = boolean()
    deviceEnvInfo = obj()
    browserGeoLocation = obj()
    highlightsStoryRequests = any_list()
    disablePersonalization = boolean()
    imagineProjectId = string()
    skipCancelCurrentInflightRequests = boolean()


class ContinueChatSchema(ChatOptionsSchema):
    """`POST /v1/chat/{conversation_id}/message` -> `conversations/{id}/responses`."""

    parentResponseId = string("The response to answer after (default: the conversation's last one).")
    parentQuotedText = string()
    followUpType = string("suggested or manual (any other string is forwarded).")
    resumeResponseId = string()


class QuickAnswerSchema(ClosedBody):
    """`POST /v1/chat/quick`: grok.com's quick-answer takes nothing but the query."""

    query = ma.fields.String(required=True, metadata=_doc("The question."))


NEW_CHAT_EXAMPLE = {
    "message": "Explain HTTP/2 multiplexing in two sentences.",
    "modeId": "fast",
    "temporary": True,
    "disableMemory": True,
}
CONTINUE_CHAT_EXAMPLE = {"message": "Now in one sentence.", "modeId": "fast"}
QUICK_EXAMPLE = {"query": "What is the capital of Australia?"}

# What grok.com streams back (one JSON object per line; abridged).
NEW_CHAT_STREAM_EXAMPLE = (
    "\n".join(
        [
            '{"result":{"conversation":{"conversationId":"c0ffee00-1111-4222-8333-444455556666",'
            '"title":"New conversation"}}}',
            '{"result":{"response":{"userResponse":{"responseId":"aaaa1111-2222-4333-8444-555566667777",'
            '"message":"Explain HTTP/2 multiplexing in two sentences.","sender":"human"}}}}',
            '{"result":{"response":{"token":"HTTP/2 ","isThinking":false,"isSoftStop":false,'
            '"responseId":"bbbb1111-2222-4333-8444-555566667777"}}}',
            '{"result":{"response":{"token":"sends many streams over one connection.","isThinking":false}}}',
            '{"result":{"response":{"modelResponse":{"responseId":"bbbb1111-2222-4333-8444-555566667777",'
            '"message":"HTTP/2 sends many streams over one connection.","sender":"ASSISTANT"}}}}',
            '{"result":{"title":{"newTitle":"HTTP/2 multiplexing"}}}',
            '{"result":{"response":{"token":"","isSoftStop":true}}}',
        ]
    )
    + "\n"
)
CONTINUE_STREAM_EXAMPLE = (
    "\n".join(
        [
            '{"result":{"userResponse":{"responseId":"cccc1111-2222-4333-8444-555566667777","message":"Now in one '
            'sentence.","sender":"human"}}}',
            '{"result":{"token":"One connection, many streams.","isThinking":false,"isSoftStop":false}}',
            '{"result":{"token":"","isSoftStop":true}}',
        ]
    )
    + "\n"
)
FAILED_STREAM_EXAMPLE = (
    '{"result":{"response":{"token":"HTTP/2 ","isThinking":false}}}\n'
    '{"error":{"type":"gateway_timeout","title":"Gateway Timeout","status":504,'
    '"detail":"no data from upstream for 120 s. grok.com did not answer in time; retry later.",'
    '"failure_class":"timeout"}}\n'
)
