"""Who may fetch and push: HTTP Basic authentication in front of every git endpoint.

Answers are chosen so that git's credential helpers work: 401 with a
``WWW-Authenticate`` challenge asks for credentials (and makes the helper
forget wrong ones), 403 means "these credentials are fine but not enough".
Verified credentials are remembered briefly under a keyed hash, never in
clear, so that the several requests of one fetch do not each pay for a
password hash.

Failed logins are throttled by a rule that an attacker can neither sidestep
nor turn against the account's owner. Attempts are counted in one place for
every worker (:class:`LoginAttempts`, the wiki's database), under the
canonical user name (``Admin_`` and ``admin`` are ``Admin``; ``Admin@bot`` is
``Admin``) and the client's address (an IPv6 client's /64 network, which one
host commonly holds whole). A password being checked counts as a failure
until it proved right, so parallel guesses count too. A failure counts for
the gate's ``failure_window``; while it does:

- an address with ``address_limit`` failures, for any accounts, is refused
  for every account;
- an account that failed from ``account_addresses`` addresses is refused to
  every address that has not logged in as it. Addresses where the owner
  logged in keep working, so an attack from elsewhere never locks the owner
  out; and since ``account_addresses`` is more than one, one address alone
  never refuses the account to anyone else.

A successful login makes its address known for the account for ``known_for``
and forgives that address's failures as the account. Behind a reverse proxy
the client's address is the one the proxy reports in ``X-Forwarded-For``,
believed only from the configured ``trusted_proxies``.
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
from collections.abc import Callable
from typing import Protocol

from flask import Request

from gitaccess.protocol.account import AccessSettings, Account
from gitaccess.errors import AuthError, GitAccessError

log = logging.getLogger(__name__)

Authenticate = Callable[[str, str, str], Account]
#: The canonical name of the account a login is for, as the wiki names it.
AccountName = Callable[[str], str]


class LoginAttempts(Protocol):
    """Where login attempts are counted, shared by every worker (gitaccess.wiki.throttle fits).

    Times are seconds since the epoch; each call is done, for every worker to
    see, when it returns. Its errors pass through the gate and fail the
    request: a login that cannot be counted is not checked.
    """

    def start(self, account: str, address: str, now: float, expires: float) -> int:
        """Count a login as failed until ``expires``, unless it succeeds or is withdrawn; its id."""

    def address_failures(self, address: str, now: float, other_than: int | None) -> list[float]:
        """When each counting failure from ``address`` expires, apart from attempt ``other_than``."""

    def account_failures(self, account: str, now: float, other_than: int | None) -> list[float]:
        """For each address with a counting failure as ``account``, when its last one expires,
        apart from attempt ``other_than``."""

    def is_known(self, account: str, address: str, now: float) -> bool:
        """Whether ``address`` logged in as ``account`` and that is still remembered."""

    def withdraw(self, attempt: int) -> None:
        """Stop counting an attempt whose password was never checked."""

    def succeeded(self, attempt: int, account: str, address: str, known_until: float) -> None:
        """Remember ``address`` for ``account`` until ``known_until``; its failures as ``account`` stop counting."""


class Refusal(GitAccessError):
    """The request may not pass; ``status`` and ``headers`` are what the client is told."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Gate:
    """Decides, for each request, which account (if any) it acts for, or refuses it.

    ``account_name`` gives the canonical name of the account a login is for,
    under which its attempts are counted in ``attempts``; the throttling
    parameters are those of the rule in the module's docstring.
    """

    def __init__(self, config: AccessSettings, authenticate: Authenticate, account_name: AccountName,
                 attempts: LoginAttempts, *, address_limit: int = 5, account_addresses: int = 3,
                 failure_window: float = 60.0, known_for: float = 30 * 86400.0, cache_seconds: float = 60.0,
                 cache_size: int = 1024, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._authenticate = authenticate
        self._account_name = account_name
        self._attempts = attempts
        self._address_limit = address_limit
        self._account_addresses = account_addresses
        self._failure_window = failure_window
        self._known_for = known_for
        self._proxies = [ipaddress.ip_network(proxy) for proxy in config.trusted_proxies]
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[Account, float]] = {}
        self._lock = threading.Lock()

    def admit(self, request: Request) -> Account | None:
        """The account the request acts for (None: anonymous read); :class:`Refusal` otherwise."""
        auth = request.authorization
        login = auth.username if auth is not None and auth.type == "basic" else None
        if not self._secure(request):
            if login is None and self.config.anonymous_read:
                return None
            raise Refusal(403, "credentials are refused over plain HTTP: use https:// "
                               "(or set allow_insecure_http in [access] of the server's configuration)")
        if login is None:
            if self.config.anonymous_read:
                return None
            raise self._challenge("authentication required: give the user name and password of your wiki account")
        account = self._verify(login, (auth.password if auth else None) or "", self.client_address(request))
        if not account.can_read:
            raise Refusal(403, f"the wiki account {account.name!r} lacks the right to read this repository")
        return account

    def admit_push(self, request: Request) -> Account:
        """The account a push acts for: authenticated, with the right to push, not blocked; :class:`Refusal` otherwise.

        Anonymous reading never extends to pushing: without credentials the
        client is asked for them, or told to use https when it may not send them.
        """
        auth = request.authorization
        if not self._secure(request):
            raise Refusal(403, "pushing needs credentials, which are refused over plain HTTP: use https:// "
                               "(or set allow_insecure_http in [access] of the server's configuration)")
        if auth is None or auth.type != "basic" or auth.username is None:
            raise self._challenge("authentication required to push: give the user name and password "
                                  "of your wiki account")
        # Checked afresh: a block or a lost right must stop the very next push.
        account = self._verify(auth.username, auth.password or "", self.client_address(request), fresh=True)
        if not account.can_push:
            raise Refusal(403, f"the wiki account {account.name!r} lacks the right to push to this repository "
                               f"(the 'gitaccess' right)")
        if account.blocked:
            raise Refusal(403, f"the wiki account {account.name!r} is blocked on the wiki, so it cannot push")
        return account

    def login(self, request: Request, login: str, password: str) -> Account:
        """The account of a login form's credentials, checked and throttled as git's are;
        :class:`Refusal` (403 over plain HTTP, 401 wrong credentials, 429 throttled) otherwise."""
        if not self._secure(request):
            raise Refusal(403, "passwords are refused over plain HTTP: use https:// "
                               "(or set allow_insecure_http in [access] of the server's configuration)")
        return self._verify(login, password, self.client_address(request), fresh=True)

    def client_address(self, request: Request) -> str:
        """The address of the client: the peer's, or, when the peer is a trusted proxy, the last one in
        ``X-Forwarded-For``, which that proxy saw (as Werkzeug's ProxyFix with one proxy takes it).

        Raises :class:`Refusal` when a trusted proxy reports something that is not an address.
        """
        peer = request.remote_addr or ""
        forwarded = request.environ.get("HTTP_X_FORWARDED_FOR", "")
        if not forwarded or not self._is_trusted_proxy(peer):
            return peer
        client = forwarded.split(",")[-1].strip()
        try:
            ipaddress.ip_address(client)
        except ValueError:
            log.error("the trusted proxy %s sent X-Forwarded-For %r, which does not end in an address",
                      peer, forwarded)
            raise Refusal(400, "the reverse proxy in front of this server did not say which address the "
                               "request came from: its X-Forwarded-For header must end with the client's "
                               "address") from None
        return client

    def _is_trusted_proxy(self, peer: str) -> bool:
        try:
            address = _unmapped(ipaddress.ip_address(peer))
        except ValueError:
            return False
        return any(address in proxies for proxies in self._proxies)

    def _secure(self, request: Request) -> bool:
        if request.scheme == "https" or self.config.allow_insecure_http:
            return True
        try:
            return ipaddress.ip_address(request.remote_addr or "").is_loopback
        except ValueError:
            return False

    def _challenge(self, message: str) -> Refusal:
        realm = self.config.site_name.replace("\\", "\\\\").replace('"', '\\"')
        return Refusal(401, message, {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})

    def _verify(self, login: str, password: str, address: str, *, fresh: bool = False) -> Account:
        # The address is part of the key because BotPasswords may be restricted to some addresses.
        # A cache hit passes even while logins are throttled: those credentials were right.
        digest = hmac.new(self._key, "\0".join((login, password, address)).encode("utf-8", "surrogatepass"),
                          hashlib.sha256).digest()
        with self._lock:
            cached = None if fresh else self._cache.get(digest)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
        account_name, client = self._account_name(login), _throttle_key(address)
        attempt = self._start(account_name, client, login, address)
        try:
            account = self._authenticate(login, password, address)
        except AuthError as exc:
            log.warning("failed git login of %r from %s", login, address)
            raise self._challenge(str(exc)) from None
        self._attempts.succeeded(attempt, account_name, client, self._clock() + self._known_for)
        with self._lock:
            self._remember(digest, account)
        return account

    def _start(self, account_name: str, client: str, login: str, address: str) -> int:
        """Count the login about to be checked; its attempt. :class:`Refusal` (429) when the rule
        refuses it, and nothing stays counted."""
        now = self._clock()
        # Looked at before counting, so that a flood of refused guesses writes nothing; and again
        # after, with the attempts that other workers are checking at the same time.
        throttled = self._throttled(account_name, client, now, None)
        if throttled is None:
            attempt = self._attempts.start(account_name, client, now, now + self._failure_window)
            throttled = self._throttled(account_name, client, now, attempt)
            if throttled is None:
                return attempt
            self._attempts.withdraw(attempt)
        reason, wait = throttled
        log.warning("login of %r from %s throttled: %s", login, address, reason)
        seconds = math.ceil(wait)
        raise Refusal(429, f"{reason}: try again in {seconds} seconds", {"Retry-After": str(seconds)})

    def _throttled(self, account_name: str, client: str, now: float,
                   attempt: int | None) -> tuple[str, float] | None:
        """Why, and for how many seconds, the rule (see the module's docstring) refuses a login; None if it does not."""
        wait = _wait(self._attempts.address_failures(client, now, attempt), self._address_limit, now)
        if wait is not None:
            return "too many failed logins from your address", wait
        wait = _wait(self._attempts.account_failures(account_name, now, attempt), self._account_addresses, now)
        if wait is None or self._attempts.is_known(account_name, client, now):
            return None
        return (f"too many failed logins as {account_name!r} from several addresses (an address that "
                f"logged in as {account_name!r} before is not refused)", wait)

    def _remember(self, digest: bytes, account: Account) -> None:
        now = self._clock()
        if len(self._cache) >= self._cache_size:
            for stale in [k for k, (_, expiry) in self._cache.items() if expiry <= now]:
                del self._cache[stale]
            while len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
        self._cache[digest] = (account, now + self._cache_seconds)


def _wait(expiries: list[float], limit: int, now: float) -> float | None:
    """Seconds until fewer than ``limit`` of these counting failures remain, or None when fewer do now."""
    if len(expiries) < limit:
        return None
    return sorted(expiries, reverse=True)[limit - 1] - now


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 client seen through an IPv6 socket (``::ffff:192.0.2.1``) as itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _throttle_key(address: str) -> str:
    """What failures are counted under for a client address: an IPv6 client's /64 network,
    since one host commonly holds all of it; anything that is no address, as it is."""
    try:
        parsed = _unmapped(ipaddress.ip_address(address))
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
