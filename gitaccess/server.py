"""``gitaccess serve``: the app under gunicorn, as in production."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app


def run(app: Flask, host: str, port: int, workers: int) -> None:
    """Serve until interrupted. Threads per worker let slow clones not block others."""
    site = app.extensions["gitaccess"]

    def post_fork(_server: Any, _worker: Any) -> None:
        # Pooled connections opened by the master (first-run set-up) stay with it.
        site.db.engine.dispose(close=False)

    def post_worker_init(_worker: Any) -> None:
        app.extensions["gitaccess.worker_started"]()

    # The master forks every worker: it must hold no connection and run no thread of ours.
    site.db.engine.dispose()
    _Gunicorn(app, {
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 600,
        "accesslog": "-",
    }).run()
