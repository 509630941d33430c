"""/metrics: Prometheus exposition of every worker's samples (app.ops.metrics)."""

from flask import Response

from ..runtime import runtime
from ..web.blueprint import Blueprint

blp = Blueprint("metrics", __name__, description="Prometheus metrics")


@blp.route("/metrics", methods=["GET"])
@blp.doc(
    summary="Prometheus metrics (API key required unless METRICS_PUBLIC=true)",
    responses={
        "200": {
            "description": "Prometheus text exposition format",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": (
                        "# HELP grok_web_api_requests_total Requests by route, method and status\n"
                        "# TYPE grok_web_api_requests_total counter\n"
                        'grok_web_api_requests_total{method="POST",route="/v1/chat/completions",'
                        'status="200"} 42.0\n'
                    ),
                }
            },
        }
    },
)
def metrics():
    rt = runtime()
    body, content_type = rt.metrics.exposition(rt.pool.snapshot())
    return Response(body, content_type=content_type)
