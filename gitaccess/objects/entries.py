"""Reading pushed git trees: their entries, git's rules for them, and a new version read
from the previous one.

A push of many commits to a wiki whose main namespace is one large
directory carries a version of that directory per commit, each differing
from the one before in an entry or two. Reading each version whole is slow
in Python; :func:`reparse` reads only the
bytes where it differs from its previous version (both versions in hand:
a delta's base in a pack, a commit's parent) and takes the other entries
from the previous version's reading. The tests on entries run over whole
lists in C (map, sets, one sort), never entry by entry in Python.

Pure: no database, no I/O.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress, count, repeat
from operator import add, itemgetter
from typing import NamedTuple

from dulwich.errors import ObjectFormatException
from dulwich.objects import parse_tree

from gitaccess.objects.ends import common_ends
from gitaccess.objects.fsck import DOTFILES, special_name

#: A tree entry as git stores it: (name, mode, object id in hex).
Entry = tuple[bytes, int, bytes]

TREE_MODE = 0o040000
#: The modes git fsck accepts (0o100664 is an old git's, still met in the wild).
_TREE_MODES = frozenset({0o100644, 0o100755, 0o100664, 0o120000, TREE_MODE, 0o160000})
_RESERVED_NAMES = frozenset({b"", b".", b"..", b".git"})
_SYMLINK_MODE = 0o120000
#: Names that may open as .git or one of git's special dotfiles on some file system: those
#: starting with a dot, a g or m (NTFS short names) or a non-ASCII byte (HFS+'s ignored code
#: points), found in the NUL-joined names without a step per entry.
_SPECIAL_CANDIDATE = re.compile(rb"(?:^|(?<=\0))[.gGmM\x80-\xff][^\0]*")
#: An entry's bytes besides its name: a mode of six digits (five for a directory), a space,
#: the name's terminating NUL and the 20-byte object id.
_ENTRY_OVERHEAD = 6 + 1 + 1 + 20


class ParsedTree(NamedTuple):
    """A tree's contents, its entries, and where each entry starts (then the end)."""

    data: bytes
    entries: list[Entry]
    starts: list[int]


class RecentTrees:
    """The trees read last, at most ``size``, under keys that fix their contents (an object
    id, a pack offset): the next tree read is usually a new version of one of them."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._trees: dict[int | bytes, ParsedTree] = {}

    def get(self, key: int | bytes) -> ParsedTree | None:
        return self._trees.get(key)

    def put(self, tree: ParsedTree, *keys: int | bytes) -> ParsedTree:
        for key in keys:
            self._trees[key] = tree
        while len(self._trees) > self._size * len(keys):
            del self._trees[next(iter(self._trees))]
        return tree


class Reread(NamedTuple):
    """A tree read from its previous version: entries ``[first, end)`` of the previous
    version were replaced by ``middle``; the others are the previous version's."""

    tree: ParsedTree
    first: int
    end: int
    middle: list[Entry]


def parse_entries(data: bytes) -> list[Entry]:
    """A tree's entries in stored order; ValueError when they cannot be read.

    dulwich's parser in C, without building a ``Tree`` (which would index
    and re-sort the entries in Python).
    """
    try:
        return parse_tree(data, 20, strict=True)
    except ObjectFormatException as exc:
        raise ValueError(str(exc)) from None


def parse(data: bytes) -> ParsedTree:
    """A whole tree read; ValueError when it cannot be."""
    entries = parse_entries(data)
    return ParsedTree(data, entries, _starts(entries, 0))


def reparse(previous: ParsedTree, data: bytes) -> Reread:
    """A tree read from a previous version of it; ValueError when it cannot be read.

    Entries wholly inside the bytes both versions begin with, or end with,
    are the previous version's; only the bytes between are parsed. Parsing
    runs left to right from an entry boundary, so if the bytes between parse
    exactly, their end is a boundary too and the reading is the tree's.
    Otherwise (rare: an object id's bytes can mimic an entry) the whole tree
    is read.
    """
    old = previous.data
    prefix, suffix = common_ends(old, data)
    starts = previous.starts
    first = max(bisect_right(starts, prefix) - 1, 0)
    end = max(bisect_left(starts, len(old) - suffix), first)
    tail = len(old) - starts[end]
    try:
        middle = parse_entries(data[starts[first]:len(data) - tail])
    except ValueError:
        whole = parse(data)
        return Reread(whole, 0, len(previous.entries), whole.entries)
    shift = len(data) - len(old)
    entries = previous.entries[:first] + middle + previous.entries[end:]
    new_starts = (starts[:first] + _starts(middle, starts[first])[:-1]
                  + list(map(add, starts[end:], repeat(shift))))
    return Reread(ParsedTree(data, entries, new_starts), first, end, middle)


