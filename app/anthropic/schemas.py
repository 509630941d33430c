"""Request schemas of POST /v1/messages and /v1/messages/count_tokens (Anthropic's Messages API).

Read leniently, as Claude Code and the SDKs send them: unknown fields and keys are kept
(`context_management`, `output_config`, `metadata`, betas' additions), blocks are read by
app/anthropic/request.py, which skips what it cannot use. Wrong types of the fields this
server acts on are a 400 invalid_request_error.
"""

from __future__ import annotations

from marshmallow import fields, validate

from ..web.fields import BoundedList, Loose, StrictBoolean, StrictInteger, StrictNumber, StringOr

MAX_MESSAGES = 10_000
MAX_TOOLS = 1_000


class CountTokensRequest(Loose):
    model = fields.String(metadata={"description": "claude-* names run on CLAUDE_MODEL_MODE; or a Grok mode"})
    messages = BoundedList(fields.Dict(), required=True, max_items=MAX_MESSAGES)
    system = StringOr(BoundedList(fields.Raw(), max_items=MAX_MESSAGES))
    tools = BoundedList(fields.Dict(), max_items=MAX_TOOLS)
    tool_choice = fields.Dict()
    thinking = fields.Dict()


class MessagesRequest(CountTokensRequest):
    max_tokens = StrictInteger(validate=validate.Range(min=1))
    stream = StrictBoolean()
    stop_sequences = fields.List(fields.String())
    temperature = StrictNumber(validate=validate.Range(0, 2))
    top_p = StrictNumber(validate=validate.Range(0, 1))
    top_k = StrictInteger(validate=validate.Range(min=0))
    metadata = fields.Dict()
