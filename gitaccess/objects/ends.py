"""Where two versions of the same bytes differ: how much they begin and end with in common.

A new version of a page or directory usually differs from the previous one
in one place. Blocks of growing size are compared in place (memcmp, in C,
with no copies), then the differing block is narrowed by halving to a few
kilobytes, and the two are read as numbers whose exclusive or's highest
(or lowest) set bit is in the first (or last) differing byte. Finding that place
costs a few comparisons in C, not a walk over every byte in Python. Pure: no I/O.
"""

from __future__ import annotations

#: Bytes compared first while looking for where two versions differ; each further comparison
#: covers twice as many, so even a large directory's tree takes a handful.
_FIRST_BLOCK = 4096
#: The differing block is then halved down to this size, and its first (or last) differing
#: byte found with one exclusive or of the two blocks read as numbers, where halving took ten
#: more steps.
_LAST_BLOCK = 1024


def common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes ``a`` and ``b`` begin with in common."""
    limit = min(len(a), len(b))
    view = memoryview(b)  # slices of it are not copies; startswith compares them in place
    low, step = 0, _FIRST_BLOCK
    while low < limit:  # a[:low] == b[:low]
        high = min(low + step, limit)
        if not a.startswith(view[low:high], low):
            break
        low, step = high, step * 2
    else:
        return limit
    while high - low > _LAST_BLOCK:  # the first difference is in [low, high)
        middle = (low + high) // 2
        if a.startswith(view[low:middle], low):
            low = middle
        else:
            high = middle
    differ = int.from_bytes(a[low:high], "big") ^ int.from_bytes(view[low:high], "big")
    return high - 1 - (differ.bit_length() - 1) // 8


def common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """How many bytes (at most ``limit``) ``a`` and ``b`` end with in common."""
    end_a, end_b = len(a), len(b)
    view = memoryview(b)
    low, step = 0, _FIRST_BLOCK
    while low < limit:  # the last ``low`` bytes agree
        high = min(low + step, limit)
        if not a.endswith(view[end_b - high:end_b - low], 0, end_a - low):
            break
        low, step = high, step * 2
    else:
        return limit
    while high - low > _LAST_BLOCK:  # the last difference is between ``low`` and ``high`` from the ends
        middle = (low + high) // 2
        if a.endswith(view[end_b - middle:end_b - low], 0, end_a - low):
            low = middle
        else:
            high = middle
    differ = int.from_bytes(a[end_a - high:end_a - low], "big") ^ int.from_bytes(view[end_b - high:end_b - low], "big")
    return low + ((differ & -differ).bit_length() - 1) // 8


def common_ends(a: bytes, b: bytes) -> tuple[int, int]:
    """(prefix, suffix): how many bytes ``a`` and ``b`` begin and end with in common, the two
    never overlapping in either."""
    prefix = common_prefix(a, b)
    return prefix, common_suffix(a, b, min(len(a), len(b)) - prefix)
