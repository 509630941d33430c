"""Flask/WSGI plumbing shared by every route group: authentication, CORS, admission of
chat starts, telemetry, request limits, SSE streaming, the Blueprint class and extensions."""
