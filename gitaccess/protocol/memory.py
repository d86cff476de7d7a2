"""A ceiling on a worker's memory while it takes in a push.

Each object a push carries is bounded in size, and so is their total, but a
worker serves several requests at once, and the objects inflated, the trees
parsed and the plan built from them all live in one process: a push that
would take the worker past its ceiling is refused instead of taking memory
from every other request, or the whole machine's.
"""

from __future__ import annotations

import os

from gitaccess.protocol.incoming import PackTooLarge

#: How many bytes a push may work through between two looks at the process's memory.
CHECK_EVERY = 4 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """This process's resident memory (Linux's /proc, where gitaccess is served)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


class MemoryCeiling:
    """Refuses a push once this process holds more than ``limit`` bytes: check after work
    that may have grown it (``spent``, cheap per call), or at any point (``check``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._unchecked = 0

    def spent(self, size: int) -> None:
        """``size`` more bytes were worked on; raises as :meth:`check` does, now and then."""
        self._unchecked += size
        if self._unchecked >= CHECK_EVERY:
            self.check()

    def check(self) -> None:
        """Raises PackTooLarge (a PackRefused: the client is told) when the process is past the ceiling."""
        self._unchecked = 0
        held = resident_bytes()
        if held > self.limit:
            raise PackTooLarge(f"this push takes the server past its memory limit of {self.limit} bytes per "
                               f"worker (it holds {held} bytes now): push fewer or smaller changes at a time")
