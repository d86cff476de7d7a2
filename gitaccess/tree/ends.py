"""Where two versions of the same bytes differ: how much they begin and end with in common.

A new version of a page or directory usually differs from the previous one
in one place. Slices are compared a block at a time (memcmp, in C), then
narrowed by halving, so finding that place costs microseconds, not a walk
over every byte in Python. Pure: no I/O.
"""

from __future__ import annotations

#: Bytes compared at once while looking for where two versions differ.
_BLOCK = 4096


def common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes ``a`` and ``b`` begin with in common."""
    limit = min(len(a), len(b))
    at = 0
    while at + _BLOCK <= limit and a[at:at + _BLOCK] == b[at:at + _BLOCK]:
        at += _BLOCK
    low, high = at, min(at + _BLOCK, limit)  # a[:low] == b[:low]; the answer is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """How many bytes (at most ``limit``) ``a`` and ``b`` end with in common."""
    length = 0
    while length + _BLOCK <= limit and a[len(a) - length - _BLOCK:len(a) - length] == \
            b[len(b) - length - _BLOCK:len(b) - length]:
        length += _BLOCK
    low, high = length, min(length + _BLOCK, limit)
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:len(a) - low] == b[len(b) - middle:len(b) - low]:
            low = middle
        else:
            high = middle - 1
    return low


def common_ends(a: bytes, b: bytes) -> tuple[int, int]:
    """(prefix, suffix): how many bytes ``a`` and ``b`` begin and end with in common, the two
    never overlapping in either."""
    prefix = common_prefix(a, b)
    return prefix, common_suffix(a, b, min(len(a), len(b)) - prefix)
