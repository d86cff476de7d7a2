"""A pushed pack, copied from the request to a file and checked entry by entry as it arrives.

The limits on pack size, object count, object size, tree size and the
bytes the objects inflate to are enforced here, while reading: the object
count from the pack header, each object's size from its entry header (and a
delta's result size from the delta's own header, before any delta is
applied), the pack size from the bytes received. A push over a limit is
refused after the first bytes that exceed it, not after the whole body has
been received or stored. Each entry is inflated only to find where it ends
and to check its declared size; nothing is kept in memory but the entry
being read.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from dulwich.pack import DELTA_TYPES, OFS_DELTA, REF_DELTA

from gitaccess.errors import GitAccessError

CHUNK = 65536
_HEADER = struct.Struct(">4sLL")
_TRAILER = 20
_TREE = 2
_OBJECT_TYPES = {1, _TREE, 3, 4, OFS_DELTA, REF_DELTA}
#: A size varint longer than this cannot describe an object anyone could store.
_MAX_VARINT_BYTES = 10


class PackRefused(GitAccessError):
    """The pack cannot be accepted; the message is what the client is told (``unpack <message>``)."""


class PackTooLarge(PackRefused):
    """The pack exceeds one of the configured limits."""


class PackCorrupt(PackRefused):
    """The data is not a well-formed pack."""


@dataclass(frozen=True)
class PackLimits:
    """The most a push may send; see the ``max_push_*`` configuration keys."""

    max_bytes: int
    max_objects: int
    max_object_bytes: int
    #: What all entries may inflate to together, deltas' data and the objects they produce both counted.
    max_inflated_bytes: int
    max_tree_bytes: int


class _Source:
    """The pack's bytes as they arrive: counted against the limit, hashed and copied as consumed."""

    def __init__(self, read: Callable[[int], bytes], sink: BinaryIO, limit: int) -> None:
        self._read = read
        self._sink = sink
        self._limit = limit
        self._sha = hashlib.sha1()
        self._buffer = b""
        self._pos = 0
        self._received = 0
        #: Offset in the pack of the next byte to consume.
        self.offset = 0

    def peek(self, most: int) -> memoryview:
        """Up to ``most`` unconsumed bytes, at least one; :class:`PackCorrupt` at the end of the body."""
        if self._pos == len(self._buffer):
            self._fill()
        return memoryview(self._buffer)[self._pos : self._pos + most]

    def consume(self, count: int, hashed: bool = True) -> bytes:
        data = self._buffer[self._pos : self._pos + count]
        if hashed:
            self._sha.update(data)
        self._sink.write(data)
        self._pos += count
        self.offset += count
        return data

    def take(self, count: int, hashed: bool = True) -> bytes:
        """Exactly ``count`` bytes."""
        while len(self._buffer) - self._pos < count:
            self._fill()
        return self.consume(count, hashed)

    def byte(self) -> int:
        return self.take(1)[0]

    def digest(self) -> bytes:
        return self._sha.digest()

    def at_end(self) -> bool:
        return self._pos == len(self._buffer) and not self._read(1)

    def _fill(self) -> None:
        # Never ask for more than one byte past the limit: that byte is enough to refuse.
        data = self._read(min(CHUNK, self._limit - self._received + 1))
        if not data:
            raise PackCorrupt(f"the pack is truncated: it ends after {self.offset + len(self._buffer) - self._pos} bytes")
        self._received += len(data)
        if self._received > self._limit:
            raise PackTooLarge(f"the pack exceeds the limit of {self._limit} bytes for one push: "
                               f"push fewer or smaller changes at a time")
        self._buffer = self._buffer[self._pos :] + data
        self._pos = 0


def copy_pack(read: Callable[[int], bytes], sink: BinaryIO, limits: PackLimits) -> None:
    """Copy the pack that ``read`` yields to ``sink``, checking it as it goes.

    Checked: the signature and version, every entry's header and zlib stream
    (it must inflate to exactly its declared size), that ofs-deltas point at
    an earlier entry, the trailing SHA-1 and that nothing follows it. Trees
    are checked against the tree limit where their type shows (a whole
    tree, or an ofs-delta of one); the quarantine checks the others.
    Raises PackTooLarge when a limit is exceeded and PackCorrupt when the
    bytes are not a well-formed pack (both PackRefused: the client is told),
    as soon as the bytes read show it; what ``read`` raises passes through.
    """
    source = _Source(read, sink, limits.max_bytes)
    signature, version, count = _HEADER.unpack(source.take(_HEADER.size))
    if signature != b"PACK" or version not in (2, 3):
        raise PackCorrupt("the data after the commands is not a version 2 or 3 pack")
    if count > limits.max_objects:
        raise PackTooLarge(f"the pack holds {count} objects, more than the limit of {limits.max_objects} "
                           f"for one push: push fewer changes at a time")
    kinds: dict[int, int | None] = {}  # entry offset -> its object's type (None: not known from the pack)
    inflated = 0
    for _ in range(count):
        offset = source.offset
        kinds[offset], cost = _copy_entry(source, kinds, limits)
        inflated += cost
        if inflated > limits.max_inflated_bytes:
            raise PackTooLarge(f"the pack's objects inflate to more than the limit of {limits.max_inflated_bytes} "
                               f"bytes for one push: push fewer or smaller changes at a time")
    expected = source.digest()
    if source.take(_TRAILER, hashed=False) != expected:
        raise PackCorrupt("the pack's checksum does not match its contents: it was damaged on the way")
    if not source.at_end():
        raise PackCorrupt("unexpected data after the end of the pack")


