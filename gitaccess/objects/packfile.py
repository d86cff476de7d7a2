"""Pack files on disk: their objects read with plain reads, their indexes written.

dulwich's ``Pack`` maps the whole pack into memory. Each page it touches
then counts towards the process's resident memory for as long as the pack
stays open, and a serving worker keeps its packs open: reading the newest
version of every page (a ``--depth 1`` clone, a push's bases) touches
most of a pack, so a worker of a large wiki held most of its packs as
resident memory (bench/README.md has the figures). Read with ``os.pread`` instead, the bytes live only while an
object is being decoded; the kernel's page cache still spares the disk.

An open pack also stays readable after another process joins it away and
deletes the file (the descriptor keeps the data), so a reader never sees a
pack vanish under it.

dulwich's ``write_pack_index`` hashes and writes each entry's fields one
call at a time, which is slow for the many objects of a large wiki's first
build. :func:`write_index` writes the same bytes a table at a time.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import Counter
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO, Callable

from dulwich.object_format import SHA1
from dulwich.pack import OFS_DELTA, REF_DELTA, apply_delta, load_pack_index, unpack_object

#: Bytes read at an object's start: most objects (deltas above all) are smaller compressed.
FIRST_READ = 4096
#: Offsets from here on go to a version-2 index's table of large offsets.
LARGE_OFFSET = 1 << 31


class PackEntries:
    """The objects of an open pack file, found by offset; bases outside it come from ``outside``.

    Also reads a pack still being written (the cache's appends), which has
    no index yet: its writer knows where each object starts.
    """

    def __init__(self, fd: int, outside: Callable[[bytes], tuple[int, bytes]]) -> None:
        self._fd = fd
        self._outside = outside

    def object_at(self, offset: int) -> tuple[int, bytes]:
        """(type, contents) of the object at ``offset``, its delta chain followed to a whole object."""
        deltas: list[bytes] = []
        while True:
            type_num, base, data = self._read(offset)
            if type_num == OFS_DELTA:
                deltas.append(data)
                offset -= base
            elif type_num == REF_DELTA:
                deltas.append(data)
                type_num, data = self._outside(base)
                break
            else:
                break
        for delta in reversed(deltas):
            data = apply_delta(data, delta)
        return type_num, data if isinstance(data, bytes) else b"".join(data)

    def _read(self, offset: int) -> tuple[int, int | bytes | None, bytes]:
        """(pack type, delta base, inflated data) of the entry at ``offset``."""
        reader = _Reader(self._fd, offset)
        unpacked, _unused = unpack_object(reader.read_all, SHA1.hash_func, reader.read_some)
        return unpacked.pack_type_num, unpacked.delta_base, b"".join(unpacked.decomp_chunks)


class PackFile(PackEntries):
    """One finished pack and its index."""

    def __init__(self, path: Path, outside: Callable[[bytes], tuple[int, bytes]]) -> None:
        self.index = load_pack_index(f"{path}.idx", SHA1)
        try:
            fd = os.open(f"{path}.pack", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self.index.close()
            raise
        super().__init__(fd, outside)

    def __contains__(self, sha: bytes) -> bool:
        """Whether the pack holds the object (20-byte sha)."""
        try:
            self.index.object_offset(sha)
        except KeyError:
            return False
        return True

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """(type, contents) of the object with this 20-byte sha; KeyError when not here."""
        return self.object_at(self.index.object_offset(sha))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.index.close()


class _Reader:
    """Sequential reads of a pack entry through ``os.pread``: a first block, then growing ones."""

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._offset = offset
        self._buffer = b""
        self._next = FIRST_READ

    def _fill(self, wanted: int) -> None:
        size = max(wanted - len(self._buffer), self._next)
        self._next *= 4
        data = os.pread(self._fd, size, self._offset)
        if not data:
            raise EOFError("the pack ends inside an object")
        self._offset += len(data)
        self._buffer += data

    def read_all(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_some(self, size: int) -> bytes:
        if not self._buffer:
            self._fill(1)
        data, self._buffer = self._buffer, b""
        return data


def write_index(out: BinaryIO, entries: list[tuple[bytes, int, int]], pack_checksum: bytes) -> None:
    """A version-2 pack index of ``entries`` (20-byte id, offset, CRC-32; sorted by id), as git
    and dulwich write it."""
    counts = Counter(sha[0] for sha, _offset, _crc in entries)
    offsets = [offset for _sha, offset, _crc in entries]
    large = [offset for offset in offsets if offset >= LARGE_OFFSET]
    if large:
        numbers = iter(range(len(large)))
        offsets = [offset if offset < LARGE_OFFSET else LARGE_OFFSET + next(numbers) for offset in offsets]
    body = b"".join([
        b"\377tOc", struct.pack(">I", 2),
        struct.pack(">256I", *accumulate(counts[byte] for byte in range(256))),
        b"".join(sha for sha, _offset, _crc in entries),
        struct.pack(f">{len(entries)}I", *(crc for _sha, _offset, crc in entries)),
        struct.pack(f">{len(offsets)}I", *offsets),
        struct.pack(f">{len(large)}Q", *large),
        pack_checksum,
    ])
    out.write(body)
    out.write(hashlib.sha1(body).digest())
