"""Git deltas between an object and its previous version, made cheaply where the change allows.

Most new versions in a wiki's history differ from the previous one in one
place: an edit to one part of a page, a directory's tree with one entry
added, changed or removed. Such a delta is three instructions (copy the
common start, insert what is new, copy the common end), found with a few
comparisons of long slices. Versions changed in several places are matched
record by record: a directory entry by entry, a text sentence by sentence
(pieces ending at a full stop or a line's end). Unlike contents get no
delta, found out from a few samples.

dulwich's ``create_delta`` indexes and searches the whole base instead,
which costs far more than these comparisons, most of all on large
directories and unlike contents. On the edits of the benchmark wikis' pages
it also made larger deltas than sentence records do, more slowly, and wiki
text, a paragraph a line, is where sentences help most (the figures are in
docs/history.md, "Measurements behind the design").
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate, chain, product
from typing import Callable

from gitaccess.objects.ends import common_ends

#: A region replaced by another is given the three instructions only if one of the two is at
#: most this long (a tree entry's id, a word, text inserted or removed): the bytes inserted
#: are then new, where a longer rewrite may repeat parts of the base a search would copy.
QUICK_MIDDLE = 64
#: Samples of an object, and their length in bytes, looked for in its base before a delta is
#: made (see alike).
ALIKE_SAMPLES = 16
ALIKE_WIDTH = 16
#: Bytes one copy instruction copies at most (git's own limit, which every reader accepts).
MAX_COPY = 0x10000
#: Bytes one insert instruction carries at most.
MAX_INSERT = 0x7F
#: The shortest run of records worth a copy instruction rather than inserting its bytes.
MIN_COPY = 16
#: A tree entry: mode and name up to the NUL, then the 20-byte object id.
_TREE_ENTRY = re.compile(rb"([^\0]*\0)(.{20})", re.DOTALL)
#: A piece of text: up to a full stop or a line's end, with the blanks after it.
_TEXT_RECORD = re.compile(rb"[^.\n]*[.\n]?[ \t]*")


def make_delta(base: bytes, data: bytes, *, tree: bool = False) -> bytes | None:
    """A delta that makes ``data`` from ``base``, or None when storing ``data`` whole is smaller.

    ``tree``: the two are versions of a directory's tree, which are always
    alike (blobs are sampled first, see :func:`alike`) and are made of entries.
    """
    delta = _quick_delta(base, data)
    if delta is None:
        if not tree and not alike(base, data):
            return None
        delta = _record_delta(base, data, tree_records if tree else text_records)
    return delta if len(delta) < len(data) else None


def alike(base: bytes, data: bytes) -> bool:
    """Whether ``data`` likely shares most of its bytes with ``base``: at least half of a few
    short samples taken across it occur in ``base``.

    A delta between unlike contents (a page rewritten, a re-uploaded image)
    is no smaller than the object; sampling finds that out without a pass
    over both, where ``create_delta`` is at its slowest on exactly such pairs.
    """
    samples = min(ALIKE_SAMPLES, len(data) // ALIKE_WIDTH)
    if samples < ALIKE_SAMPLES // 2:
        return True  # small enough to try
    step = (len(data) - ALIKE_WIDTH) // samples
    found = sum(1 for i in range(samples) if data[i * step:i * step + ALIKE_WIDTH] in base)
    return found * 2 >= samples


def _quick_delta(base: bytes, data: bytes) -> bytes | None:
    """The three-instruction delta, if ``data`` is ``base`` with one region replaced, inserted
    or removed (see QUICK_MIDDLE); else None."""
    head, tail = common_ends(base, data)
    middle = len(data) - head - tail
    if middle > QUICK_MIDDLE and len(base) - head - tail > QUICK_MIDDLE:
        return None
    out = bytearray(_size(len(base)) + _size(len(data)))
    _copy(out, 0, head)
    _insert(out, data[head:head + middle])
    _copy(out, len(base) - tail, tail)
    return bytes(out)


def _size(n: int) -> bytes:
    """A delta header's size: seven bits a byte, least significant first."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _copy(out: bytearray, offset: int, length: int) -> None:
    """Copy instructions for ``length`` bytes of the base from ``offset``: a command byte
    whose low seven bits say which of the offset's four and the size's three bytes follow
    (the zero ones are left out)."""
    while length > 0:
        size = min(length, MAX_COPY)
        arguments = (offset | size << 32).to_bytes(7, "little")
        out.append(_COPY_COMMANDS[arguments.translate(_NONZERO)])
        out += arguments.replace(b"\0", b"")
        offset += size
        length -= size


#: A copy's command byte for each pattern of its seven argument bytes (1: not zero), and the
#: table that turns its argument bytes into that pattern.
_COPY_COMMANDS = {bytes(bits): 0x80 | sum(bit << i for i, bit in enumerate(bits)) for bits in product((0, 1), repeat=7)}
_NONZERO = bytes([0] + [1] * 255)


def _record_delta(base: bytes, data: bytes, records: Callable[[bytes], list[bytes]]) -> bytes:
    """A delta made record by record (``records`` splits bytes into pieces that join back):
    runs of records that follow each other in ``base`` too become one copy, the rest is inserted.

    Python-paced, one step a record, but linear: a large directory changed
    in several places takes a fraction of what ``create_delta``'s search does.
    """
    base_records = records(base)
    known = dict(zip(reversed(base_records), reversed(list(accumulate(map(len, base_records), initial=0))[:-1])))
    out = bytearray(_size(len(base)) + _size(len(data)))
    pending = bytearray()  # bytes to insert before the next copy
    run_start = run_end = 0  # the base's bytes the current run of copies covers

    def flush_run() -> None:
        if run_end - run_start >= MIN_COPY:
            _insert(out, pending)
            pending.clear()
            _copy(out, run_start, run_end - run_start)
        else:
            pending.extend(base[run_start:run_end])

    for record in records(data):
        if run_end > run_start and base.startswith(record, run_end):
            run_end += len(record)
            continue
        flush_run()
        found = known.get(record)
        if found is None:
            run_start = run_end = 0
            pending += record
        else:
            run_start, run_end = found, found + len(record)
    flush_run()
    _insert(out, pending)
    return bytes(out)


