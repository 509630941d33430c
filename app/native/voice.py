"""/v1/voice: read answers aloud, text to speech, LiveKit tokens, voice posts.

The audio routes stream grok.com's bytes as they arrive with grok.com's content
type. A client that goes away aborts the upstream transfer; an upstream failure
after the first byte cuts the client connection (see `replies.relay_bytes`).
"""

from __future__ import annotations

import marshmallow as ma

from ..routing import RESPONSE, for_owned
from ..runtime import grok
from ..web.blueprint import Blueprint
from ..web.fields import Base64, StrictBoolean
from .fields import ClosedBody, ForwardedBody, QuerySchema
from .replies import passthrough, stream_bytes

blp = Blueprint(
    "voice",
    __name__,
    url_prefix="/v1/voice",
    description="Voice: spoken answers, text to speech, realtime (LiveKit) tokens",
)


class VoiceQuery(QuerySchema):
    voice_id = ma.fields.String(
        metadata={"description": "grok.com voice (`voiceId`), e.g. `Ara`; grok.com's default when absent."}
    )


class TtsBody(ForwardedBody):
    articles = ma.fields.List(
        ma.fields.Raw(), required=True, metadata={"description": "Texts (or grok.com article objects) to speak."}
    )
    sanitize = StrictBoolean()
    voice = ma.fields.String()
    enableAlignment = StrictBoolean()


class VoiceShareBody(ClosedBody):
    videoBytes = Base64(required=True, metadata={"description": "The recording, base64."})
    text = ma.fields.String(required=True, metadata={"description": "Caption of the post."})


class PostRecordingBody(ForwardedBody):
    """Any JSON object; grok.com's fields are not documented, so all are forwarded."""


AUDIO_DOC = {
    "responses": {
        "200": {
            "description": "The audio, streamed as grok.com sends it",
            "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


def _audio(read, response_id: str, query: dict, fallback_type: str):
    return stream_bytes(read(response_id, query.get("voice_id")), fallback_type)


@blp.route("/read/<gid:response_id>", methods=["GET"])
@blp.arguments(VoiceQuery, location="query")
@blp.response(
    200,
    description="The answer spoken, streamed as grok.com sends it (its content type, "
    "application/octet-stream when it sends none).",
)
@blp.doc(summary="Read an assistant response aloud (streamed audio)", **AUDIO_DOC)
def read_response(query, response_id):
    return _audio(for_owned(RESPONSE, response_id).client.read_response, response_id, query, "application/octet-stream")


@blp.route("/audio/<gid:response_id>", methods=["GET"])
@blp.arguments(VoiceQuery, location="query")
@blp.response(
    200,
    description="The answer's audio, streamed as grok.com sends it (its content type, audio/mpeg when it sends none).",
)
@blp.doc(summary="Audio of an assistant response (streamed)", **AUDIO_DOC)
def read_response_audio(query, response_id):
    return _audio(for_owned(RESPONSE, response_id).client.read_response_audio, response_id, query, "audio/mpeg")


@blp.route("/tts", methods=["POST"])
@blp.arguments(TtsBody, example={"articles": ["Hello from Grok"], "voice": "Ara"})
@blp.response(
    200,
    description="grok.com's answer: base64 audio and its content type.",
    example={"result": {"data": "SUQzAwAAAAAAAA==", "contentType": "audio/mpeg"}},
)
@blp.doc(summary="Text to speech")
def tts(body):
    return passthrough(grok().tts(body))


@blp.route("/livekit/token", methods=["POST"])
@blp.response(
    200,
    description="A LiveKit token; connect a LiveKit client to `url` with it (media never passes through this server).",
    example={"token": "eyJhbGciOiJIUzI1NiJ9.eyJ2aWRlbyI6e319.c2ln", "url": "wss://livekit.grok.com"},
)
@blp.doc(summary="Get a LiveKit token for realtime voice")
def livekit_token():
    return passthrough(grok().livekit_token())


@blp.route("/post-recording", methods=["POST"])
@blp.arguments(
    PostRecordingBody,
    required=False,
    example={"conversationId": "8f1c2b1e-5a0b-4a55-9a77-2f3f0f7d9c10"},
    description="Any JSON object, forwarded unchanged.",
)
@blp.response(201, description="grok.com's answer, unchanged (it answers 201 with an empty body).")
@blp.doc(summary="Tell grok.com a voice recording finished")
def post_recording(body):
    return passthrough(grok().voice_post_recording(body))


@blp.route("/share", methods=["POST"])
@blp.arguments(VoiceShareBody, example={"videoBytes": "AAAAIGZ0eXBpc29t", "text": "My voice chat"})
@blp.response(
    200,
    description="The created post.",
    example={
        "postId": "0c9f7c1e-2f0a-4a55-8f43-0f9d8d9a1f00",
        "shareUrl": "https://grok.com/share/voice/0c9f7c1e-2f0a-4a55-8f43-0f9d8d9a1f00",
    },
)
@blp.doc(summary="Share a voice recording as a post")
def voice_share(body):
    return passthrough(grok().voice_share(body["videoBytes"], body["text"]))
