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
import zlib
from collections import OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass

from dulwich.object_format import SHA1
from dulwich.objects import hex_to_sha
from dulwich.pack import OFS_DELTA, REF_DELTA, create_delta, pack_header_chunks, pack_object_header

from gitaccess.protocol.objects import MissingObject
from gitaccess.protocol.repository import ObjectEntry, ObjectSource

#: Longest delta chain written; deeper chains make every later read of the object slow.
MAX_DELTA_DEPTH = 50
#: Bytes of recently written objects kept to serve as delta bases without reading them again.
BASE_CACHE_BYTES = 32 * 1024 * 1024


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


class RecentObjects:
    """Contents of recently written objects, bounded by total size."""

    def __init__(self, limit: int = BASE_CACHE_BYTES) -> None:
        self._items: OrderedDict[bytes, tuple[int, bytes]] = OrderedDict()
        self._limit = limit
        self._size = 0

    def get(self, sha: bytes) -> tuple[int, bytes] | None:
        item = self._items.get(sha)
        if item is not None:
            self._items.move_to_end(sha)
        return item

    def pop(self, sha: bytes) -> tuple[int, bytes] | None:
        """Take an object out (a version superseded by the next): room for the ones still current."""
        item = self._items.pop(sha, None)
        if item is not None:
            self._size -= len(item[1])
        return item

    def put(self, sha: bytes, item: tuple[int, bytes]) -> None:
        if len(item[1]) > self._limit // 4:
            return
        self.pop(sha)
        self._items[sha] = item
        self._size += len(item[1])
        while self._size > self._limit:
            self._size -= len(self._items.popitem(last=False)[1][1])


#: Bytes deflate keeps ahead of where it matches (zlib's MIN_LOOKAHEAD): a window this much
#: larger than an object finds every match the largest window would.
_LOOKAHEAD = 262


def deflate(body: bytes, level: int = -1) -> bytes:
    """An object's zlib stream, with zlib's tables no larger than the object needs.

    Setting up zlib's defaults (a 32 KB window, a 32,768-slot hash table
    and room for 16,384 symbols a block) took 50 microseconds, ten times
    the compressing of a small object, and most of a wiki's objects are
    deltas and commits of a few dozen or hundred bytes: the cold build of a
    large wiki deflates hundreds of thousands. With a window that holds the
    whole object and tables as large as its bytes, the deflated bytes are
    those of the defaults (but for a rare hash collision; only the stream's
    header says which window).
    """
    size = len(body)
    window = min(15, max(9, (size + _LOOKAHEAD).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, window, min(8, max(1, size.bit_length() - 6)))
    return compressor.compress(body) + compressor.flush()


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
        """Write one object, as a delta against its base when that pays."""
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
