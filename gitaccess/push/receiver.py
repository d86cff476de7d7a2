"""Pushes: commits become wiki edits, all or nothing (docs/history.md, Pushes).

:class:`Receiver` is the one way commits enter the wiki: receive-pack calls
it for each push, and anything else that turns commits into edits (a web
"restore this revision" action, a pull from another repository) would call
it the same way. A push is checked and planned before anything is written
(:mod:`gitaccess.push.rules`, :mod:`gitaccess.push.plan`), then applied and
journaled in one transaction (:mod:`gitaccess.push.apply`).
"""

from __future__ import annotations

from gitaccess.auth.accounts import Account
from gitaccess.auth.permissions import Rights
from gitaccess.journal.history import StaleCache
from gitaccess.journal.state import WikiState
from gitaccess.push.apply import Say, apply_push
from gitaccess.push.errors import STALE, PushRefused
from gitaccess.push.plan import plan_push
from gitaccess.push.rules import ZERO, check_objects, check_ref, pushed_commits
from gitaccess.push.trees import PushedObjects, PushedTrees
from gitaccess.repository import WikiRepository
from gitaccess.wiki import variant
from gitaccess.site import Site
from gitaccess.wiki.writer import Editor



class Receiver:
    """Applies pushes to one site's wiki."""

    def __init__(self, site: Site, repository: WikiRepository) -> None:
        self.site = site
        self.repository = repository
        self.history = repository.history
        self.ref = repository.head()

    def receive(self, account: Account, old: bytes, new: bytes, ref: bytes, objects: PushedObjects,
                address: str = "", progress: Say = lambda _m: None) -> None:
        """Update ``ref`` from ``old`` to ``new`` as ``account`` (from ``address``): the pushed
        commits become the pusher's wiki edits, and the served history.

        Raises :class:`PushRefused` having written nothing when the push
        breaks a rule or the wiki moved on since ``old``; a database or cache
        error propagates, also having written nothing to the wiki.
        """
        check_ref(self.ref, old, new, ref)
        try:  # a schema newer than gitaccess writes is served read-only
            variant.require_writable(self.site.db)
        except variant.UnsupportedSchema as exc:
            raise PushRefused(str(exc)) from None
        self.repository.refresh()
        head = self.repository.refs().get(self.ref)
        if old != (head or ZERO):
            raise PushRefused(STALE)
        trees = PushedTrees(objects)
        chain, side = pushed_commits(self.repository, self.ref, new, head, objects)
        progress(f"checking {len(chain)} commits")
        diffs = check_objects(chain + side, trees)
        editor = Editor(account.name, account.user_id, account.groups, ip=address)
        rights = Rights(account.groups, account.grants)
        self.history.ensure_journal_row()
        # Taken before the journal is locked: a refresh holds the cache's lock while it waits to
        # journal, so a push waiting for the cache with the journal locked would deadlock with it.
        state = self._state(head)
        plans = plan_push(self.site.config, self.site.layout, state, head, chain, trees, diffs)
        with self.site.db.write() as conn:
            made = apply_push(self.site, self.history, conn, head, state, plans, side, objects, editor, rights,
                              progress)
        self.repository.store(made, state, head)
        self.repository.refresh()
        progress(f"applied {len(chain)} commits to the wiki")

    def _state(self, head: bytes | None) -> WikiState:
        """The wiki state at the served head, to apply the push to."""
        try:
            return self.repository.take_state(head)
        except StaleCache:
            raise PushRefused(STALE) from None
