"""Git tree objects for the files of a commit, kept from one commit to the next.

A wiki's history changes a page or two per commit, while a namespace may
hold thousands of pages in one directory. :class:`FileTree` keeps every
directory's entries in git's order, as encoded bytes, so a commit costs the
directories along the changed paths: a lookup and a join, not a rebuild of
every tree. Each new tree names the version it replaced, the delta base a
pack wants. Ids are git's: entries sort as git sorts them (a directory as if
its name ended with '/').

Pure: no database, no I/O.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from typing import Any, Mapping, NamedTuple

from dulwich.objects import Tree

TREE_MODE = 0o040000
#: Entries of a directory joined and hashed together (see _Directory).
BLOCK_ENTRIES = 64


class TreeObject(NamedTuple):
    """A tree made by :class:`FileTree`: its id and contents (as git stores them), and the
    id of the same directory's previous version (None for a new directory)."""

    id: bytes
    data: bytes
    base: bytes | None = None

    type_num = Tree.type_num

    def as_raw_string(self) -> bytes:
        return self.data


class _Directory:
    """One directory: entries sorted by git's key, with their encoded bytes alongside.

    The entries are joined and hashed BLOCK_ENTRIES at a time, and each
    block's bytes are kept, with the SHA-1 state before it. An entry
    replaced (an edit: a page's new blob id) re-joins its block alone, and
    as the tree keeps its size, hashing starts again from that block; an
    entry inserted or removed re-joins the blocks from its own on, and the
    whole tree is hashed again. A directory of n pages then costs about
    n / BLOCK_ENTRIES pieces to join, not n, and on average half its bytes
    to hash, for most commits.
    """

    def __init__(self) -> None:
        self.keys: list[bytes] = []  # name, plus "/" for a directory
        self.chunks: list[bytes] = []
        self.subdirectories: dict[str, _Directory] = {}
        self.files: set[str] = set()
        self.dirty: set[str] = set()  # subdirectories changed since the last flush
        self.id: bytes | None = None
        self.changed = True
        self.blocks: list[bytes] = []  # the chunks joined, a block at a time
        self.joined = 0  # blocks before the first entry inserted or removed since they were joined
        self.replaced: set[int] = set()  # blocks where an entry was replaced (an edit) since
        self.hashes: list[Any] = []  # SHA-1 of the header and the blocks before each block
        self.hashed_size = -1  # the size those states were hashed for (the header holds it)

    def put(self, key: bytes, chunk: bytes) -> None:
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            self.chunks[index] = chunk
            self.replaced.add(index // BLOCK_ENTRIES)
        else:
            self.keys.insert(index, key)
            self.chunks.insert(index, chunk)
            self.joined = min(self.joined, index // BLOCK_ENTRIES)
        self.changed = True

    def drop(self, key: bytes) -> None:
        """Remove an entry, if it was written yet (a new directory is written when flushed)."""
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index], self.chunks[index]
            self.joined = min(self.joined, index // BLOCK_ENTRIES)
            self.changed = True

    def _join(self, block: int) -> bytes:
        return b"".join(self.chunks[block * BLOCK_ENTRIES:(block + 1) * BLOCK_ENTRIES])

    def contents(self) -> tuple[bytes, bytes]:
        """(tree bytes, id in hex), from the blocks that changed since last asked."""
        start = min(self.joined, *self.replaced) if self.replaced else self.joined
        for block in self.replaced:
            if block < self.joined:
                self.blocks[block] = self._join(block)
        self.replaced.clear()
        del self.blocks[self.joined:]
        self.blocks += [self._join(block) for block in range(self.joined, -(-len(self.chunks) // BLOCK_ENTRIES))]
        self.joined = len(self.blocks)
        data = b"".join(self.blocks)
        if len(data) != self.hashed_size:
            self.hashes, self.hashed_size, start = [hashlib.sha1(b"tree %d\0" % len(data))], len(data), 0
        del self.hashes[start + 1:]
        digest = self.hashes[start].copy()
        for block in self.blocks[start:]:
            digest.update(block)
            self.hashes.append(digest.copy())
        return data, digest.hexdigest().encode("ascii")


class FileTree:
    """The trees of a set of files, {path: (mode, blob id)}, updated a file at a time."""

    def __init__(self) -> None:
        self._root = _Directory()
        self.files: dict[str, tuple[int, bytes]] = {}

    def set(self, path: str, mode: int, sha: bytes) -> None:
        """Add or change a file. Raises ValueError for a path that is not a clean relative
        path or that would be both a file and a directory."""
        if self.files.get(path) == (mode, sha):
            return
        problem = _raw_path_problem(path)
        if problem:
            raise ValueError(f"{path!r}: {problem}")
        *parents, name = path.split("/")
        directory = self._root
        for part in parents:
            if part in directory.files:
                raise ValueError(f"{path!r}: {part!r} is a file and a directory")
            directory.dirty.add(part)
            directory = directory.subdirectories.setdefault(part, _Directory())
        if name in directory.subdirectories:
            raise ValueError(f"{path!r} is a file and a directory")
        directory.files.add(name)
        encoded = name.encode("utf-8")
        directory.put(encoded, b"%o %s\0%s" % (mode, encoded, bytes.fromhex(sha.decode("ascii"))))
        self.files[path] = (mode, sha)

    def remove(self, path: str) -> None:
        """Remove a file; directories it leaves empty go too (git has no empty trees)."""
        del self.files[path]
        *parents, name = path.split("/")
        trail = [self._root]
        for part in parents:
            trail.append(trail[-1].subdirectories[part])
        trail[-1].files.discard(name)
        trail[-1].drop(name.encode("utf-8"))
        for parent, part, child in zip(reversed(trail[:-1]), reversed(parents), reversed(trail[1:])):
            parent.changed = True
            if child.files or child.subdirectories:
                parent.dirty.add(part)
            else:
                del parent.subdirectories[part]
                parent.dirty.discard(part)
                parent.drop(part.encode("utf-8") + b"/")

    def flush(self) -> tuple[bytes, list[TreeObject]]:
        """The root tree's id, and the trees made since the last flush (children first)."""
        made: list[TreeObject] = []
        return _flush(self._root, made), made


def _flush(directory: _Directory, made: list[TreeObject]) -> bytes:
    for part in sorted(directory.dirty):  # in a set's order, packs would differ from run to run
        child_id = _flush(directory.subdirectories[part], made)
        encoded = part.encode("utf-8")
        directory.put(encoded + b"/", b"%o %s\0%s" % (TREE_MODE, encoded, bytes.fromhex(child_id.decode("ascii"))))
    directory.dirty.clear()
    if directory.changed or directory.id is None:
        data, new_id = directory.contents()
        if new_id != directory.id:
            made.append(TreeObject(new_id, data, directory.id))
            directory.id = new_id
        directory.changed = False
    return directory.id


def build_tree(files: Mapping[str, tuple[int, bytes | str]]) -> tuple[bytes, list[TreeObject]]:
    """(root id, every tree object) for {path: (mode, blob id in hex)}, made from scratch."""
    tree = FileTree()
    for path, (mode, sha) in files.items():
        tree.set(path, mode, sha.encode("ascii") if isinstance(sha, str) else sha)
    return tree.flush()


def _raw_path_problem(path: str) -> str | None:
    """What git itself refuses in any tree, portable or not."""
    if not path or path.startswith("/") or path.endswith("/"):
        return "not a relative file path"
    for name in path.split("/"):
        if name in ("", ".", "..") or "\0" in name:
            return f"{name!r} cannot be a path component"
    return None

