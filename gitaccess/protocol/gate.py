"""Who may fetch and push: HTTP Basic authentication in front of every git endpoint.

Answers are chosen so that git's credential helpers work: 401 with a
``WWW-Authenticate`` challenge asks for credentials (and makes the helper
forget wrong ones), 403 means "these credentials are fine but not enough".
Failed logins are throttled per account and per address; verified
credentials are remembered briefly under a keyed hash, never in clear, so
that the several requests of one fetch do not each pay for a password hash.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import Request

from gitaccess.protocol.account import AccessSettings, Account
from gitaccess.errors import AuthError, GitAccessError

log = logging.getLogger(__name__)

Authenticate = Callable[[str, str, str], Account]


class Refusal(GitAccessError):
    """The request may not pass; ``status`` and ``headers`` are what the client is told."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Throttle:
    """At most ``limit`` failures per key within ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        failures = self._recent(key)
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - self._clock()

    def fail(self, key: str) -> None:
        self._recent(key).append(self._clock())
        if len(self._failures) > 10000:  # forget keys whose failures all expired
            for stale in [k for k, v in self._failures.items() if not self._recent(k)]:
                del self._failures[stale]

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures


class Gate:
    """Decides, for each request, which account (if any) it acts for, or refuses it."""

    def __init__(self, config: AccessSettings, authenticate: Authenticate, *, failure_limit: int = 5,
                 failure_window: float = 60.0, cache_seconds: float = 60.0, cache_size: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._authenticate = authenticate
        self._throttle = Throttle(failure_limit, failure_window, clock)
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[Account, float]] = {}
        self._lock = threading.Lock()

    def admit(self, request: Request) -> Account | None:
        """The account the request acts for (None: anonymous read); :class:`Refusal` otherwise."""
        address = request.remote_addr or ""
        auth = request.authorization
        login = auth.username if auth is not None and auth.type == "basic" else None
        if not self._secure(request, address):
            if login is None and self.config.anonymous_read:
                return None
            raise Refusal(403, "credentials are refused over plain HTTP: use https:// "
                               "(or set allow_insecure_http in [access] of the server's configuration)")
        if login is None:
            if self.config.anonymous_read:
                return None
            raise self._challenge("authentication required: give the user name and password of your wiki account")
        account = self._verify(login, (auth.password if auth else None) or "", address)
        if not account.can_read:
            raise Refusal(403, f"the wiki account {account.name!r} lacks the right to read this repository")
        return account

    def admit_push(self, request: Request) -> Account:
        """The account a push acts for: authenticated, with the right to push, not blocked; :class:`Refusal` otherwise.

        Anonymous reading never extends to pushing: without credentials the
        client is asked for them, or told to use https when it may not send them.
        """
        auth = request.authorization
        address = request.remote_addr or ""
        if not self._secure(request, address):
            raise Refusal(403, "pushing needs credentials, which are refused over plain HTTP: use https:// "
                               "(or set allow_insecure_http in [access] of the server's configuration)")
        if auth is None or auth.type != "basic" or auth.username is None:
            raise self._challenge("authentication required to push: give the user name and password "
                                  "of your wiki account")
        # Checked afresh: a block or a lost right must stop the very next push.
        account = self._verify(auth.username, auth.password or "", address, fresh=True)
        if not account.can_push:
            raise Refusal(403, f"the wiki account {account.name!r} lacks the right to push to this repository "
                               f"(the 'gitaccess' right)")
        if account.blocked:
            raise Refusal(403, f"the wiki account {account.name!r} is blocked on the wiki, so it cannot push")
        return account

    def login(self, request: Request, login: str, password: str) -> Account:
        """The account of a login form's credentials, checked and throttled as git's are;
        :class:`Refusal` (403 over plain HTTP, 401 wrong credentials, 429 throttled) otherwise."""
        address = request.remote_addr or ""
        if not self._secure(request, address):
            raise Refusal(403, "passwords are refused over plain HTTP: use https:// "
                               "(or set allow_insecure_http in [access] of the server's configuration)")
        return self._verify(login, password, address, fresh=True)

    def _secure(self, request: Request, address: str) -> bool:
        if request.scheme == "https" or self.config.allow_insecure_http:
            return True
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return False

    def _challenge(self, message: str) -> Refusal:
        realm = self.config.site_name.replace("\\", "\\\\").replace('"', '\\"')
        return Refusal(401, message, {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})

    def _verify(self, login: str, password: str, address: str, *, fresh: bool = False) -> Account:
        # The address is part of the key because BotPasswords may be restricted to some addresses.
        # A cache hit passes even while the account is throttled: those credentials were right.
        digest = hmac.new(self._key, "\0".join((login, password, address)).encode("utf-8", "surrogatepass"),
                          hashlib.sha256).digest()
        account_key = "account:" + _account_name(login)
        address_key = "address:" + address
        with self._lock:
            cached = None if fresh else self._cache.get(digest)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            wait = max(self._throttle.retry_after(account_key) or 0, self._throttle.retry_after(address_key) or 0)
        if wait > 0:
            log.warning("login of %r from %s throttled after repeated failures", login, address)
            raise Refusal(429, f"too many failed logins: try again in {math.ceil(wait)} seconds",
                          {"Retry-After": str(math.ceil(wait))})
        try:
            account = self._authenticate(login, password, address)
        except AuthError as exc:
            with self._lock:
                self._throttle.fail(account_key)
                self._throttle.fail(address_key)
            log.warning("failed git login of %r from %s", login, address)
            raise self._challenge(str(exc)) from None
        with self._lock:
            self._throttle.clear(account_key)
            self._remember(digest, account)
        return account

    def _remember(self, digest: bytes, account: Account) -> None:
        now = self._clock()
        if len(self._cache) >= self._cache_size:
            for stale in [k for k, (_, expiry) in self._cache.items() if expiry <= now]:
                del self._cache[stale]
            while len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
        self._cache[digest] = (account, now + self._cache_seconds)


def _account_name(login: str) -> str:
    """The account a login is for, roughly as MediaWiki normalises it, for throttling."""
    name = login.partition("@")[0].strip().replace("_", " ")
    return name[:1].upper() + name[1:]
