"""The WSGI application: ``gunicorn 'gitaccess.app:create_app()'``."""

from __future__ import annotations

import os
import threading

from flask import Flask

from gitaccess.accounts import Authenticator
from gitaccess.config import Config, load_config
from gitaccess.protocol.gate import Gate
from gitaccess.protocol.http import git_blueprint
from gitaccess.repository import WikiRepository
from gitaccess.site import Site


class _Repositories:
    """One WikiRepository per process and thread, made on first use.

    The object cache's files and the database connections must not be
    shared across a fork (gunicorn workers) or between threads (gthread).
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.local = threading.local()

    def __call__(self) -> WikiRepository:
        repo = getattr(self.local, "repository", None)
        if repo is None or self.local.pid != os.getpid():
            repo = self.local.repository = WikiRepository(self.site)
            self.local.pid = os.getpid()
        repo.refresh()
        return repo


def create_app(config: Config | None = None) -> Flask:
    """Build the app from ``config``, or from the options, environment and TOML file."""
    app = Flask("gitaccess")
    site = Site(config or load_config())
    app.extensions["gitaccess"] = site
    gate = Gate(site.config, Authenticator(site).authenticate)
    app.register_blueprint(git_blueprint(_Repositories(site), gate))
    return app


def site_of(app: Flask) -> Site:
    site: Site = app.extensions["gitaccess"]
    return site
