"""A request body read as a stream: gunzipped on the fly, a cut-short body detected.

A push can be far larger than anything worth holding in memory, and its
limits must be enforced while it arrives, so receive-pack reads the body a
piece at a time instead of through :func:`gitaccess.protocol.http.read_body`.
The WSGI server has already undone chunked framing (Werkzeug's and
gunicorn's both), so what is left to check here is that the body is as long
as it said and, when gzipped, a complete gzip stream.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from gitaccess.errors import GitAccessError

CHUNK = 65536


class BodyCutShort(GitAccessError):
    """The request body ended early or could not be read: the client most likely went away."""


class BodyGarbled(GitAccessError):
    """The request body arrived whole but cannot be decoded (bad gzip)."""


class RequestBody:
    """Reads a request body a piece at a time; :attr:`received` counts the bytes taken from the client."""

    def __init__(self, stream: BinaryIO, content_length: int | None, gzipped: bool) -> None:
        self._stream = stream
        self._length = content_length
        self._inflater = zlib.decompressobj(wbits=31) if gzipped else None
        self.received = 0

    @property
    def remaining(self) -> int | None:
        """Bytes still to come when known (a Content-Length and no gzip), else None."""
        if self._length is None or self._inflater is not None:
            return None
        return self._length - self.received

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (at least one), or b"" at the end of the body.

        Raises BodyCutShort when the body ends before its announced length or
        the connection fails, BodyGarbled when its gzip stream is broken.
        """
        if self._inflater is None:
            return self._read_raw(size)
        while True:
            if self._inflater.eof:
                if self._inflater.unused_data or self._read_raw(1):
                    raise BodyGarbled("the gzip request body has data after its end")
                return b""
            data = self._inflater.unconsumed_tail or self._read_raw(CHUNK)
            if not data:
                raise BodyCutShort(f"the gzip request body is truncated after {self.received} bytes")
            try:
                out = self._inflater.decompress(data, size)
            except zlib.error as exc:
                raise BodyGarbled(f"the request body is not valid gzip: {exc}") from None
            if out:
                return out

    def read_up_to(self, size: int) -> bytes:
        """Exactly ``size`` bytes, fewer only where the body ends; raises as :meth:`read` does."""
        parts = []
        missing = size
        while missing and (data := self.read(missing)):
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)

    def _read_raw(self, size: int) -> bytes:
        if self._length is not None:
            size = min(size, self._length - self.received)
            if size <= 0:
                return b""
        try:
            data = self._stream.read(size)
        except ClientDisconnected:
            data = b""  # Werkzeug's word for a body shorter than its Content-Length: reported below
        except TimeoutError as exc:  # the server's read timeouts (gitaccess serve's idle timeout, minimum rate)
            raise BodyCutShort(f"the request body came too slowly ({exc}) after {self.received} bytes") from None
        except (OSError, ParseException) as exc:
            raise BodyCutShort(f"the request body could not be read ({exc.__class__.__name__}) "
                               f"after {self.received} bytes: the connection was probably dropped") from None
        self.received += len(data)
        if not data and self._length is not None:
            raise BodyCutShort(f"the request body ended after {self.received} of {self._length} bytes: "
                               f"the connection was probably dropped")
        return data
