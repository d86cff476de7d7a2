"""The web pages: the repository's front page, commits, a page's history, versions, restore, login.

Rendered on the server (Jinja), usable without JavaScript. Every page needs
the read right: a logged-in account that has it, or anyone when
``anonymous_read`` is set; restoring needs the right to push, as a push
does. URLs name commits by their full id and pages by their repository path,
so they can be shared and stay valid.
"""

from __future__ import annotations

import logging
from typing import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from gitaccess.auth.accounts import Account, Authenticator
from gitaccess.errors import GitAccessError
from gitaccess.protocol.gate import Gate, Refusal
from gitaccess.push.errors import PushRefused
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import PathError
from gitaccess.web import session as sessions
from gitaccess.web.history import Browser, NotInHistory
from gitaccess.web.restore import restore

log = logging.getLogger(__name__)

#: Commits on the front page, and versions on a history page, before a link to older ones.
PER_PAGE = 30
#: Files of a commit's diff shown on one page.
FILES_PER_PAGE = 20


def web_blueprint(site: Site, repositories: Callable[[], WikiRepository], gate: Gate,
                  authenticator: Authenticator) -> Blueprint:
    """The pages at ``/``, ``/<repository>.git`` and under ``/-/``; logins are checked by
    ``gate`` (the git endpoints' throttle), sessions read again by ``authenticator``."""
    blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                          static_url_path="/-/static")
    name = site.config.repository

    @blueprint.before_request
    def need_read_right() -> Response | None:
        if request.endpoint == "web.static":
            return None
        g.account = account = sessions.current_account(authenticator)
        if request.endpoint in ("web.login", "web.logout"):
            return None
        if account is None and not site.config.anonymous_read:
            return redirect(url_for("web.login", next=request.full_path if request.query_string else request.path))
        if account is not None and not account.can_read:
            abort(403, f"the wiki account {account.name!r} lacks the right to read this repository")
        return None

    @blueprint.app_context_processor
    def common() -> dict[str, object]:
        return {"site_name": site.site_name, "account": g.get("account"),
                "form_token": sessions.form_token}

    def browser() -> Browser:
        return Browser(repositories())

    def front() -> str:
        pages = browser()
        line = pages.line(PER_PAGE + 1, request.args.get("before"))
        commits = [(pages.info(commit), pages.counts(commit)) for commit in line[:PER_PAGE]]
        layout = site.layout
        namespaces = sorted((f"{layout.directory(ns.id)}/" if layout.directory(ns.id) else "the root",
                             ns.name or "(Main)") for ns in site.namespaces if layout.is_included(ns.id))
        return render_template("front.html", clone_url=f"{request.host_url}{name}.git", commits=commits,
                               older=line[PER_PAGE].id.decode("ascii") if len(line) > PER_PAGE else None,
                               namespaces=namespaces, directory=name)

    blueprint.add_url_rule("/", "front", front)
    blueprint.add_url_rule(f"/{name}.git", "front_git", front)

    @blueprint.route("/-/commit/<sha>")
    def commit(sha: str) -> str:
        pages = browser()
        found = pages.commit(sha)
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        first = (page - 1) * FILES_PER_PAGE
        files, diffs = pages.changes(found, first, FILES_PER_PAGE)
        added, removed = pages.counts(found)
        return render_template("commit.html", commit=pages.info(found), diffs=diffs, files=files, first=first,
                               page=page, page_count=-(-files // FILES_PER_PAGE), added=added, removed=removed)

    @blueprint.route("/-/history/<path:path>")
    def history(path: str) -> str:
        pages = browser()
        versions = pages.versions(path, PER_PAGE + 1, request.args.get("before"))
        if not versions:
            raise NotInHistory(f"{path} is not a file of this wiki's repository, now or in its history")
        older = versions[PER_PAGE].commit.id if len(versions) > PER_PAGE else None
        return render_template("history.html", path=path, versions=versions[:PER_PAGE], older=older,
                               title=page_title(path))

    def page_title(path: str) -> str | None:
        """The wiki title a repository path stands for now (None: a file that is no page)."""
        try:
            title = GitTree(site.layout).path_to_title(path, site.aliases()).title
        except PathError:
            return None
        return site.titles.full_text(title)

    @blueprint.route("/-/diff/<path:path>")
    def diff(path: str) -> str:
        pages = browser()
        old, new = pages.commit(request.args.get("old", "")), pages.commit(request.args.get("new", ""))
        return render_template("diff.html", path=path, old=pages.info(old), new=pages.info(new),
                               diff=pages.diff(path, old, new))

    @blueprint.route("/-/version/<sha>/<path:path>")
    def version(sha: str, path: str) -> str:
        pages = browser()
        found = pages.commit(sha)
        text, why = pages.text(found, path)
        head = pages.head()
        current = head is not None and pages.blob_at(pages.commit(head), path) == pages.blob_at(found, path)
        return render_template("version.html", path=path, commit=pages.info(pages.introducing(path, found)),
                               text=text, why_not_shown=why, head=head, current=current)

    @blueprint.route("/-/restore/<sha>/<path:path>", methods=["POST"])
    def restore_version(sha: str, path: str) -> Response:
        if not sessions.token_matches(request.form.get("token")):
            abort(403, "this form has expired or did not come from this site: reload the page and try again")
        account = g.account
        if account is None:
            abort(403, "log in to restore a version")
        if not account.can_push:
            abort(403, f"the wiki account {account.name!r} lacks the right to edit through gitaccess "
                       "(the 'gitaccess' right)")
        if account.blocked:
            abort(403, f"the wiki account {account.name!r} is blocked on the wiki, so it cannot edit")
        try:
            made = restore(repositories(), account, path, sha, request.form.get("head", ""),
                           gate.client_address(request))
        except PushRefused as refused:
            flash(f"Not restored: {refused}", "error")
            return redirect(url_for("web.version", sha=sha, path=path), 303)
        flash(f"Restored {path} as commit {made[:10]}.", "done")
        return redirect(url_for("web.history", path=path), 303)

    @blueprint.route("/-/login", methods=["GET", "POST"])
    def login() -> Response | tuple[str, int] | str:
        target = request.values.get("next") or ""
        if not target.startswith("/") or target.startswith("//") or "\\" in target:  # no other site
            target = url_for("web.front")
        if request.method == "GET":
            return render_template("login.html", next=target)
        if not sessions.token_matches(request.form.get("token")):
            return render_template("login.html", next=target, error="this form has expired or did not come from "
                                   "this site: try again"), 403
        try:
            account = gate.login(request, request.form.get("name", ""), request.form.get("password", ""))
        except Refusal as refusal:
            status = refusal.status if refusal.status != 401 else 200
            return render_template("login.html", next=target, error=str(refusal),
                                   name=request.form.get("name", "")), status
        if not account.can_read:
            return render_template("login.html", next=target, name=account.name,
                                   error=f"the wiki account {account.name!r} lacks the right to read "
                                         "this repository"), 403
        assert isinstance(account, Account)  # the app's gate authenticates with gitaccess.auth
        sessions.log_in(account)
        return redirect(target, 303)

    @blueprint.route("/-/logout", methods=["POST"])
    def logout() -> Response:
        if not sessions.token_matches(request.form.get("token")):
            abort(403, "this form has expired or did not come from this site: reload the page and try again")
        sessions.log_out()
        return redirect(url_for("web.login"), 303)

    @blueprint.errorhandler(NotInHistory)
    def not_found(error: NotInHistory) -> tuple[str, int]:
        return render_template("error.html", title="Not found", message=str(error)), 404

    @blueprint.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        return render_template("error.html", title=error.name, message=error.description), error.code or 500

    @blueprint.errorhandler(GitAccessError)
    def cannot_serve(error: GitAccessError) -> tuple[str, int]:
        log.error("cannot show the repository's history: %s", error)
        return render_template("error.html", title="The history cannot be shown",
                               message=f"the wiki's history cannot be served: {error}"), 503

    return blueprint
