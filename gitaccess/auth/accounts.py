"""Who is knocking: wiki accounts, BotPasswords, blocks and the `gitaccess` right.

Git clients send HTTP Basic credentials; they are checked against the
wiki's own accounts exactly as MediaWiki would: the user name normalised as
MediaWiki normalises it, the password against ``user.user_password``, or,
for ``User@appname``, against the BotPassword with its IP restrictions.
An account with two-factor authentication may only use BotPasswords.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitaccess.errors import AuthError
from gitaccess.titles.namespaces import USER
from gitaccess.auth.passwords import (
    UnsupportedHash,
    bot_password_allows_ip,
    bot_password_grants,
    normalize_submitted_password,
    verify_password,
)
from gitaccess.site import Site
from gitaccess.titles.codec import InvalidTitle, TitleCodec
from gitaccess.wiki import accounts as account_rows
from gitaccess.wiki import reader

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

#: $wgInvalidUsernameCharacters plus what a title may hold but a user name may not.
INVALID_USER_NAME_CHARACTERS = set("@:>=/#")
#: BotPassword::getSeparator()
BOT_SEPARATOR = "@"
#: The grants a BotPassword needs to read and to change each kind of thing.
GRANTS_FOR = {
    "edit": {"editpage"},
    "create": {"createeditmovepage"},
    "move": {"createeditmovepage"},
    "upload": {"uploadfile", "uploadeditmovefile"},
    "delete": {"delete"},
}


class InvalidUserName(AuthError):
    """Not a name MediaWiki would accept for an account."""


def canonical_user_name(titles: TitleCodec, name: str) -> str:
    """UserNameUtils::getCanonical(): first letter up, underscores as spaces, valid title."""
    if "#" in name:
        raise InvalidUserName(f"{name!r} is not a valid user name (it contains '#')")
    try:
        title = titles.parse(name, USER)
    except InvalidTitle as exc:
        raise InvalidUserName(f"{name!r} is not a valid user name: {exc}") from None
    text = title.text
    if title.namespace != USER or title.interwiki or INVALID_USER_NAME_CHARACTERS & set(text):
        raise InvalidUserName(f"{name!r} is not a valid user name")
    return text


def login_account_name(titles: TitleCodec, login: str) -> str:
    """The canonical name of the account a login is for (``Name`` for the BotPassword ``Name@app``),
    or the empty string when it names no valid account (no password opens one)."""
    try:
        return canonical_user_name(titles, login.partition(BOT_SEPARATOR)[0])
    except InvalidUserName:
        return ""


@dataclass(frozen=True)
class Account:
    """An authenticated wiki user, and what they may do through git."""

    user_id: int
    name: str
    groups: frozenset[str]
    #: The BotPassword's grants, or None when the user's own password was used.
    grants: frozenset[str] | None
    blocked: bool
    can_read: bool
    can_push: bool

    def granted(self, action: str) -> bool:
        """Whether a BotPassword's grants allow an action (always, for a normal login)."""
        return self.grants is None or bool(self.grants & GRANTS_FOR[action])


class Authenticator:
    """Checks HTTP Basic credentials against the wiki's accounts."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._blocks = account_rows.BlockCheck()

    def authenticate(self, login: str, password: str, address: str) -> Account:
        """The account for these credentials; :class:`AuthError` with one vague message otherwise."""
        refused = AuthError("wrong user name or password")
        user_part, sep, app_id = login.partition(BOT_SEPARATOR)
        try:
            name = canonical_user_name(self.site.titles, user_part)
        except InvalidUserName:
            raise refused from None
        password = normalize_submitted_password(password)
        db = self.site.db
        with db.read() as conn:
            user = reader.user_by_name(db, conn, name)
            if user is None:
                raise refused
            grants: frozenset[str] | None = None
            try:
                if sep:
                    row = reader.bot_password(db, conn, user.id, app_id)
                    if row is None or not verify_password(row[0], password):
                        raise refused
                    if not bot_password_allows_ip(row[1], address):
                        raise refused
                    grants = bot_password_grants(row[2])
                elif not verify_password(user.password, password) or account_rows.has_two_factor(db, conn, user.id):
                    raise refused
            except UnsupportedHash as exc:
                log.warning("cannot check the password of %s: %s", name, exc)
                raise refused from None
            return self._account(conn, user.id, user.name, grants)

    def current(self, user_id: int, name: str, grants: frozenset[str] | None) -> Account | None:
        """The account of an earlier login as the wiki has it now (groups, block, rights), for
        a login kept between requests (a web session); None when the user no longer exists.
        ``grants`` are the BotPassword's at that login (None: the user's own password)."""
        db = self.site.db
        with db.read() as conn:
            user = reader.user_by_name(db, conn, name)
            if user is None or user.id != user_id:
                return None
            return self._account(conn, user.id, user.name, grants)

    def _account(self, conn: Connection, user_id: int, name: str, grants: frozenset[str] | None) -> Account:
        """The account with its groups, block and rights as the wiki has them."""
        db = self.site.db
        groups = reader.user_groups(db, conn, user_id) | {"*", "user"}
        blocked = self._blocks.is_blocked(db, conn, user_id)
        config = self.site.config
        can_push = bool(groups & set(config.gitaccess_groups))
        can_read = can_push or bool(groups & set(config.read_groups)) or config.anonymous_read
        return Account(user_id, name, frozenset(groups), grants, blocked, can_read, can_push)
