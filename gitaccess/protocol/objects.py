"""The few fields of git objects that deciding what to send needs.

Parsing whole commits with dulwich's classes would check and keep far more
than the tree and parents; these functions read only the headers, and the
tree walks use dulwich's compiled ``parse_tree``.
"""

from __future__ import annotations

from collections.abc import Container, Iterator

from dulwich.objects import Blob, Commit, Tag, Tree, parse_tree

from gitaccess.errors import GitAccessError
from gitaccess.objects.source import ObjectSource
from gitaccess.protocol.repository import ObjectEntry

COMMIT = Commit.type_num
TREE = Tree.type_num
BLOB = Blob.type_num
TAG = Tag.type_num

_TREE_MODE = 0o040000
_GITLINK_MODE = 0o160000
_SHA_BYTES = 20


class MissingObject(GitAccessError):
    """An object the served history refers to is not in the object store (a server-side fault)."""


def read(store: ObjectSource, sha: bytes, expected: int) -> bytes:
    """The contents of an object that must exist and have the ``expected`` type.

    Raises MissingObject when it is missing or of another type.
    """
    try:
        type_num, data = store.get_raw(sha)
    except KeyError:
        raise MissingObject(f"object {sha.decode()} is missing from the repository") from None
    if type_num != expected:
        raise MissingObject(f"object {sha.decode()} is a {type_name(type_num)}, expected a {type_name(expected)}")
    return data


def type_name(type_num: int) -> str:
    return {COMMIT: "commit", TREE: "tree", BLOB: "blob", TAG: "tag"}.get(type_num, f"type {type_num}")


def commit_links(raw: bytes) -> tuple[bytes, list[bytes]]:
    """A commit's tree and parents, from the header lines that come first."""
    tree = b""
    parents = []
    for line in raw.partition(b"\n\n")[0].split(b"\n"):
        if line.startswith(b"tree "):
            tree = line[5:]
        elif line.startswith(b"parent "):
            parents.append(line[7:])
        else:
            break
    return tree, parents


def commit_time(raw: bytes) -> int:
    """The committer timestamp (seconds since the epoch); MissingObject if there is none."""
    for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(b"committer "):
            return int(line.rsplit(b" ", 2)[1])
    raise MissingObject("commit without a committer line")


def tag_target(raw: bytes) -> tuple[bytes, int]:
    """The object an annotated tag points at, and its type."""
    fields = dict(line.split(b" ", 1) for line in raw.split(b"\n\n", 1)[0].split(b"\n") if b" " in line)
    kind = {b"commit": COMMIT, b"tree": TREE, b"blob": BLOB, b"tag": TAG}.get(fields.get(b"type", b""), 0)
    return fields.get(b"object", b""), kind


def peel(store: ObjectSource, sha: bytes) -> bytes:
    """Follow annotated tags down to the object they finally name.

    Raises KeyError when an object of the chain is missing, MissingObject
    when the chain does not end.
    """
    for _ in range(100):
        type_num, data = store.get_raw(sha)
        if type_num != TAG:
            return sha
        sha = tag_target(data)[0]
    raise MissingObject(f"tag chain at {sha.decode()} is too long")


def _entries(store: ObjectSource, tree: bytes) -> dict[bytes, tuple[int, bytes]]:
    return {name: (mode, sha) for name, mode, sha in parse_tree(read(store, tree, TREE), _SHA_BYTES)}


def walk_tree(store: ObjectSource, tree: bytes, skip: Container[bytes]) -> Iterator[ObjectEntry]:
    """Every object of ``tree`` not in ``skip``; subtrees in ``skip`` are not entered.

    Raises MissingObject when a tree it enters is missing.
    """
    if tree in skip:
        return
    yield ObjectEntry(tree, TREE)
    for mode, sha in _entries(store, tree).values():
        if mode == _GITLINK_MODE or sha in skip:
            continue
        if mode == _TREE_MODE:
            yield from walk_tree(store, sha, skip)
        else:
            yield ObjectEntry(sha, BLOB)


def diff_trees(store: ObjectSource, new: bytes, old: bytes, skip: Container[bytes]) -> Iterator[ObjectEntry]:
    """Objects of ``new`` that ``old`` does not hold at the same path, based on what it held there.

    Everything of ``old`` is assumed present on the receiving side, so an
    unchanged subtree is skipped without being read; so is anything in ``skip``.
    Raises MissingObject when a tree it reads is missing.
    """
    if new == old or new in skip:
        return
    yield ObjectEntry(new, TREE, old)
    old_entries = _entries(store, old)
    for name, (mode, sha) in _entries(store, new).items():
        old_mode, old_sha = old_entries.get(name, (0, None))
        if mode == _GITLINK_MODE or sha == old_sha or sha in skip:
            continue
        if mode == _TREE_MODE:
            if old_mode == _TREE_MODE and old_sha is not None:
                yield from diff_trees(store, sha, old_sha, skip)
            else:
                yield from walk_tree(store, sha, skip)
        else:
            same_kind = old_sha is not None and old_mode not in (_TREE_MODE, _GITLINK_MODE)
            yield ObjectEntry(sha, BLOB, old_sha if same_kind else None)
