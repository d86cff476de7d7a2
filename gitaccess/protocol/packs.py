"""Streaming pack writer: objects go out one by one, deltified against their hinted base.

Searching for delta bases in Python is far too slow (see the prior-art
notes on dulwich's server), so each entry carries its base: the previous
version of the same path. The writer deltifies against it with dulwich's
compiled ``create_delta`` when that base is already in this pack (an
ofs-delta, or a ref-delta for clients without ofs-delta) or, in a thin pack,
when the client has it; the delta is used only when it is smaller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container
from dataclasses import dataclass

from dulwich.object_format import SHA1
from dulwich.objects import hex_to_sha
from dulwich.pack import OFS_DELTA, REF_DELTA, create_delta, pack_header_chunks, pack_object_header

from gitaccess.objects.packing import MAX_DELTA_DEPTH, RecentObjects, deflate
from gitaccess.protocol.objects import MissingObject
from gitaccess.objects.source import ObjectSource
from gitaccess.protocol.repository import ObjectEntry

@dataclass(frozen=True)
class DeltaPolicy:
    """What the client accepts, and what the pack may delta against."""

    ofs_delta: bool
    #: Bases outside the pack may be used (the client asked for thin-pack and has them).
    thin: bool


@dataclass
class PackStats:
    objects: int = 0
    deltas: int = 0
    #: Deltas against objects the client has (thin pack).
    thin_deltas: int = 0


class PackWriter:
    """Writes a version-2 pack of a known number of objects to ``write``, as it goes."""

    def __init__(self, write: Callable[[bytes], None], store: ObjectSource, count: int,
                 in_pack: Container[bytes], policy: DeltaPolicy, compression: int = -1) -> None:
        self._write = write
        self._store = store
        self._expected = count
        self._in_pack = in_pack
        self._policy = policy
        self._compression = compression
        self._sha1 = hashlib.sha1()
        self._offset = 0
        self._offsets: dict[bytes, tuple[int, int]] = {}  # sha -> (offset, delta depth)
        self._cache = RecentObjects()
        self.stats = PackStats()
        for chunk in pack_header_chunks(count):
            self._emit(chunk)

    def add(self, entry: ObjectEntry) -> None:
        """Write one object, as a delta against its base when that pays.

        Raises MissingObject when the store does not have it.
        """
        if self.stats.objects >= self._expected:
            raise ValueError(f"pack announced {self._expected} objects; cannot add more")
        try:
            type_num, data = self._store.get_raw(entry.sha)
        except KeyError:
            raise MissingObject(f"object {entry.sha.decode()} is missing from the repository") from None
        offset = self._offset
        depth = 0
        delta = self._delta(entry, type_num, data)
        if delta is None:
            header = pack_object_header(type_num, None, len(data), SHA1)
            body = data
        else:
            base_ref, body, depth = delta
            kind = OFS_DELTA if isinstance(base_ref, int) else REF_DELTA
            header = pack_object_header(kind, base_ref, len(body), SHA1)
        self._emit(bytes(header))
        self._emit(deflate(body, self._compression))
        self._offsets[entry.sha] = (offset, depth)
        self._cache.put(entry.sha, (type_num, data))
        self.stats.objects += 1

    def finish(self) -> None:
        """Write the trailer; the pack must hold exactly the announced number of objects."""
        if self.stats.objects != self._expected:
            raise ValueError(f"pack announced {self._expected} objects but holds {self.stats.objects}")
        self._write(self._sha1.digest())

    def _delta(self, entry: ObjectEntry, type_num: int, data: bytes) -> tuple[int | bytes, bytes, int] | None:
        """(ofs distance or base SHA-1, delta, chain depth) when a delta is usable and smaller."""
        base = entry.base
        if base is None or base == entry.sha:
            return None
        written = self._offsets.get(base)
        if written is not None:
            if written[1] >= MAX_DELTA_DEPTH:
                return None
            base_ref: int | bytes = self._offset - written[0] if self._policy.ofs_delta else hex_to_sha(base)
            depth = written[1] + 1
        elif self._policy.thin and base not in self._in_pack:
            base_ref, depth = hex_to_sha(base), 1
        else:
            return None
        base_item = self._cache.get(base) or self._read(base)
        if base_item is None or base_item[0] != type_num:
            return None  # a delta's type is its base's type: never cross types
        delta = b"".join(create_delta(base_item[1], data))
        if len(delta) >= len(data):
            return None
        self.stats.deltas += 1
        self.stats.thin_deltas += written is None
        return base_ref, delta, depth

    def _read(self, sha: bytes) -> tuple[int, bytes] | None:
        try:
            return self._store.get_raw(sha)
        except KeyError:
            return None

    def _emit(self, data: bytes) -> None:
        self._sha1.update(data)
        self._offset += len(data)
        self._write(data)
