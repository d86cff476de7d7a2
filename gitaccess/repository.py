"""The wiki's history as a git repository: what the protocol layer serves.

:meth:`WikiRepository.refresh` brings the object cache up to the journal
(replaying commits another server or an earlier process journaled) and the
journal up to the wiki (new activity made anywhere, MediaWiki included). It
is cheap when nothing changed: index lookups only.

A process keeps the wiki state it stored last, per cache directory
(``WikiRepository._kept_states``), so that its next refresh or push starts
from there instead of reading the stored state again; every
:class:`WikiRepository` of the process on that directory shares it, under
the cache's lock.

The cache is disposable: one found damaged while serving (its files
removed, cut short or unreadable) is discarded, rebuilt from the journal,
and the request's step tried once more on it (:meth:`WikiRepository._rebuilt_if_damaged`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from dulwich.objects import ShaFile

from gitaccess.cache.objectcache import STATE_INTERVAL, CacheDamaged, ObjectCache
from gitaccess.cache.writer import append_beside
from gitaccess.journal.history import CountProgress, History, StaleCache
from gitaccess.journal.state import NewCommit, WikiState
from gitaccess.protocol.repository import ObjectEntry
from gitaccess.site import Site

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Told (what, done, total) while a refresh works: "replaying the journal" (commits the cache
#: lacks or must rebuild the wiki's state from), then "journaling the wiki" (new activity).
PhaseProgress = Callable[[str, int, int], None]
#: Commits to make (ones the journal has and the cache lacks, or wiki activity the journal has
#: not read) from which a second process stores them while this one makes them (a first
#: build, a deleted cache, a long absence; see gitaccess.cache.writer).
BESIDE_COMMITS = 5000

class WikiRepository:
    """One site's history: journal in the database, objects in the local cache."""

    def __init__(self, site: Site, cache_directory: Path | None = None) -> None:
        self.site = site
        self.history = History(site)
        self.cache = ObjectCache(cache_directory or self.cache_directory(site), self.head())

    @staticmethod
    def cache_directory(site: Site) -> Path:
        """Where a site's object cache lives unless told otherwise."""
        return site.config.data_directory / "cache" / site.config.repository

    #: Per cache directory, (cache head, state there) while this process holds the state the cache
    #: stored last; shared by the process's threads, used and changed only under the cache's lock.
    _kept_states: dict[Path, tuple[bytes | None, WikiState]] = {}

    @property
    def _kept(self) -> tuple[bytes | None, WikiState] | None:
        return self._kept_states.get(self.cache.directory)

    @_kept.setter
    def _kept(self, value: tuple[bytes | None, WikiState] | None) -> None:
        if value is None:
            self._kept_states.pop(self.cache.directory, None)
        else:
            self._kept_states[self.cache.directory] = value

    # --- keeping up
    def refresh(self, progress: PhaseProgress | None = None) -> None:
        """Catch the cache up with the journal and the journal up with the wiki; a cache
        removed or damaged is rebuilt first. Raises CacheFull when the cache's disk is full."""
        self._rebuilt_if_damaged(lambda: self._refresh(progress))

    def _rebuilt_if_damaged(self, step: Callable[[], T]) -> T:
        """``step``, tried once more on a cache rebuilt from the journal if it finds the cache
        damaged (the SHA-1s and positions it serves are the journal's, so they are the same)."""
        try:
            return step()
        except CacheDamaged as damage:
            self.cache.discard(str(damage))
            self._refresh(None)
            return step()

    def _refresh(self, progress: PhaseProgress | None) -> None:
        if self.cache.vanished():  # removed, or rebuilt by another process
            log.warning("the object cache in %s is not the one this process opened: opening it again",
                        self.cache.directory)
            self.cache.reopen()
        with self.site.db.read() as conn:
            journal_head = self.history.head(conn)
            marks = self.history.marks(conn)
        cached = self.cache.head()
        if (cached.sha if cached else None) == journal_head and not self.history.behind(marks):
            return
        with self.cache.locked():
            kept, self._kept = self._kept, None  # changed below: kept again once stored
            with self.site.db.read() as conn:  # only now: a fetch with nothing new never asks
                journal_end = self.history.last_position(conn)
            beside = journal_end - (cached.position + 1 if cached else 0) >= BESIDE_COMMITS
            for _attempt in range(3):
                replaying = _phase(progress, "replaying the journal")
                try:
                    state = self._replay(kept, replaying, beside)
                except StaleCache:
                    self.cache.reset()  # history was redacted: rebuild from the journal
                    state = self._replay(None, replaying, journal_end >= BESIDE_COMMITS)
                head_sha = self.cache.head_sha()
                kept = (head_sha, state)
                try:
                    self._store(self.history.catch_up(state, head_sha,
                                                      _phase(progress, "journaling the wiki")), state,
                                beside=self.history.ahead(marks) >= BESIDE_COMMITS)
                except StaleCache:
                    continue  # another server journaled meanwhile: replay its commits, then try again
                return

    def _replay(self, kept: tuple[bytes | None, WikiState] | None, progress: CountProgress | None,
                beside: bool = False) -> WikiState:
        """The cache brought to the journal's head; returns the state there."""
        state, rest = self._advance(kept, progress)
        self._append(rest, state, beside)
        return state

    def _advance(self, kept: tuple[bytes | None, WikiState] | None,
                 progress: CountProgress | None = None) -> tuple[WikiState, Iterator[NewCommit]]:
        """A state brought to the cache's head, and the journal's commits after it, to be made.

        The state starts from ``kept`` (one this process holds, with the
        commit it belongs to) or from the one the cache stored, whichever is
        nearer the head, and replays the commits between: another worker's
        few new commits cost a few commits, not reading and placing every page.
        """
        start: tuple[bytes | None, WikiState, list[bytes]] | None = None
        if kept is not None:
            behind = self.cache.commits_after(kept[0])
            if behind is not None:
                start = (kept[0], kept[1], behind)
        if start is None or len(start[2]) > STATE_INTERVAL:
            stored = self.cache.state()
            behind = self.cache.commits_after(stored[0]) if stored is not None else None
            if stored is not None and behind is not None:
                start = (stored[0], WikiState.from_json(stored[1]), behind)
        if start is None:
            start = (None, WikiState(), self.cache.commits_after(None) or [])
        commit, state, behind = start
        made = self.history.replay(state, commit, progress)
        for sha in behind:
            replayed = next(made, None)
            if replayed is None or replayed.commit.id != sha:
                raise StaleCache(f"the cache's commit {sha.decode()} is not the journal's")
        return state, made

    def _at_cache_head(self, kept: tuple[bytes | None, WikiState] | None) -> WikiState:
        """A state brought to the cache's head (:meth:`_advance`), and no further."""
        state, rest = self._advance(kept)
        rest.close()
        return state

    def take_state(self, head: bytes | None) -> WikiState:
        """The state at the served head ``head``, for a push to change: the one this process
        holds, which it no longer holds (:meth:`store` keeps the push's result; a refused push's
        half-changed state is dropped), or one brought there from the stored state.

        Raises :class:`StaleCache` when the cache has moved past ``head`` meanwhile.
        """
        return self._rebuilt_if_damaged(lambda: self._take_state(head))

    def _take_state(self, head: bytes | None) -> WikiState:
        with self.cache.locked():
            kept, self._kept = self._kept, None
            if kept is not None and kept[0] == head:
                return kept[1]
            if self.cache.head_sha() != head:
                raise StaleCache("the served history moved on while the push was read")
            return self._at_cache_head(kept)

    def warm(self) -> None:
        """Hold the state at the cache's head, its pages placed, unless this process already does.

        A serving process calls it as it starts, in the background: its first
        catch-up then costs what is new, not reading the stored state and
        placing every page of the wiki.
        """
        with self.cache.locked():
            if self._kept is not None or self.cache.state_commit() is None:
                return
            head_sha = self.cache.head_sha()
            state = self._at_cache_head(None)
            self.history.place(state)
            self._kept = (head_sha, state)

    def _append(self, made: Iterable[NewCommit], state: WikiState, beside: bool) -> None:
        """Cache commits, in this process or (``beside``) a second one."""
        if beside:
            append_beside(self.cache, made, state.to_json)
        else:
            self.cache.append(made, state.to_json)

    def _store(self, made: Iterable[NewCommit], state: WikiState, *, beside: bool = False) -> None:
        self._append(made, state, beside)
        self._kept = (self.cache.head_sha(), state)

    def store(self, made: list[NewCommit], state: WikiState, parent: bytes | None) -> None:
        """Cache commits just journaled on top of ``parent`` (a push's), sparing their replay.

        If the cache moved meanwhile, nothing is stored: the next refresh
        replays them from the journal instead; so it does if the cache is found
        damaged (it is discarded).
        """
        try:
            with self.cache.locked():
                if self.cache.head_sha() == parent:
                    self._kept = None
                    self._store(made, state)
        except CacheDamaged as damage:  # the journal has the commits: the next refresh stores them
            self.cache.discard(str(damage))  # outside the lock, which discarding takes

    # --- what upload-pack asks
    def refs(self) -> dict[bytes, bytes]:
        head = self._rebuilt_if_damaged(self.cache.head_sha)
        return {self.head(): head} if head else {}

    def head(self) -> bytes:
        return b"refs/heads/" + self.site.config.branch.encode("utf-8")

    def object_store(self) -> _ServedObjects:
        return _ServedObjects(self)

    def position(self, commit: bytes) -> int | None:
        return self._rebuilt_if_damaged(lambda: self.cache.position(commit))

    def any_known(self, commits: list[bytes]) -> bool:
        return self._rebuilt_if_damaged(lambda: self.cache.any_known(commits))

    def commits_since(self, position: int) -> list[bytes]:
        return self._rebuilt_if_damaged(lambda: self.cache.commits_since(position))

    def introduced(self, commit: bytes) -> list[ObjectEntry]:
        return [ObjectEntry(*entry) for entry in self._rebuilt_if_damaged(lambda: self.cache.introduced(commit))]

    def whole_pack(self) -> tuple[int, Iterator[bytes]] | None:
        return self._rebuilt_if_damaged(self.cache.stream)

    def close(self) -> None:
        self.cache.close()


class _ServedObjects:
    """The cache's objects as upload-pack and a push read them, read again from a rebuilt
    cache if the cache is found damaged midway (see WikiRepository._rebuilt_if_damaged)."""

    def __init__(self, repository: WikiRepository) -> None:
        self._repository = repository

    def __contains__(self, sha: object) -> bool:
        return self._repository._rebuilt_if_damaged(lambda: sha in self._repository.cache)

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """(type, contents) of an object; KeyError when it is not in the history."""
        return self._repository._rebuilt_if_damaged(lambda: self._repository.cache.get_raw(sha))

    def __getitem__(self, sha: bytes) -> ShaFile:
        """The object parsed, as dulwich's object stores give it."""
        return ShaFile.from_raw_string(*self.get_raw(sha), sha if len(sha) == 40 else None)


def _phase(progress: PhaseProgress | None, what: str) -> CountProgress | None:
    """``progress`` told of one phase of a refresh."""
    if progress is None:
        return None
    return lambda done, total: progress(what, done, total)
