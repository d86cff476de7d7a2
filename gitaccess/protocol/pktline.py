"""pkt-lines and side-band framing, strictly checked.

Every byte a git client sends us passes through :class:`PktReader`, so a
malformed request becomes one :class:`ProtocolError` with a message that
says what was wrong, instead of a traceback deep inside negotiation.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from gitaccess.errors import GitAccessError

#: The longest pkt-line git accepts, its 4-byte length header included.
MAX_PKT_LENGTH = 65520
MAX_PKT_PAYLOAD = MAX_PKT_LENGTH - 4

FLUSH_PKT = b"0000"
DELIM_PKT = b"0001"
RESPONSE_END_PKT = b"0002"

#: Side-band channels.
PACK_DATA = 1
PROGRESS = 2
FATAL = 3


class ProtocolError(GitAccessError):
    """The client sent something that is not valid git protocol; the message says what."""


class Marker(Enum):
    """The special packets that carry no payload."""

    FLUSH = 0
    DELIM = 1
    RESPONSE_END = 2


def pkt_line(payload: bytes) -> bytes:
    """One pkt-line around ``payload``."""
    if len(payload) > MAX_PKT_PAYLOAD:
        raise ValueError(f"pkt-line payload of {len(payload)} bytes exceeds {MAX_PKT_PAYLOAD}")
    return b"%04x" % (len(payload) + 4) + payload


def text_line(text: str | bytes) -> bytes:
    """A pkt-line holding one line of text, newline-terminated as git writes them."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return pkt_line(data + b"\n")


def error_line(message: str) -> bytes:
    """An ``ERR`` pkt-line: git prints ``remote error: <message>`` and stops."""
    return pkt_line(b"ERR " + message.encode("utf-8", "replace")[: MAX_PKT_PAYLOAD - 4])


class PktReader:
    """Reads pkt-lines from a complete request body, validating each length."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def read(self) -> bytes | Marker:
        """The next payload, or the :class:`Marker` of a special packet.

        Raises ProtocolError for a malformed or cut-short packet, and at the end
        of the body (a request must end with a flush-pkt).
        """
        if self.at_end:
            raise ProtocolError("the request ended in the middle of a command (no flush-pkt)")
        header = self._data[self._pos : self._pos + 4]
        if len(header) < 4:
            raise ProtocolError(f"truncated pkt-line length {header!r}")
        try:
            if not all(c in b"0123456789abcdefABCDEF" for c in header):
                raise ValueError
            length = int(header, 16)
        except ValueError:
            raise ProtocolError(f"bad pkt-line length {header!r}: expected 4 hex digits") from None
        if length < 4:
            if length == 3:
                raise ProtocolError("bad pkt-line length 0003")
            self._pos += 4
            return Marker(length)
        if length > MAX_PKT_LENGTH:
            raise ProtocolError(f"pkt-line length {length} exceeds the maximum of {MAX_PKT_LENGTH}")
        end = self._pos + length
        if end > len(self._data):
            raise ProtocolError(
                f"truncated pkt-line: {length - 4} bytes announced, {len(self._data) - self._pos - 4} present"
            )
        payload = self._data[self._pos + 4 : end]
        self._pos = end
        return payload

    def read_line(self) -> bytes | Marker:
        """Like :meth:`read`, with the one trailing newline of a text line removed."""
        packet = self.read()
        if isinstance(packet, bytes) and packet.endswith(b"\n"):
            return packet[:-1]
        return packet

    def lines_until(self, marker: Marker) -> list[bytes]:
        """Text lines up to ``marker``; ProtocolError for any other special packet (or as :meth:`read`)."""
        lines = []
        while True:
            packet = self.read_line()
            if packet is marker:
                return lines
            if isinstance(packet, Marker):
                raise ProtocolError(f"unexpected {packet.name.lower()}-pkt, expected {marker.name.lower()}-pkt")
            lines.append(packet)


class Sideband:
    """Frames pack data, progress and errors into side-band packets for ``sink``.

    Pack data is buffered up to one full packet so that a stream of small
    writes (object headers, zlib output) does not become many tiny packets.
    Without side-band the client gets raw pack bytes and no progress.
    """

    def __init__(self, sink: Callable[[bytes], None], max_packet: int | None) -> None:
        self._sink = sink
        self._chunk = (max_packet - 5) if max_packet else None
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        """Append pack data (channel 1)."""
        self._pending += data
        chunk = self._chunk or 65536
        while len(self._pending) >= chunk:
            self._emit(bytes(self._pending[:chunk]))
            del self._pending[:chunk]

    def flush(self) -> None:
        """Send buffered pack data now."""
        if self._pending:
            self._emit(bytes(self._pending))
            self._pending.clear()

    def progress(self, message: str) -> None:
        """A progress message (channel 2); dropped without side-band, as git does."""
        if self._chunk:
            self.flush()
            self._sink(pkt_line(bytes([PROGRESS]) + message.encode("utf-8")))

    def fatal(self, message: str) -> None:
        """An error that aborts the transfer (channel 3): git prints it and fails the fetch."""
        if self._chunk:
            self.flush()
            self._sink(pkt_line(bytes([FATAL]) + message.encode("utf-8", "replace")[: self._chunk]))

    def _emit(self, data: bytes) -> None:
        self._sink(pkt_line(bytes([PACK_DATA]) + data) if self._chunk else data)
