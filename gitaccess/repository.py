"""The wiki's history as a git repository: what the protocol layer serves.

:meth:`WikiRepository.refresh` brings the object cache up to the journal
(replaying commits another server or an earlier process journaled) and the
journal up to the wiki (new activity made anywhere, MediaWiki included). It
is cheap when nothing changed: a handful of index lookups.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from gitaccess.cache import ObjectCache
from gitaccess.history import History, Made, StaleCache, WikiState
from gitaccess.protocol.repository import ObjectEntry
from gitaccess.site import Site

log = logging.getLogger(__name__)

#: Commits stored per pack while replaying a long journal (bounds memory).
REPLAY_BATCH = 2000


class WikiRepository:
    """One site's history: journal in the database, objects in the local cache."""

    def __init__(self, site: Site, cache_directory: Path | None = None) -> None:
        self.site = site
        self.history = History(site)
        directory = cache_directory or site.config.data_directory / "cache" / site.config.repository
        self.cache = ObjectCache(directory, self.head())

    # --- keeping up
    def refresh(self) -> None:
        """Catch the cache up with the journal and the journal up with the wiki."""
        with self.site.db.read() as conn:
            journal_head = self.history.head(conn)
            marks = self.history.marks(conn)
        cached = self.cache.head()
        if (cached[1] if cached else None) == journal_head and not self.history.behind(marks):
            return
        with self.cache.locked():
            for _attempt in range(3):
                try:
                    state = self._replay()
                except StaleCache:
                    self.cache.reset()  # history was redacted: rebuild from the journal
                    state = self._replay()
                head = self.cache.head()
                try:
                    made = self.history.catch_up(state, head[1] if head else None)
                except StaleCache:
                    continue  # another server journaled meanwhile: replay its commits, then try again
                self._store(made, state)
                return

    def _replay(self) -> WikiState:
        """The cache brought to the journal's head; returns the state there."""
        head = self.cache.head()
        stored = self.cache.state()
        state = WikiState.from_json(stored) if head and stored else WikiState()
        batch: list[Made] = []
        for made in self.history.replay(state, head[1] if head else None):
            batch.append(made)
            if len(batch) >= REPLAY_BATCH:
                self._store(batch, state)
                batch = []
        if batch:
            self._store(batch, state)
        return state

    def _store(self, made: Iterable[Made], state: WikiState) -> None:
        commits = [(m.commit.id, m.objects) for m in made]
        if commits:
            self.cache.append(commits, state.to_json())

    # --- what upload-pack asks
    def refs(self) -> dict[bytes, bytes]:
        head = self.cache.head()
        return {self.head(): head[1]} if head else {}

    def head(self) -> bytes:
        return b"refs/heads/" + self.site.config.branch.encode("utf-8")

    def object_store(self):  # type: ignore[no-untyped-def]
        return self.cache.object_store

    def position(self, commit: bytes) -> int | None:
        return self.cache.position(commit)

    def commits_since(self, position: int) -> list[bytes]:
        return self.cache.commits_since(position)

    def introduced(self, commit: bytes) -> list[ObjectEntry]:
        return [ObjectEntry(*entry) for entry in self.cache.introduced(commit)]

    def close(self) -> None:
        self.cache.close()
