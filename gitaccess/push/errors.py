"""Why a push is refused: the one error the push path raises for a client to read."""

from __future__ import annotations

from gitaccess.errors import GitAccessError

#: The advice for every push refused because the wiki moved on since the client's fetch.
STALE = "the wiki changed since your last fetch: fetch, then rebase or merge, and push again"


class PushRefused(GitAccessError):
    """The push breaks a rule; the message names the path (or commit) and the rule.

    Nothing of a refused push is written: it is raised before the write
    transaction opens, or inside it, which rolls back.
    """
