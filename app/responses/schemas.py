"""Request schema of POST /v1/responses: OpenAI's CreateResponse, read leniently.

Agents send many fields and item shapes (docs/agents.md); refusing one breaks the
client, so unknown fields and keys are kept and the items themselves are read by
app/responses/request.py, which skips what it cannot use. Only what would otherwise give a
wrong answer is refused: wrong types of the fields this server acts on.
"""

from __future__ import annotations

from marshmallow import fields, validate

from ..web.fields import (
    MAX_TOOLS,
    MAX_TOOLS_BYTES,
    BoundedList,
    Loose,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StringOr,
)

MAX_INPUT_ITEMS = 10_000


class CreateResponseRequest(Loose):
    """OpenAI's CreateResponse (the fields this server reads; any other is accepted)."""

    model = fields.String(metadata={"description": "auto, fast, expert, heavy or grok-43 (others run as auto)"})
    input = StringOr(
        BoundedList(fields.Raw(), max_items=MAX_INPUT_ITEMS),
        metadata={"description": "a string, or input items (messages, function calls and outputs, ...)"},
    )
    instructions = StringOr(BoundedList(fields.Raw(), max_items=MAX_INPUT_ITEMS))
    stream = StrictBoolean()
    tools = BoundedList(fields.Dict(), max_items=MAX_TOOLS, max_bytes=MAX_TOOLS_BYTES)
    tool_choice = StringOr(fields.Dict(), choices=("none", "auto", "required"))
    parallel_tool_calls = StrictBoolean()
    max_output_tokens = StrictInteger(validate=validate.Range(min=1))
    temperature = StrictNumber(validate=validate.Range(0, 2))
    top_p = StrictNumber(validate=validate.Range(0, 1))
    text = fields.Dict()
    reasoning = fields.Dict()
    previous_response_id = fields.String()
    store = StrictBoolean()
    include = fields.List(fields.String())
    metadata = fields.Dict()
    user = fields.String()
    truncation = fields.String()
    service_tier = fields.String()
    prompt_cache_key = fields.String()
    client_metadata = fields.Dict()
