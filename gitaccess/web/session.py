"""Who is reading: the login session and the form tokens that protect its writes.

A login is checked by the git gate (:meth:`gitaccess.protocol.gate.Gate.login`):
the wiki's passwords and BotPasswords, the same throttle of failed logins.
Who logged in is then kept in Flask's signed session cookie, HttpOnly,
SameSite=Lax and Secure over HTTPS; each request reads the account's groups
and block from the wiki again, so a lost right or a block counts at once.
The cookie is signed with a key kept in the data directory, which every
worker process of the server reads.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface

from gitaccess.auth.accounts import Account, Authenticator

#: The session key under which a form's token is kept.
TOKEN_KEY = "csrf"
ACCOUNT_KEY = "account"


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS, signed with
    the key of the data directory (read when first needed: commands that serve nothing
    never create it)."""

    def __init__(self, data_directory: Path) -> None:
        self.data_directory = data_directory

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            app.secret_key = secret_key(self.data_directory)
        return super().get_signing_serializer(app)


def secret_key(data_directory: Path) -> bytes:
    """The key that signs session cookies: made once, kept in the data directory (readable
    by the server's account alone). An OSError means the directory is not writable."""
    path = data_directory / "web-session-key"
    data_directory.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as stream:
        key = secrets.token_bytes(32)
        stream.write(key)
    return key


def configure(app: Flask, data_directory: Path, lifetime_hours: int) -> None:
    """Sessions for the web pages of ``app``."""
    app.session_interface = _Sessions(data_directory)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="gitaccess_session", PERMANENT_SESSION_LIFETIME=lifetime_hours * 3600)


def current_account(authenticator: Authenticator) -> Account | None:
    """The logged-in account with its groups, block and rights as the wiki has them now, or
    None (no login, or the user no longer exists: the session ends)."""
    kept: dict[str, Any] | None = session.get(ACCOUNT_KEY)
    if kept is None:
        return None
    grants = kept["grants"]
    account = authenticator.current(kept["user_id"], kept["name"], None if grants is None else frozenset(grants))
    if account is None:
        log_out()
    return account


def log_in(account: Account) -> None:
    """Start a session for ``account``, with a new form token (none from before the login)."""
    session.clear()
    session.permanent = True
    session[ACCOUNT_KEY] = {"user_id": account.user_id, "name": account.name,
                            "grants": None if account.grants is None else sorted(account.grants)}


def log_out() -> None:
    session.clear()


def form_token() -> str:
    """The token every form of this session carries (made on first use)."""
    if TOKEN_KEY not in session:
        session[TOKEN_KEY] = secrets.token_urlsafe(32)
    token: str = session[TOKEN_KEY]
    return token


def token_matches(sent: str | None) -> bool:
    """Does a posted form carry this session's token? (False without a session.)"""
    kept = session.get(TOKEN_KEY)
    return bool(kept and sent) and hmac.compare_digest(str(kept), str(sent))
