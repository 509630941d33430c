"""/health: liveness only, never an upstream call."""

from flask_smorest import Blueprint

blp = Blueprint("health", __name__, description="Liveness and session health")


@blp.route("/health", methods=["GET"])
@blp.doc(summary="Liveness check (no upstream call)",
         responses={200: {"description": "the server is up", "content": {"application/json": {
             "schema": {"type": "object"}, "example": {"status": "ok", "service": "grok-web-api"}}}}})
def health():
    return {"status": "ok", "service": "grok-web-api"}
