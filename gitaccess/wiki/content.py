"""Revision text as MediaWiki stores it: text rows, flags, content addresses, SHA-1s."""

from __future__ import annotations

import hashlib
import re
import zlib

from gitaccess.errors import UnreadableText

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int, width: int) -> str:
    """``number`` in base 36, zero-padded like Wikimedia\\base_convert."""
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def sha1_base36(data: bytes) -> str:
    """MediaWiki's revision, content and file SHA-1: base 36, 31 characters."""
    return base36(int.from_bytes(hashlib.sha1(data).digest(), "big"), 31)


def text_row_id(address: str) -> int:
    """The text row of a content address ``tt:<old_id>``; UnreadableText for anything else
    (external storage among them)."""
    if address.startswith("tt:") and address[3:].isdigit():
        return int(address[3:])
    if address.startswith("es:"):
        raise UnreadableText(
            f"content {address!r} is in MediaWiki's external storage, which gitaccess cannot read; "
            "move it back with MediaWiki's moveToExternal.php/recompressTracked.php tooling first"
        )
    raise UnreadableText(f"content address {address!r} is not a text table row (tt:<id>)")


def decode_text(raw: bytes, flags: str, where: str = "") -> str:
    """The text of a ``text`` row from its bytes and its old_flags.

    Raises UnreadableText for external storage or history blobs, and for gzip
    data that does not inflate.
    """
    flag_set = {f.strip() for f in flags.split(",") if f.strip()}
    if "external" in flag_set or "object" in flag_set:
        raise UnreadableText(
            f"text{where} has flags {flags!r}: external storage and history blobs are not supported; "
            "run MediaWiki's maintenance/storage/resolveStubs.php or compressOld.php --type=... to undo them"
        )
    if "gzip" in flag_set:
        if raw.startswith(b"\\x") and re.fullmatch(rb"\\x[0-9a-fA-F]*", raw):
            raw = bytes.fromhex(raw[2:].decode("ascii"))  # bytea escape from PostgreSQL
        try:
            raw = zlib.decompress(raw, -15)  # PHP's gzdeflate(): raw deflate, no header
        except zlib.error as exc:
            raise UnreadableText(f"text{where}: gzip flag set but data does not inflate ({exc})") from None
    return raw.decode("utf-8", errors="replace")
