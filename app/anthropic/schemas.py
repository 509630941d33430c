"""Request schemas of POST /v1/messages and /v1/messages/count_tokens (Anthropic's Messages API).

Read leniently, as Claude Code and the SDKs send them: unknown fields and keys are kept
(`context_management`, `output_config`, `metadata`, betas' additions), blocks are read by
app/anthropic/request.py, which skips what it cannot use. Wrong types of the fields this
server acts on are a 400 invalid_request_error.
"""

from __future__ import annotations

from marshmallow import fields, validate

from ..web.fields import (
    MAX_MESSAGES,
    MAX_STOP_CHARS,
    MAX_TOOLS,
    MAX_TOOLS_BYTES,
    BoundedList,
    Loose,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StringOr,
)

# Anthropic documents no count; every streamed token is matched against each sequence.
MAX_STOP_SEQUENCES = 16


class CountTokensRequest(Loose):
    model = fields.String(metadata={"description": "claude-* names run on CLAUDE_MODEL_MODE; or a Grok mode"})
    messages = BoundedList(fields.Dict(), required=True, max_items=MAX_MESSAGES)
    system = StringOr(BoundedList(fields.Raw(), max_items=MAX_MESSAGES))
    tools = BoundedList(fields.Dict(), max_items=MAX_TOOLS, max_bytes=MAX_TOOLS_BYTES)
    tool_choice = fields.Dict()
    thinking = fields.Dict()


class MessagesRequest(CountTokensRequest):
    max_tokens = StrictInteger(validate=validate.Range(min=1))
    stream = StrictBoolean()
    stop_sequences = BoundedList(
        fields.String(validate=validate.Length(max=MAX_STOP_CHARS)), max_items=MAX_STOP_SEQUENCES
    )
    temperature = StrictNumber(validate=validate.Range(0, 2))
    top_p = StrictNumber(validate=validate.Range(0, 1))
    top_k = StrictInteger(validate=validate.Range(min=0))
    metadata = fields.Dict()