def _starts(entries: list[Entry], at: int) -> list[int]:
    """Where each entry starts, counting from ``at``, then where the last one ends."""
    names = map(len, map(itemgetter(0), entries))
    six_digit_modes = map(TREE_MODE.__ne__, map(itemgetter(1), entries))  # True counts 1
    lengths = map(add, map(add, names, six_digit_modes), repeat(_ENTRY_OVERHEAD - 1))
    return list(accumulate(lengths, initial=at))


def entries_problem(entries: list[Entry]) -> str | None:
    """What ``git fsck`` refuses in a tree's entries (names, modes, order), or None."""
    names = list(map(itemgetter(0), entries))
    modes = list(map(itemgetter(1), entries))
    reserved = _RESERVED_NAMES.intersection(names)
    if reserved:
        return f"invalid name {min(reserved)!r}"
    joined = b"\0".join(names)
    if b"/" in joined:
        return "a name contains '/'"
    for candidate in _SPECIAL_CANDIDATE.findall(joined):
        special = special_name(candidate)
        if special == b".git":
            return f"invalid name {candidate!r} (it opens as .git on some systems)"
        if special in DOTFILES and modes[names.index(candidate)] == _SYMLINK_MODE:
            return f"{candidate!r} is a symbolic link (git refuses to follow one named {special.decode()})"
    kinds = set(modes)
    if kinds - _TREE_MODES:
        return f"invalid mode {min(kinds - _TREE_MODES):06o}"
    if len(set(names)) != len(names):
        return "duplicate entries"
    keys = names
    if TREE_MODE in kinds:  # git sorts a directory as if its name ended with '/'
        keys = names.copy()
        for index in compress(count(), map(TREE_MODE.__eq__, modes)):
            keys[index] += b"/"
    if keys != sorted(keys):
        return "entries not sorted"
    return None


def reread_problem(previous: ParsedTree, reread: Reread) -> str | None:
    """What git refuses in a reread tree, given its previous version passed the same check:
    the new entries, their order with their neighbours, and a new name found elsewhere in
    the tree (a file and a directory of one name need not be neighbours: ``a``, ``a.txt``,
    ``a/`` sort in that order)."""
    before = previous.entries[reread.first - 1:reread.first] if reread.first else []
    after = previous.entries[reread.end:reread.end + 1]
    problem = entries_problem(before + reread.middle + after)
    if problem is None and _names_elsewhere(reread.tree.entries, reread.first, len(reread.middle)):
        return "duplicate entries"
    return problem


def _names_elsewhere(entries: list[Entry], first: int, count_new: int) -> bool:
    """Whether a name of entries[first:first + count_new] is also taken outside them: as
    a file where it is a directory or the other way round (entries are in git's order)."""
    for name, mode, _ in entries[first:first + count_new]:
        other = name if mode == TREE_MODE else name + b"/"
        at = bisect_left(entries, other, key=_sort_key)
        if at < len(entries) and _sort_key(entries[at]) == other:
            return True
    return False


def _sort_key(entry: Entry) -> bytes:
    """Where git sorts an entry: a directory as if its name ended with '/'."""
    return entry[0] + b"/" if entry[1] == TREE_MODE else entry[0]


def special_blobs(entries: list[Entry]) -> list[tuple[bytes, bytes]]:
    """The (dotfile, blob id) of the entries git reads as .gitmodules or .gitattributes,
    whose contents fsck checks once the blob is at hand."""
    names = b"\0".join(map(itemgetter(0), entries))
    found = []
    for candidate in _SPECIAL_CANDIDATE.findall(names):
        special = special_name(candidate)
        if special in (b".gitmodules", b".gitattributes"):
            found.extend((special, sha) for name, mode, sha in entries if name == candidate and mode != TREE_MODE)
    return found
