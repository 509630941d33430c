"""/v1/chat: grok.com's NDJSON chat endpoints, relayed as they arrive."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from ..runtime import grok, settings
from ..streaming import ndjson_relay, streaming_response

blp = Blueprint("chat", __name__, url_prefix="/v1/chat", description="Native grok.com chat (NDJSON streams)")

NDJSON = "application/x-ndjson"


class NewChatSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE  # forwarded, so new upstream fields work without a release

    message = ma.fields.String(required=True)


@blp.route("", methods=["POST"])
@blp.arguments(NewChatSchema)
@blp.doc(summary="Start a conversation (streams grok.com's NDJSON)")
def new_chat(body):
    stream = grok().new_conversation(body)
    return streaming_response(ndjson_relay(stream, settings().heartbeat_interval), NDJSON)
