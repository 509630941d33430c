"""/v1/code/run: run code in grok.com's sandbox."""

from __future__ import annotations

import marshmallow as ma

from ..runtime import grok
from ..web.blueprint import Blueprint
from .fields import ClosedBody
from .replies import passthrough

blp = Blueprint("code", __name__, url_prefix="/v1/code", description="Code execution in grok.com's sandbox")


class RunCodeBody(ClosedBody):
    language = ma.fields.String(
        required=True,
        metadata={"description": "python, javascript, typescript, rust, go, bash (other values are passed on)"},
    )
    code = ma.fields.String(required=True)


@blp.route("/run", methods=["POST"])
@blp.arguments(RunCodeBody, example={"language": "python", "code": "print(6 * 7)"})
@blp.response(
    200,
    description="grok.com's execution result, unchanged.",
    example={"success": True, "stdout": "42\n", "stderr": "", "outputFiles": [], "exitCode": 0},
)
@blp.doc(summary="Run code in grok.com's sandbox")
def run_code(body):
    return passthrough(grok().run_code(body["language"], body["code"]))
