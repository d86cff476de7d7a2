"""The account a request acts for, as the wire sees it.

The protocol layer never looks accounts up: the application hands the gate
a function that does (gitaccess.auth.accounts), and whatever it returns
only has to answer these questions. Pushes pass the account on to the
receiver untouched.
"""

from __future__ import annotations

from typing import Protocol


class Account(Protocol):
    """An authenticated user: who, and what the gate must check."""

    @property
    def name(self) -> str: ...

    @property
    def blocked(self) -> bool: ...

    @property
    def can_read(self) -> bool: ...

    @property
    def can_push(self) -> bool: ...


class AccessSettings(Protocol):
    """The configuration the gate applies (gitaccess.config.Config fits)."""

    @property
    def site_name(self) -> str: ...

    @property
    def anonymous_read(self) -> bool: ...

    @property
    def allow_insecure_http(self) -> bool: ...

    @property
    def trusted_proxies(self) -> tuple[str, ...]: ...
