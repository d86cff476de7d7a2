"""A :class:`ServedRepository` over a git directory: the reference implementation.

The real served history comes from the journal, which records each
commit's new objects as it is made. This model computes the same thing
from a git repository once, walking the first-parent line oldest first and
remembering every object already seen, and extends it incrementally when
the branch moves forward. Tests serve repositories made by real git with it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import overload

from dulwich.repo import Repo

from gitaccess.protocol.objects import COMMIT, commit_links, diff_trees, read, walk_tree
from gitaccess.objects.source import ObjectSource
from gitaccess.protocol.repository import ObjectEntry

_SYMREF_PREFIX = b"ref: "


class _Tail(Sequence[bytes]):
    """``line[start:]`` without copying the line."""

    def __init__(self, line: list[bytes], start: int) -> None:
        self._line = line
        self._start = start
        self._stop = len(line)

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._line[self._start + index % len(self)]

    def __iter__(self) -> Iterator[bytes]:
        return (self._line[i] for i in range(self._start, self._stop))


class _LockedStore:
    """dulwich reads pack files with seek and read, so one thread at a time may use them."""

    def __init__(self, store: ObjectSource, lock: threading.RLock) -> None:
        self._store = store
        self._lock = lock

    def __contains__(self, sha: object) -> bool:
        with self._lock:
            return sha in self._store

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        with self._lock:
            return self._store.get_raw(sha)


class GitDirRepository:
    """Serves the branch HEAD points at in a git directory (bare or not)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._repo = Repo(os.fspath(path))
        self._lock = threading.RLock()
        self._line: list[bytes] = []
        self._positions: dict[bytes, int] = {}
        self._introduced: list[tuple[ObjectEntry, ...]] = []
        self._seen: set[bytes] = set()

    def close(self) -> None:
        """Release the repository's open pack files."""
        self._repo.close()

    def refs(self) -> dict[bytes, bytes]:
        return {name: sha for name, sha in self._repo.refs.as_dict().items() if name.startswith(b"refs/")}

    def head(self) -> bytes:
        target = self._repo.refs.read_ref(b"HEAD") or b""
        return target[len(_SYMREF_PREFIX):] if target.startswith(_SYMREF_PREFIX) else b"refs/heads/master"

    def object_store(self) -> ObjectSource:
        return _LockedStore(self._repo.object_store, self._lock)

    def position(self, commit: bytes) -> int | None:
        self._sync()
        return self._positions.get(commit)

    def commits_since(self, position: int) -> Sequence[bytes]:
        """Positions come from :meth:`position`, which brought the line up to date."""
        return _Tail(self._line, position + 1)

    def introduced(self, commit: bytes) -> Sequence[ObjectEntry]:
        return self._introduced[self._positions[commit]]

    def whole_pack(self) -> None:
        """None: this test repository keeps no ready pack."""
        return None

    def _sync(self) -> None:
        """Follow the branch: extend the line when it moved forward, rebuild it otherwise."""
        try:
            tip: bytes | None = self._repo.refs[self.head()]
        except KeyError:
            tip = None
        with self._lock:
            if tip is None or (self._line and self._line[-1] == tip):
                return
            new, met = self._first_parents(tip)
            if met is not None and met != self._line[-1]:
                self._line, self._positions, self._introduced, self._seen = [], {}, [], set()
                new, met = self._first_parents(tip)
            for commit in reversed(new):
                self._append(commit)

    def _first_parents(self, tip: bytes) -> tuple[list[bytes], bytes | None]:
        """The first-parent line from ``tip`` down to a commit already on the line (returned too)."""
        store = self._repo.object_store
        new: list[bytes] = []
        commit: bytes | None = tip
        while commit is not None and commit not in self._positions:
            new.append(commit)
            parents = commit_links(read(store, commit, COMMIT))[1]
            commit = parents[0] if parents else None
        return new, commit

    def _append(self, commit: bytes) -> None:
        store = self._repo.object_store
        side = self._unseen_ancestry(commit_links(read(store, commit, COMMIT))[1][1:])
        entries: list[ObjectEntry] = []
        for each in (*side, commit):
            entries += self._new_objects(each)
        self._positions[commit] = len(self._line)
        self._line.append(commit)
        self._introduced.append(tuple(entries))

    def _new_objects(self, commit: bytes) -> list[ObjectEntry]:
        """The commit and the objects of its tree nothing before it had."""
        store = self._repo.object_store
        tree, parents = commit_links(read(store, commit, COMMIT))
        if parents:
            candidates = diff_trees(store, tree, commit_links(read(store, parents[0], COMMIT))[0], self._seen)
        else:
            candidates = walk_tree(store, tree, self._seen)
        entries = [ObjectEntry(commit, COMMIT)]
        for entry in candidates:
            if entry.sha not in self._seen:
                self._seen.add(entry.sha)
                entries.append(entry)
        self._seen.add(commit)
        return entries

    def _unseen_ancestry(self, tips: list[bytes]) -> list[bytes]:
        """Commits reachable from ``tips`` and not yet seen, parents before children."""
        store = self._repo.object_store
        order: list[bytes] = []
        entered: set[bytes] = set()
        stack = [(tip, False) for tip in reversed(tips)]
        while stack:
            commit, done = stack.pop()
            if done:
                order.append(commit)
            elif commit not in self._seen and commit not in entered:
                entered.add(commit)
                stack.append((commit, True))
                parents = commit_links(read(store, commit, COMMIT))[1]
                stack.extend((parent, False) for parent in reversed(parents))
        return order
