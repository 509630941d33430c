"""Process and cross-worker operations: the runtime directory, atomic files, metrics (every
count, for /metrics and /status), shared upstream health, the session watcher, settings reload, the .env file and key
rotation, graceful shutdown, logging, gunicorn configuration."""
