"""What any writer of pack entries needs, whoever writes the pack: the
deflate of an object, the recent objects kept as delta bases, the longest
delta chain. The served packs (gitaccess.protocol.packs) and the object
cache (gitaccess.cache) both write entries; neither depends on the other.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict

#: Longest delta chain written; deeper chains make every later read of the object slow.
MAX_DELTA_DEPTH = 50
#: Bytes of recently written objects kept to serve as delta bases without reading them again.
BASE_CACHE_BYTES = 32 * 1024 * 1024


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

    Setting up zlib's default window, hash table and block buffer costs
    more than compressing a small object, and most of a wiki's objects are
    small deltas and commits (docs/history.md says how much). With a window
    that holds the whole object and tables as large as its bytes, the
    deflated bytes are those of the defaults (but for a rare hash collision;
    only the stream's header says which window).
    """
    size = len(body)
    window = min(15, max(9, (size + _LOOKAHEAD).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, window, min(8, max(1, size.bit_length() - 6)))
    return compressor.compress(body) + compressor.flush()