def _copy_entry(source: _Source, kinds: dict[int, int | None], limits: PackLimits) -> tuple[int | None, int]:
    """Copy one entry; the type of the object it holds (None for a ref-delta's) and the bytes it inflates to."""
    offset = source.offset
    first = source.byte()
    type_num = (first >> 4) & 7
    size = _varint(source, first & 0x0F, 4, first)
    if type_num not in _OBJECT_TYPES:
        raise PackCorrupt(f"the pack entry at offset {offset} has the invalid type {type_num}")
    _check_size(size, limits.max_object_bytes, offset)
    kind: int | None = type_num
    if type_num == OFS_DELTA:
        base = offset - _ofs_distance(source)
        if base not in kinds:
            raise PackCorrupt(f"the delta at offset {offset} refers to offset {base}, where no earlier object starts")
        kind = kinds[base]
    elif type_num == REF_DELTA:
        source.take(20)
        kind = None
    if type_num not in DELTA_TYPES:
        _check_tree_size(kind, size, limits.max_tree_bytes, offset)
        _inflate(source, size, offset)
        return kind, size
    result = _delta_result_size(_inflate(source, size, offset), offset)
    _check_size(result, limits.max_object_bytes, offset)
    _check_tree_size(kind, result, limits.max_tree_bytes, offset)
    return kind, size + result


def _varint(source: _Source, value: int, shift: int, byte: int) -> int:
    """The rest of a little-endian base-128 size whose first byte was ``byte``."""
    for _ in range(_MAX_VARINT_BYTES):
        if not byte & 0x80:
            return value
        byte = source.byte()
        value |= (byte & 0x7F) << shift
        shift += 7
    raise PackCorrupt(f"an object size in the pack is malformed (near offset {source.offset})")


def _ofs_distance(source: _Source) -> int:
    """git's offset encoding for ofs-delta bases (big-endian base-128 with an added bias)."""
    byte = source.byte()
    distance = byte & 0x7F
    for _ in range(_MAX_VARINT_BYTES):
        if not byte & 0x80:
            return distance
        byte = source.byte()
        distance = ((distance + 1) << 7) | (byte & 0x7F)
    raise PackCorrupt(f"a delta base offset in the pack is malformed (near offset {source.offset})")


def _check_size(size: int, limit: int, offset: int) -> None:
    if size > limit:
        raise PackTooLarge(f"the object at pack offset {offset} is {size} bytes, more than the limit "
                           f"of {limit} bytes for one object")


def check_tree_size(size: int, limit: int, where: str) -> None:
    """Raises PackTooLarge for a tree (a directory's listing) larger than ``limit``: parsing
    one costs many times its size."""
    if size > limit:
        raise PackTooLarge(f"{where} is a tree of {size} bytes, more than the limit of {limit} bytes for one "
                           f"directory: put fewer files in one directory")


def _check_tree_size(kind: int | None, size: int, limit: int, offset: int) -> None:
    if kind == _TREE:
        check_tree_size(size, limit, f"the object at pack offset {offset}")


def _inflate(source: _Source, size: int, offset: int) -> bytes:
    """Consume one zlib stream that must inflate to ``size`` bytes; its first bytes (a delta's header)."""
    inflater = zlib.decompressobj()
    produced = 0
    head = b""
    piece = 512  # fed in growing pieces: what follows the stream is copied, so keep that small for small objects
    while not inflater.eof:
        data = source.peek(piece)
        try:
            out = inflater.decompress(data, size - produced + 1)
        except zlib.error as exc:
            raise PackCorrupt(f"the object at pack offset {offset} is not valid zlib data: {exc}") from None
        source.consume(len(data) - len(inflater.unconsumed_tail) - len(inflater.unused_data))
        produced += len(out)
        if produced > size:
            raise PackCorrupt(f"the object at pack offset {offset} inflates beyond its declared {size} bytes")
        if len(head) < 2 * _MAX_VARINT_BYTES:
            head += out[: 2 * _MAX_VARINT_BYTES]
        piece = min(piece * 2, CHUNK)
    if produced != size:
        raise PackCorrupt(f"the object at pack offset {offset} inflates to {produced} bytes, not its declared {size}")
    return head


def _delta_result_size(head: bytes, offset: int) -> int:
    """The size of the object a delta produces: the second varint of the delta's header."""
    sizes = []
    value = shift = 0
    for byte in head:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            sizes.append(value)
            if len(sizes) == 2:
                return value
            value = shift = 0
    raise PackCorrupt(f"the delta at pack offset {offset} has a malformed header")
