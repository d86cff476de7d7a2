"""Is a file name safe in a git checkout on Windows, macOS and Linux alike?

A wiki page whose file cannot be checked out somewhere breaks every clone
there, so gitaccess only publishes names that pass the strictest of the three
systems, and git's own refusals (``core.protectNTFS``/``core.protectHFS``,
``git fsck``): git's verify_path and is_ntfs_dotgit (path.c), is_hfs_dotgit
(utf8.c) and is_valid_win32_path (compat/mingw.c) are the reference.

Works on one path component (a ``str``, never containing ``/`` unless that is
the problem being reported). Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

#: NTFS, HFS+, APFS and ext4 all stop at 255 (UTF-16 units or bytes); bytes of
#: UTF-8 are the strictest measure of the four.
MAX_NAME_BYTES = 255

#: Characters Windows refuses in a name; '/' separates components everywhere.
FORBIDDEN_CHARACTERS = frozenset('\\/:*?"<>|')

#: Code points HFS+ ignores when it compares names (git's next_hfs_char), so
#: ".g\u200cit" is ".git" on a Mac.
HFS_IGNORABLE = frozenset(
    [chr(c) for c in range(0x200C, 0x2010)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x206A, 0x2070)]
    + ["\ufeff"]
)

#: Deletes the HFS+ ignorable code points (str.translate works in C, names are many).
_WITHOUT_IGNORABLE = {ord(c): None for c in HFS_IGNORABLE}
#: Any character a portable name may not hold (see is_forbidden_character), or a lone
#: surrogate (a name that was not valid UTF-8).
_BAD_CHARACTER = re.compile("[" + re.escape("".join(sorted(FORBIDDEN_CHARACTERS)))
                            + "\x00-\x1f\x7f\ufffe\uffff\ud800-\udfff]")

#: Windows device names (any case, with or without an extension). COM0/LPT0
#: and the superscript digits are reserved too, whatever older lists say.
_DEVICE_NAME = re.compile(
    r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|(?:COM|LPT)[0-9\u00b9\u00b2\u00b3])(?= *(?:[.:]|$))",
    re.IGNORECASE,
)

#: ".git" as NTFS sees it (is_ntfs_dotgit): ".git" or its 8.3 short name
#: "git~1", any case, followed only by dots and spaces, up to the end or an
#: alternate data stream (".git::$INDEX_ALLOCATION").
_NTFS_DOTGIT = re.compile(r"(?:\.git|git~1)[. ]*(?::.*)?", re.IGNORECASE | re.DOTALL)


def is_control(char: str) -> bool:
    """C0 controls and DEL: Windows refuses them, terminals mangle them."""
    return char < "\x20" or char == "\x7f"


def is_forbidden_character(char: str) -> bool:
    """A character no portable name may contain.

    U+FFFE and U+FFFF are not characters at all: XML (Aliases.xml) cannot
    carry them and many tools choke on them.
    """
    return char in FORBIDDEN_CHARACTERS or is_control(char) or char in "\ufffe\uffff"


def device_name(name: str) -> str | None:
    """The Windows device name that ``name`` opens instead of a file, if any.

    Windows looks at the part before the first dot (or colon), trailing
    spaces removed: "aux.txt", "CON .md" and "com1" are all devices.
    """
    match = _DEVICE_NAME.match(name)
    return match[1] if match else None


def is_dotgit(name: str) -> bool:
    """Would git, on some file system, take this name for its own ``.git``?

    Covers every spelling git refuses with core.protectNTFS/protectHFS:
    any case, trailing dots and spaces, the NTFS short name ``git~1``, NTFS
    streams (``.git::$INDEX_ALLOCATION``) and HFS+ ignorable code points
    anywhere in it (``.g\\u200cit``).
    """
    if _NTFS_DOTGIT.fullmatch(name):
        return True
    return name.translate(_WITHOUT_IGNORABLE).lower() == ".git"


def unportable_reason(name: str) -> str | None:
    """Why ``name`` cannot be a file or directory name everywhere; None if it can.

    The reason is a phrase a person can act on, e.g. "'*' is not allowed on
    Windows".
    """
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    bad = _BAD_CHARACTER.search(name)
    if bad:
        char = bad.group()
        if "\ud800" <= char <= "\udfff":
            return "the name is not valid UTF-8"
        return f"{char!r} is not allowed in file names on Windows"
    if name[-1] in ". ":
        return "Windows drops a trailing dot or space from file names"
    if is_dotgit(name):
        return "git refuses names that some file system reads as '.git'"
    device = device_name(name)
    if device:
        return f"{device!r} is a reserved device name on Windows (with any extension)"
    if not unicodedata.is_normalized("NFC", name):
        return "the name is not in Unicode NFC form (macOS would change it)"
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"the name is {size} bytes of UTF-8, more than {MAX_NAME_BYTES}"
    return None


def is_portable_name(name: str) -> bool:
    """True if ``name`` is safe as one path component on every system."""
    return unportable_reason(name) is None


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a portable relative path ('a/b/c'); None if it is."""
    if not path:
        return "the path is empty"
    if path.startswith("/"):
        return "the path is absolute (starts with '/')"
    for component in path.split("/"):
        if not component:
            return "the path has an empty component ('//' or a trailing '/')"
        reason = unportable_reason(component)
        if reason:
            return f"{component!r}: {reason}"
    return None


def is_portable_path(path: str) -> bool:
    """True if every component of the relative ``path`` is portable."""
    return path_problem(path) is None


def collision_key(name: str) -> str:
    """The form under which two names are the same file somewhere.

    Windows and macOS compare case-insensitively, macOS also ignores the HFS
    ignorable code points and normalisation: names with equal keys must not
    share a directory. Full Unicode case folding is stricter than NTFS's
    simple upper-casing, which errs on the safe side.
    """
    folded = unicodedata.normalize("NFC", name.translate(_WITHOUT_IGNORABLE)).casefold()
    return unicodedata.normalize("NFC", folded)
