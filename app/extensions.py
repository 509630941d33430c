"""Flask extensions, initialised in create_app.

flask-smorest's Api keeps one OpenAPI spec per instance, so each app gets its own
(tests build many apps in one process); flask-sock's Sock is app-independent.
"""

from flask import Flask
from flask_smorest import Api
from flask_sock import Sock

sock = Sock()


def init_extensions(app: Flask) -> Api:
    api = Api(app)
    sock.init_app(app)
    return api
