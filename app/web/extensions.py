"""Flask extensions, initialised in create_app.

flask-smorest's Api keeps one OpenAPI spec per instance, so each app gets its own
(tests build many apps in one process); flask-sock's Sock is app-independent.
"""

from flask import Flask
from flask_smorest import Api as SmorestApi
from flask_sock import Sock

from ..problems import ProblemSchema

sock = Sock()


class Api(SmorestApi):
    # Documented error responses describe the problem+json bodies app.problems sends.
    ERROR_SCHEMA = ProblemSchema


def init_extensions(app: Flask) -> Api:
    api = Api(app)
    sock.init_app(app)
    return api
