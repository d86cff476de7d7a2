"""git fsck's rules for what dulwich's own checks let through.

A pushed object is served to every later clone for good, and a client that
fetches with ``transfer.fsckObjects`` (as careful users and hosting
services do) refuses the whole fetch over one bad object. So a push is
held to what ``git index-pack --strict`` accepts, where warnings count as
errors: the identity lines of commits and tags (fsck.c's fsck_ident), the
header order of a commit, and the special files git reads from a checkout
(``.gitmodules``, ``.gitattributes``, and symbolic links named like them).

Pure: bytes in, a problem (or None) out. Tree entries' own rules are in
gitaccess.objects.entries.
"""

from __future__ import annotations

import io
import re

from dulwich.config import ConfigFile

#: fsck.c: ``<name> <<email>> <seconds> <+|-><four digits>``, with no further ``<``/``>``
#: in the name or email, no zero-padded date, and a date that fits git's timestamp.
_IDENT = re.compile(rb"[^<>\n]* <[^<>\n]*> (0|[1-9][0-9]*) [+-][0-9]{4}")
_MAX_TIMESTAMP = (1 << 63) - 1
_HEX_ID = re.compile(rb"[0-9a-f]{40}")

#: git's limits for .gitattributes (attr.h: ATTR_MAX_FILE_SIZE, ATTR_MAX_LINE_LENGTH).
_ATTRIBUTES_MAX_BYTES = 100 * 1024 * 1024
_ATTRIBUTES_MAX_LINE = 2048

#: Code points HFS+ ignores in names (utf8.c: is_hfs_dotgit's next_hfs_char), so ".g\u200cit" is ".git" there.
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
#: The special dotfiles, with the 8.3 short names NTFS also opens them by.
DOTFILES = {b".gitmodules": b"gitmod~", b".gitattributes": b"gitatt~", b".gitignore": b"gitign~",
            b".mailmap": b"mailma~"}


def special_name(name: bytes) -> bytes | None:
    """Which of git's special dotfiles (``.git`` included) a tree entry's name opens on some
    file system (case folded, HFS+'s ignored code points, NTFS's trailing dots and spaces
    and short names), or None."""
    try:
        text = _HFS_IGNORED.sub("", name.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    folded = text.lower().rstrip(". ").encode("utf-8")
    if folded in (b".git", b"git~1"):
        return b".git"
    for dotfile, short in DOTFILES.items():
        if folded == dotfile or (folded.startswith(short) and folded[len(short):].isdigit()):
            return dotfile
    return None


def ident_problem(line: bytes) -> str | None:
    """What fsck refuses in an author, committer or tagger value, or None."""
    if line.startswith(b"<"):
        return "no name before the email"
    match = _IDENT.fullmatch(line)
    if match is None:
        return f"malformed identity {line[:200]!r}: git expects 'Name <email> seconds +hhmm'"
    if int(match[1]) > _MAX_TIMESTAMP:
        return "the date overflows git's timestamps"
    return None


def commit_problem(raw: bytes) -> str | None:
    """What ``git fsck --strict`` refuses in a commit's headers, or None: one tree, then
    parents, then exactly one author and one committer, each identity well formed."""
    header, found, _message = raw.partition(b"\n\n")
    if not found and not raw.endswith(b"\n"):
        return "the header is not terminated"
    if b"\0" in header:
        return "a NUL byte in the header"
    lines = iter(header.split(b"\n"))
    line = next(lines, b"")
    if not line.startswith(b"tree "):
        return "no tree line first"
    if not _HEX_ID.fullmatch(line[5:]):
        return "a malformed tree id"
    line = next(lines, b"")
    while line.startswith(b"parent "):
        if not _HEX_ID.fullmatch(line[7:]):
            return "a malformed parent id"
        line = next(lines, b"")
    authors = 0
    while line.startswith(b"author "):
        authors += 1
        if problem := ident_problem(line[7:]):
            return f"author: {problem}"
        line = next(lines, b"")
    if authors != 1:
        return "no author" if authors == 0 else "more than one author"
    if not line.startswith(b"committer "):
        return "no committer after the author"
    if problem := ident_problem(line[10:]):
        return f"committer: {problem}"
    return None


def tag_problem(raw: bytes) -> str | None:
    """What fsck refuses in an annotated tag's tagger, or None (dulwich checks the rest)."""
    header = raw.partition(b"\n\n")[0]
    for line in header.split(b"\n"):
        if line.startswith(b"tagger "):
            problem = ident_problem(line[7:])
            return f"tagger: {problem}" if problem else None
    return None


def gitmodules_problem(data: bytes) -> str | None:
    """What git refuses in a .gitmodules file (it must parse, and name no submodule, URL or
    path a git command could mistake for an option or a way out of the repository), or None.

    git fsck only notes a .gitmodules it cannot parse, but ``git pull`` in
    every clone then dies on it, so it is refused too.
    """
    try:
        config = ConfigFile.from_file(io.BytesIO(data))
    except ValueError as exc:
        return f"it cannot be read as git configuration ({exc})"
    for section in config.sections():
        if section[0] != b"submodule" or len(section) < 2:
            continue
        name = section[1]
        if b".." in re.split(rb"[/\\]", name):
            return f"the submodule name {name!r} climbs out of .git/modules"
        for key, value in config.items(section):
            if key in (b"url", b"path") and value.startswith(b"-"):
                return f"the submodule {key.decode()} {value!r} looks like a command-line option"
            if key == b"update" and value.startswith(b"!"):
                return f"the submodule update command {value!r} would run a command"
    return None


def gitattributes_problem(data: bytes) -> str | None:
    """What git refuses in a .gitattributes file (too large, or a line too long), or None."""
    if len(data) > _ATTRIBUTES_MAX_BYTES:
        return "it is larger than git reads (100 MiB)"
    if any(len(line) > _ATTRIBUTES_MAX_LINE for line in data.split(b"\n")):
        return f"a line is longer than git reads ({_ATTRIBUTES_MAX_LINE} bytes)"
    return None


#: What to check in the blob a special dotfile names.
BLOB_CHECKS = {b".gitmodules": gitmodules_problem, b".gitattributes": gitattributes_problem}
