"""The WSGI application: ``gunicorn 'gitaccess.app:create_app()'``."""

from __future__ import annotations

from flask import Flask

from gitaccess.config import Config, load_config
from gitaccess.site import Site


def create_app(config: Config | None = None) -> Flask:
    """Build the app from ``config``, or from the options, environment and TOML file."""
    app = Flask("gitaccess")
    site = Site(config or load_config())
    app.extensions["gitaccess"] = site
    return app


def site_of(app: Flask) -> Site:
    site: Site = app.extensions["gitaccess"]
    return site
