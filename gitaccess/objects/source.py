"""Where git objects are read from, whoever stores them: the object cache,
a push's quarantine, dulwich's object stores."""

from __future__ import annotations

from typing import Protocol


class ObjectSource(Protocol):
    """Where object contents come from; dulwich's object stores fit as they are."""

    def __contains__(self, sha: object) -> bool:
        """Whether the object (40 hex digits, as bytes) is there."""

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """The object's type number and uncompressed contents; KeyError when missing."""
