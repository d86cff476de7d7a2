"""Which names a tree already holds, as a case-insensitive file system sees them.

Git keeps ``Foo.wiki`` and ``FOO.wiki`` apart; a checkout on Windows or macOS
cannot, nor a file and a directory whose names differ only by case. A
:class:`Claims` records, per directory, each name taken (by its collision
key) and whether it is a file or a directory: a directory may be shared by
many paths when spelled exactly alike, anything else claims a key once.
A path can be given back (:meth:`Claims.release`): a directory stays taken
while any other path still runs through it.
"""

from __future__ import annotations

from typing import Iterable

from gitaccess.tree.portable import collision_key


class Claims:
    """Names taken in each directory of one tree ("" is the root)."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, str], tuple[str, bool]] = {}
        self._uses: dict[tuple[str, str], int] = {}  # paths running through each directory

    def holder(self, parent: str, name: str) -> tuple[str, bool] | None:
        """(exact name, is a directory) of what holds ``name``'s key in ``parent``."""
        return self._taken.get((parent, collision_key(name)))

    def can_file(self, parent: str, name: str) -> bool:
        """Is the name free in ``parent`` for a file?"""
        return self.holder(parent, name) is None

    def can_directory(self, parent: str, name: str) -> bool:
        """Is the name free for a directory, or that very directory already?"""
        holder = self.holder(parent, name)
        return holder is None or holder == (name, True)

    def conflict(self, path: str) -> str | None:
        """What ``path`` would clash with, as a message; None if it can be claimed."""
        parent = ""
        components = path.split("/")
        for index, name in enumerate(components):
            is_directory = index < len(components) - 1
            free = self.can_directory(parent, name) if is_directory else self.can_file(parent, name)
            if not free:
                held, held_is_directory = self.holder(parent, name)
                where = f"{parent}/" if parent else "the repository root"
                kind = "directory" if held_is_directory else "file"
                if held == name and not (is_directory or held_is_directory):
                    return f"{name!r} is already a file in {where}"
                return (
                    f"{name!r} and the {kind} {held!r} in {where} would be one name on Windows "
                    "and macOS (they differ only by case or Unicode form)"
                )
            parent = f"{parent}/{name}" if parent else name
        return None

    def claim(self, path: str) -> None:
        """Take every directory along ``path`` and its file name (check :meth:`conflict` first)."""
        parent = ""
        components = path.split("/")
        for index, name in enumerate(components):
            is_directory = index < len(components) - 1
            key = (parent, collision_key(name))
            if self._taken.setdefault(key, (name, is_directory)) == (name, True) and is_directory:
                self._uses[key] = self._uses.get(key, 0) + 1
            parent = f"{parent}/{name}" if parent else name

    def release(self, path: str) -> None:
        """Give back a path taken with :meth:`claim`: its file name, and each of its
        directories no other path runs through."""
        parent = ""
        components = path.split("/")
        for index, name in enumerate(components):
            key = (parent, collision_key(name))
            if index < len(components) - 1:
                uses = self._uses.get(key, 0) - 1
                if uses > 0:
                    self._uses[key] = uses
                elif self._taken.get(key) == (name, True):
                    del self._taken[key]
                    self._uses.pop(key, None)
            elif self._taken.get(key) == (name, False):
                del self._taken[key]
            parent = f"{parent}/{name}" if parent else name

    def claim_directory(self, parent: str, name: str) -> None:
        """Take a directory name that may hold nothing yet (a namespace directory), for good."""
        key = (parent, collision_key(name))
        if self._taken.setdefault(key, (name, True)) == (name, True):
            self._uses[key] = self._uses.get(key, 0) + 1

    def claim_file(self, parent: str, name: str) -> None:
        """Take a file name that no page may have (Aliases.xml)."""
        self._taken.setdefault((parent, collision_key(name)), (name, False))


def first_conflict(paths: Iterable[str]) -> str | None:
    """The first clash among these paths (in order), as a message; None if none."""
    claims = Claims()
    for path in paths:
        problem = claims.conflict(path)
        if problem:
            return f"{path}: {problem}"
        claims.claim(path)
    return None