def tree_records(data: bytes) -> list[bytes]:
    """A tree's bytes as its entries' names (mode, name, NUL) and ids, in turn (and whatever
    follows the last whole entry, which a valid tree does not have)."""
    records = list(chain.from_iterable(_TREE_ENTRY.findall(data)))
    rest = len(data) - sum(map(len, records))
    return records + [data[len(data) - rest:]] if rest else records


def text_records(data: bytes) -> list[bytes]:
    """Bytes as sentences and lines (see _TEXT_RECORD); any bytes, text or not, join back."""
    records = _TEXT_RECORD.findall(data)
    records.pop()  # the empty match at the end
    return records


def _insert(out: bytearray, data: bytes | bytearray) -> None:
    """Insert instructions carrying ``data``."""
    for start in range(0, len(data), MAX_INSERT):
        chunk = data[start:start + MAX_INSERT]
        out.append(len(chunk))
        out += chunk


def compose(deltas: list[bytes]) -> bytes:
    """One delta doing what a chain of deltas does in turn: from the first one's base to the
    last one's result.

    A large directory changed an entry at a time keeps the deltas between
    its consecutive versions; when its chain of deltas is full and it needs
    one against a version a few dozen back (see ``gitaccess.cache.objectcache``), those
    compose into it in a walk over their few instructions, without reading
    that version back or matching its thousands of entries. Each copy of a
    later delta is mapped through the pieces of the earlier ones (to copies
    of the first base, or to the bytes some delta inserted), the pieces it
    covers whole taken as one slice.
    """
    pieces = _pieces(deltas[0])
    sizes = [_length(piece) for piece in pieces]
    for delta in deltas[1:]:
        starts = list(accumulate(sizes, initial=0))  # where each piece begins in the result
        mapped: list[tuple[int, int] | bytes] = []
        mapped_sizes: list[int] = []
        for piece in _pieces(delta):
            if not isinstance(piece, tuple):
                mapped.append(piece)
                mapped_sizes.append(len(piece))
                continue
            at, size = piece
            first = bisect_right(starts, at) - 1  # the pieces holding the bytes copied
            last = bisect_left(starts, at + size) - 1
            if first == last:
                mapped.append(_cut(pieces[first], at - starts[first], size))
                mapped_sizes.append(size)
                continue
            head, tail = starts[first + 1] - at, at + size - starts[last]
            mapped.append(_cut(pieces[first], at - starts[first], head))
            mapped += pieces[first + 1:last]  # whole pieces: one slice, not a step each
            mapped.append(_cut(pieces[last], 0, tail))
            mapped_sizes.append(head)
            mapped_sizes += sizes[first + 1:last]
            mapped_sizes.append(tail)
        pieces, sizes = mapped, mapped_sizes
    out = bytearray(_size(_header(deltas[0])[0]) + _size(_header(deltas[-1])[1]))
    merged: list[tuple[int, int] | bytes] = []
    for piece in pieces:
        _join(merged, piece)
    for piece in merged:
        if isinstance(piece, tuple):
            _copy(out, *piece)
        else:
            _insert(out, piece)
    return bytes(out)


def _length(piece: tuple[int, int] | bytes) -> int:
    return piece[1] if isinstance(piece, tuple) else len(piece)


def _cut(piece: tuple[int, int] | bytes, start: int, size: int) -> tuple[int, int] | bytes:
    """``size`` bytes of a piece of a delta's result, from ``start`` within it."""
    return (piece[0] + start, size) if isinstance(piece, tuple) else piece[start:start + size]


def _pieces(delta: bytes) -> list[tuple[int, int] | bytes]:
    """A delta's instructions, in order: (offset, size) of a copy from the base, or the bytes
    inserted. Copies that continue each other are one piece, as are inserts in a row (a
    delta splits them into instructions of at most MAX_COPY and MAX_INSERT bytes)."""
    pieces: list[tuple[int, int] | bytes] = []
    at = _header(delta)[2]
    end = len(delta)
    while at < end:
        command = delta[at]
        at += 1
        if command & 0x80:
            offset = size = 0
            for i in range(4):
                if command & (1 << i):
                    offset |= delta[at] << (8 * i)
                    at += 1
            for i in range(3):
                if command & (1 << (4 + i)):
                    size |= delta[at] << (8 * i)
                    at += 1
            _join(pieces, (offset, size or 0x10000))
        elif command:
            _join(pieces, delta[at:at + command])
            at += command
        else:
            raise ValueError("a delta instruction of 0 is invalid")
    return pieces


def _join(pieces: list[tuple[int, int] | bytes], piece: tuple[int, int] | bytes) -> None:
    """Add a piece, joined to the last one if it continues it."""
    last = pieces[-1] if pieces else None
    if isinstance(piece, tuple):
        if isinstance(last, tuple) and last[0] + last[1] == piece[0]:
            pieces[-1] = (last[0], last[1] + piece[1])
            return
    elif isinstance(last, bytes):
        pieces[-1] = last + piece
        return
    pieces.append(piece)


def _header(delta: bytes) -> tuple[int, int, int]:
    """A delta's base size, result size, and where its instructions begin."""
    sizes, at = [], 0
    for _ in range(2):
        value = shift = 0
        while True:
            byte = delta[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        sizes.append(value)
    return sizes[0], sizes[1], at
