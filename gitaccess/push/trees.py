"""Reading the pushed trees: files under a tree, what differs between two trees, name clashes.

Each push reads its trees through one :class:`PushedTrees`, which keeps the
trees read last (a commit's diff reads its parent's trees again), so a
commit costs the directories it changed, not the whole tree.
"""

from __future__ import annotations

import stat
from functools import lru_cache
from typing import Iterator, NamedTuple, Protocol

from dulwich.objects import ShaFile, Tree

from gitaccess.objects.entries import ParsedTree, RecentTrees, Reread, parse, reparse
from gitaccess.objects.source import ObjectSource
from gitaccess.push.errors import PushRefused
from gitaccess.tree.layout import ALIASES_FILE
from gitaccess.tree.portable import collision_key


class PushedObjects(ObjectSource, Protocol):
    """The pushed objects, and the served ones behind them (the quarantine's view)."""

    def __getitem__(self, sha: bytes) -> ShaFile:
        """The object, parsed; KeyError when missing."""


class Change(NamedTuple):
    """A file that differs between two trees: its blob before and after (None: absent), and its
    mode after."""

    path: str
    old: bytes | None
    new: bytes | None
    mode: int | None


class PushedTrees:
    """The trees of one push, read whole or from their previous version.

    The quarantine checked pushed trees against git's rules already; a tree
    that is not a tree raises :class:`PushRefused`, a missing object KeyError.
    """

    def __init__(self, objects: PushedObjects) -> None:
        self.objects = objects
        self._recent = RecentTrees()  # keyed by tree id, which fixes the contents

    def walk(self, tree_id: bytes, prefix: str = "") -> Iterator[tuple[str, int, bytes]]:
        """(path, mode, sha) of every file under a tree."""
        for name, mode, sha in self._parsed(tree_id, prefix).entries:
            path = prefix + name.decode("utf-8", errors="surrogateescape")
            if stat.S_ISDIR(mode):
                yield from self.walk(sha, path + "/")
            else:
                yield path, mode, sha

    def diff(self, old: bytes | None, new: bytes | None, prefix: str = "") -> Iterator[Change]:
        """Each file that differs between two trees, in path order.

        Subtrees with one id are skipped, and a changed directory is read from
        its previous version (:meth:`_reread`), so this costs the directories
        that changed and, within them, the entries that changed.
        """
        if old and new:
            previous = self._parsed(old, prefix)
            reread = self._reread(new, prefix, previous)
            before, after = set(previous.entries[reread.first:reread.end]), set(reread.middle)
        else:
            before = set(self._parsed(old, prefix).entries) if old else set()
            after = set(self._parsed(new, prefix).entries) if new else set()
        was = {name: (mode, sha) for name, mode, sha in before - after}
        now = {name: (mode, sha) for name, mode, sha in after - before}
        for raw in sorted(was.keys() | now.keys()):
            name = raw.decode("utf-8", errors="surrogateescape")
            gone, came = was.get(raw), now.get(raw)
            was_tree = gone is not None and stat.S_ISDIR(gone[0])
            now_tree = came is not None and stat.S_ISDIR(came[0])
            if was_tree or now_tree:
                yield from self.diff(gone[1] if was_tree else None, came[1] if now_tree else None,
                                     f"{prefix}{name}/")
            old_file = None if was_tree or gone is None else gone[1]
            new_file = None if now_tree or came is None else came
            if old_file is not None or new_file is not None:
                yield Change(f"{prefix}{name}", old_file, new_file[1] if new_file else None,
                             new_file[0] if new_file else None)

    def names_clash(self, tree_id: bytes, checked: set[tuple[str, bytes]], prefix: str = "") -> bool:
        """Do two names of one directory (or a name and the root's Aliases.xml) become one on a
        case-insensitive system? Directories in ``checked`` are known not to, and skipped."""
        if (prefix, tree_id) in checked:
            return False
        held: dict[str, tuple[bytes, bool]] = {} if prefix else {_collision_key(ALIASES_FILE.encode()):
                                                                 (ALIASES_FILE.encode(), False)}
        for name, mode, sha in self._parsed(tree_id, prefix).entries:
            is_directory = stat.S_ISDIR(mode)
            key = _collision_key(name)
            if held.setdefault(key, (name, is_directory)) != (name, is_directory):
                return True
            if is_directory and self.names_clash(sha, checked,
                                                 f"{prefix}{name.decode('utf-8', errors='surrogateescape')}/"):
                return True
        checked.add((prefix, tree_id))
        return False

    def _parsed(self, tree_id: bytes, prefix: str) -> ParsedTree:
        """A tree read whole, or the one read recently."""
        return self._recent.get(tree_id) or self._recent.put(parse(self._data(tree_id, prefix)), tree_id)

    def _reread(self, tree_id: bytes, prefix: str, previous: ParsedTree) -> Reread:
        """A tree read from its previous version (the same directory in the parent commit): the
        bytes where they differ are parsed, not the entries they share."""
        found = self._recent.get(tree_id)
        reread = reparse(previous, found.data if found else self._data(tree_id, prefix))
        self._recent.put(reread.tree, tree_id)
        return reread

    def _data(self, tree_id: bytes, prefix: str) -> bytes:
        type_num, data = self.objects.get_raw(tree_id)
        if type_num != Tree.type_num:
            raise PushRefused(f"{prefix or 'the root'}: {tree_id.decode()} is not a tree")
        return data


@lru_cache(maxsize=1 << 16)
def _collision_key(name: bytes) -> str:
    """A name's key on case-insensitive systems (names recur from commit to commit)."""
    return collision_key(name.decode("utf-8", errors="surrogateescape"))
