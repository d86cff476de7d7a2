"""Names for pages that need an alias: readable, portable, and never a title's own.

A new alias is the title itself where it can be (``Who*`` ->
``Who%2A.wiki``, ``Talk:CON`` -> ``Talk/CON_.wiki``), and the title with a
short stable hash otherwise (a case conflict: ``FOO`` -> ``FOO__3f2a1b.wiki``).
Each generated name carries a mark no canonical path can have: a ``%XX``
escape (MediaWiki refuses those in titles), a double underscore (titles
collapse runs of them) or, where the extension is stripped on reading, a
trailing underscore (titles are trimmed). So no title, present or future,
ever has an alias's path, or one that differs from it only by case, as its
natural path: an alias once published never has to move for a new page.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from typing import Callable

from gitaccess.tree.portable import (
    HFS_IGNORABLE,
    MAX_NAME_BYTES,
    device_name,
    is_dotgit,
    is_forbidden_character,
    is_portable_name,
)

_ESCAPE_UNIT = re.compile(r"%[0-9A-F]{2}|.", re.DOTALL)
_MARK = re.compile(r"%[0-9A-Fa-f]{2}|__")


def alias_file_name(
    stem: str,
    extension: str,
    *,
    seed: str,
    extension_in_title: bool,
    is_free: Callable[[str], bool],
) -> str:
    """A portable file name for a page that needs an alias.

    ``stem`` is the part of the dbkey the file name must show (a '/' in it
    is escaped), ``extension`` the one its content model gets ("" at the
    root and for Media files), ``extension_in_title`` whether reading the
    file back keeps the extension in the title (.css, .js, .json).
    ``is_free(name)`` says whether the name is still unclaimed in its
    directory and is no title's natural path.

    The first choice is the title itself, readable: characters Windows
    refuses become ``%XX`` (``Who*`` -> ``Who%2A.wiki``), a device name gets
    an underscore (``CON`` -> ``CON_.wiki``), a leading dot of ``.git``, a
    trailing dot or space, the dot after a device name (``aux.txt`` ->
    ``aux%2Etxt.wiki``) and code points breaking NFC are escaped too.
    Where that name is taken, too long or not marked as an alias (a case
    conflict, ``FOO`` -> ``FOO__3f2a1b.wiki``), a stable hash of ``seed``
    (the full title) is appended, the stem shortened to fit 255 bytes.
    """
    escaped = _escape(stem)
    first = _assemble(escaped, extension)
    if _is_marked(first, extension, extension_in_title) and is_portable_name(first) and is_free(first):
        return first
    base, ending = (escaped, extension) if extension else _split_plain(escaped)
    for attempt in itertools.count():
        mark = "__" + _hash(seed, attempt)
        budget = MAX_NAME_BYTES - len((mark + ending).encode("utf-8")) - 4
        short = _truncate(base, budget)
        candidate = _assemble(short + mark, ending)
        while not is_portable_name(candidate) and short:
            short = _truncate(short, len(short.encode("utf-8")) - 1)
            candidate = _assemble(short + mark, ending)
        if is_portable_name(candidate) and is_free(candidate):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8", "surrogatepass"))


def _escape(stem: str) -> str:
    """Escape what no portable name may contain, and what keeps it from being NFC."""
    escaped = "".join(_percent(c) if is_forbidden_character(c) or c == "/" else c for c in stem)
    if unicodedata.is_normalized("NFC", escaped):
        return escaped
    escaped = "".join(_percent(c) if _breaks_nfc(c) else c for c in escaped)
    if unicodedata.is_normalized("NFC", escaped):
        return escaped
    return "".join(c if c.isascii() else _percent(c) for c in escaped)


def _breaks_nfc(char: str) -> bool:
    """Characters that compose with their neighbours or change under NFC."""
    return (
        unicodedata.combining(char) != 0
        or unicodedata.normalize("NFC", char) != char
        or "\u1160" <= char <= "\u11ff"
        or "\ud7b0" <= char <= "\ud7ff"
        or not unicodedata.is_normalized("NFC", char)
    )


def _assemble(stem: str, extension: str) -> str:
    """The file name of an escaped stem and its extension, made portable."""
    return _finish(_break_device(stem, extension) + extension)


def _break_device(stem: str, extension: str) -> str:
    """Keep Windows from opening a device: "aux.txt" -> "aux%2Etxt", "CON" -> "CON_"."""
    device = device_name(stem + extension)
    if not device:
        return stem
    if stem[len(device) : len(device) + 1] == ".":
        return stem[: len(device)] + "%2E" + stem[len(device) + 1 :]
    return stem[: len(device)] + "_" + stem[len(device) :]


def _finish(name: str) -> str:
    """Break what makes a whole name unportable without being one character:
    '.git' in any spelling, a trailing dot or space."""
    name = re.sub(r"[. ]+$", lambda m: _percent(m[0]), name)
    if is_dotgit(name):
        start = next(i for i, c in enumerate(name) if c not in HFS_IGNORABLE)
        if name[start] == ".":
            name = name[:start] + "%2E" + name[start + 1 :]
        else:
            name = name.replace("~", "%7E", 1)
    return name


def _is_marked(name: str, extension: str, extension_in_title: bool) -> bool:
    """Does the name carry a mark no title's natural path can have?"""
    if _MARK.search(name):
        return True
    if extension_in_title:
        return False
    title_part = name[: len(name) - len(extension)] if extension else name
    return title_part.endswith("_")


def _split_plain(name: str) -> tuple[str, str]:
    """Split a file type ending off an extension-less name (".png" of "X.png"),
    so a hash goes before it."""
    dot = name.rfind(".")
    if dot > 0 and 1 < len(name) - dot <= 16 and name[dot + 1 :].isalnum():
        return name[:dot], name[dot:]
    return name, ""


def _truncate(text: str, budget: int) -> str:
    """The longest prefix of ``text`` within ``budget`` bytes, never splitting a %XX escape."""
    result = []
    size = 0
    for unit in _ESCAPE_UNIT.findall(text):
        size += len(unit.encode("utf-8", "surrogatepass"))
        if size > budget:
            break
        result.append(unit)
    return "".join(result)


def _hash(seed: str, attempt: int) -> str:
    """Six hex digits from the title: the same title gets the same alias anywhere."""
    text = seed if attempt == 0 else f"{seed}\n{attempt}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]
