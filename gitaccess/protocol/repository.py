"""What upload-pack needs from the history it serves.

The wiki's history is one first-parent line of commits, appended to in
order (the journal). Upload-pack works in positions along that line: a
client's ``have`` becomes a position, and what to send is what the commits
after the highest common position introduced. That keeps a fetch's cost
proportional to what is new, whatever the length of the history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

from gitaccess.objects.source import ObjectSource


class ObjectEntry(NamedTuple):
    """An object to send, with the object it most likely deltas well against.

    ``base`` is the previous version of the same path (a page's previous
    revision, a tree's previous version) or None. It must be reachable from
    the introducing commit's parents or be introduced by the same commit:
    upload-pack then knows, without searching, that the client either has it
    or receives it in the same pack.
    """

    sha: bytes
    type_num: int
    base: bytes | None = None


class ServedRepository(Protocol):
    """The history as upload-pack sees it. All SHA-1s are 40 hex digits as bytes."""

    def refs(self) -> dict[bytes, bytes]:
        """Ref name -> object, e.g. ``{b"refs/heads/master": b"<40 hex>"}``; empty for an empty wiki."""

    def head(self) -> bytes:
        """The ref HEAD points at, e.g. ``b"refs/heads/master"`` (it may not exist yet)."""

    def object_store(self) -> ObjectSource:
        """Every object of the served history."""

    def position(self, commit: bytes) -> int | None:
        """The commit's index on the first-parent line (0 = root), None when it is not on it."""

    def commits_since(self, position: int) -> Sequence[bytes]:
        """First-parent commits after ``position`` (-1: all of them), oldest first.

        Upload-pack indexes and slices the result, so a lazy sequence is best.
        """

    def introduced(self, commit: bytes) -> Sequence[ObjectEntry]:
        """Every object first introduced by this first-parent commit.

        The commit itself, its new trees and blobs, and for a merge the side
        branch's commits and their new objects. "First" means not reachable
        from any earlier commit of the line, so the objects introduced after
        position p are exactly what a client holding commit p lacks.
        """

    def whole_pack(self) -> tuple[int, Iterator[bytes]] | None:
        """Every object of the history as the entries of one pack, when kept ready.

        (object count, the entries' bytes: a pack without its header and
        checksum, deltas as ofs-deltas or against objects earlier in it).
        A clone of the whole line streams it; None makes upload-pack build
        the pack object by object.
        """
