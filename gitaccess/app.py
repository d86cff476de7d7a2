"""The WSGI application: ``gunicorn 'gitaccess.app:create_app()'``."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Callable

from flask import Flask, Response, request

from gitaccess.auth.accounts import Account, Authenticator, login_account_name
from gitaccess.config import Config, load_config
from gitaccess.errors import GitAccessError
from gitaccess.protocol.gate import Gate
from gitaccess.protocol.http import git_blueprint
from gitaccess.protocol.pktline import error_line
from gitaccess.protocol.quarantine import QuarantinedObjects
from gitaccess.protocol.receive_pack import PushResult, PushSettings, RefUpdate
from gitaccess.protocol.upload_pack import FetchLimits
from gitaccess.push.receiver import Receiver
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.web import session as web_session
from gitaccess.web.views import web_blueprint
from gitaccess.wiki.throttle import LoginAttempts

log = logging.getLogger(__name__)


class _Repositories:
    """One WikiRepository per process and thread, made on first use.

    The object cache's files and the database connections must not be
    shared across a fork (gunicorn workers) or between threads (gthread).
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.local = threading.local()
        self.warming = threading.Lock()
        self.warmed_pid: int | None = None

    def __call__(self) -> WikiRepository:
        repo = getattr(self.local, "repository", None)
        if repo is None or self.local.pid != os.getpid():
            repo = self.local.repository = WikiRepository(self.site)
            self.local.pid = os.getpid()
        repo.refresh()
        return repo

    def warm_in_background(self) -> None:
        """Have this process hold the history's state early (WikiRepository.warm), if there is a
        cache to read it from; once per process, whoever calls first.

        Never called while building the app: gunicorn may build it in the
        process it then forks its workers from, and a fork taken while another
        thread holds a lock (SQLite's allocator mutex, say) leaves the child
        waiting on that lock for good. gitaccess serve calls it as each
        worker starts; any server's first request in a process calls it too.
        """
        with self.warming:
            if self.warmed_pid == os.getpid():
                return
            self.warmed_pid = os.getpid()
        if WikiRepository.cache_directory(self.site).exists():
            threading.Thread(target=self._warm, name="gitaccess-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            repo = WikiRepository(self.site)
            try:
                repo.warm()
            finally:
                repo.close()
        except Exception:  # the first request that needs the state reads it instead
            log.exception("reading the history's state in the background failed")


def _history_failed(error: GitAccessError) -> Response:
    """The history cannot be served (say, the wiki changed under it): tell the git client why.

    An ERR line is what git prints as "remote error: ..."; the admin finds the
    same message in the log.
    """
    log.error("cannot serve the repository: %s", error)
    service = request.args.get("service", "") or request.path.rsplit("/", 1)[-1]
    kind = "advertisement" if request.path.endswith("/info/refs") else "result"
    return Response(error_line(f"the wiki's history cannot be served: {error}"), status=200,
                    content_type=f"application/x-{service}-{kind}", headers={"Cache-Control": "no-cache"})


class _Pushes:
    """The push decider: each push becomes wiki edits through gitaccess.push.receiver.Receiver."""

    def __init__(self, site: Site, repositories: _Repositories, gate: Gate) -> None:
        self.site = site
        self.repositories = repositories
        self.gate = gate

    def __call__(self, account: Account, commands: list[RefUpdate], objects: QuarantinedObjects,
                 progress: Callable[[str], None]) -> PushResult:
        if len(commands) != 1:
            return PushResult.refuse_all(commands, f"push {self.site.config.branch} alone: the wiki has one branch")
        command = commands[0]
        Receiver(self.site, self.repositories()).receive(
            account, command.old, command.new, command.ref, objects, address=self.gate.client_address(request),
            progress=progress)
        return PushResult({command.ref: None})


def push_settings(config: Config) -> PushSettings:
    """The push limits of the configuration, and the quarantine under the data directory."""
    quarantine = config.data_directory / "quarantine"
    for stale in quarantine.glob("push-*") if quarantine.exists() else []:
        shutil.rmtree(stale, ignore_errors=True)  # left by a worker killed mid-push
    return PushSettings(quarantine, config.max_push_bytes, config.max_push_objects,
                        config.max_push_object_bytes, config.max_push_inflated_bytes, config.max_tree_bytes,
                        config.max_worker_memory, config.push_tags)


def wiki_gate(site: Site) -> Gate:
    """The gate for the wiki's accounts, counting login attempts in the wiki's database.

    Opens nothing: the title rules and the database are read at the first login.
    """
    return Gate(site.config, Authenticator(site).authenticate, lambda login: login_account_name(site.titles, login),
                LoginAttempts(site.db))


def create_app(config: Config | None = None) -> Flask:
    """Build the app from ``config``, or from the options, environment and TOML file."""
    app = Flask("gitaccess")
    site = Site(config or load_config())
    app.extensions["gitaccess"] = site
    authenticator = Authenticator(site)
    gate = wiki_gate(site)
    repositories = _Repositories(site)
    # Opens nothing and starts no thread here (see warm_in_background).
    app.extensions["gitaccess.worker_started"] = repositories.warm_in_background
    app.before_request(repositories.warm_in_background)
    app.register_blueprint(git_blueprint(repositories, gate, _Pushes(site, repositories, gate),
                                         push_settings(site.config),
                                         FetchLimits(site.config.max_fetch_wants, site.config.max_fetch_haves)))
    app.register_error_handler(GitAccessError, _history_failed)
    if site.config.web_pages:
        web_session.configure(app, site.config.data_directory, site.config.web_session_hours)
        app.register_blueprint(web_blueprint(site, repositories, gate, authenticator))
    return app


def site_of(app: Flask) -> Site:
    site: Site = app.extensions["gitaccess"]
    return site
