"""Exceptions with messages a user or an admin can act on.

The CLI prints ``str(exc)`` of any :class:`GitAccessError` and exits 1;
the git protocol layer sends it to the client. Each message says what was
wrong and, where there is one, what to do about it.
"""

from __future__ import annotations


class GitAccessError(Exception):
    """Base class of every error gitaccess reports to a person."""


class ConfigError(GitAccessError):
    """The configuration file, an option or an environment variable is wrong."""


class DatabaseError(GitAccessError):
    """The wiki database is missing something gitaccess needs."""


class UnreadableText(DatabaseError):
    """A revision's text is stored where gitaccess cannot read it (external storage, objects)."""


class WikiWriteError(GitAccessError):
    """A wiki change cannot be made as asked; nothing was written."""


class EditConflict(WikiWriteError):
    """The page changed since the revision the edit was based on."""


class PageExists(WikiWriteError):
    """A page was to be created (or moved onto) a title that already exists."""


class PageMissing(WikiWriteError):
    """A page to edit, move or delete does not exist."""


class DumpImportError(GitAccessError):
    """A dump cannot be imported; the database is left unchanged."""


class AuthError(GitAccessError):
    """Authentication failed; the message never says which part was wrong."""


class UserExists(WikiWriteError):
    """An account with that name already exists."""


class UserMissing(WikiWriteError):
    """No account has that name."""
