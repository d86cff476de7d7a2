"""PHP's serialize() format, as MediaWiki stores log parameters and job parameters.

Only what those columns hold: null, booleans, integers, floats, strings and
arrays (lists or string/integer-keyed maps). Strings are measured in UTF-8
bytes, as PHP does.
"""

from __future__ import annotations

from typing import Any

PhpValue = None | bool | int | float | str | list[Any] | dict[Any, Any]


class PhpSerialError(ValueError):
    """A value that is not valid PHP serialize() output."""


def dumps(value: PhpValue) -> str:
    """Serialize like PHP's serialize()."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, float):
        return f"d:{value!r};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    items = enumerate(value) if isinstance(value, list) else value.items()
    body = "".join(dumps(k) + dumps(v) for k, v in items)
    return f"a:{len(value)}:{{{body}}}"


def loads(text: str) -> PhpValue:
    """Parse PHP serialize() output; arrays come back as dicts."""
    data = text.encode("utf-8")
    value, end = _parse(data, 0)
    if end != len(data):
        raise PhpSerialError(f"trailing data after position {end} in {text[:60]!r}")
    return value


def _expect(data: bytes, pos: int, token: bytes) -> int:
    if data[pos:pos + len(token)] != token:
        raise PhpSerialError(f"expected {token!r} at byte {pos}")
    return pos + len(token)


def _until(data: bytes, pos: int, stop: bytes) -> tuple[bytes, int]:
    end = data.find(stop, pos)
    if end < 0:
        raise PhpSerialError(f"unterminated value at byte {pos}")
    return data[pos:end], end + 1


def _parse(data: bytes, pos: int) -> tuple[PhpValue, int]:
    kind = data[pos:pos + 1]
    if kind == b"N":
        return None, _expect(data, pos + 1, b";")
    pos = _expect(data, pos + 1, b":")
    try:
        if kind in (b"b", b"i"):
            raw, pos = _until(data, pos, b";")
            return (bool(int(raw)) if kind == b"b" else int(raw)), pos
        if kind == b"d":
            raw, pos = _until(data, pos, b";")
            return float(raw), pos
        if kind == b"s":
            raw, pos = _until(data, pos, b":")
            length = int(raw)
            pos = _expect(data, pos, b'"')
            value = data[pos:pos + length].decode("utf-8")
            return value, _expect(data, pos + length, b'";')
        if kind == b"a":
            raw, pos = _until(data, pos, b":")
            pos = _expect(data, pos, b"{")
            result: dict[Any, Any] = {}
            for _ in range(int(raw)):
                key, pos = _parse(data, pos)
                result[key], pos = _parse(data, pos)
            return result, _expect(data, pos, b"}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PhpSerialError(f"bad {kind!r} value at byte {pos}: {exc}") from None
    raise PhpSerialError(f"unsupported PHP type {kind!r} at byte {pos}")
