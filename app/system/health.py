"""/health: liveness only, never an upstream call."""

from flask_smorest import Blueprint

blp = Blueprint("health", __name__, description="Liveness and session health")


@blp.route("/health", methods=["GET"])
@blp.doc(summary="Liveness check (no upstream call)")
def health():
    return {"status": "ok", "service": "grok-web-api"}
