"""Commit objects for wiki-made commits: identities, messages, trailers (docs/history.md, What makes a commit).

Pure: everything here depends only on its arguments, so a commit rebuilt
from the journal on any machine is byte-identical to the one first served.
"""

from __future__ import annotations

import re
from calendar import timegm
from dataclasses import dataclass
from datetime import datetime, timezone

from dulwich.objects import Commit

#: Characters git refuses or mangles in identities (fsck's badName/badEmail and
#: the line structure of a commit header).
_IDENT_FORBIDDEN = re.compile(r"[<>\x00-\x1f\x7f]")
_EMAIL_FORBIDDEN = re.compile(r"[<>\s\x00-\x1f\x7f]")

NO_SUMMARY = "(no edit summary)"
SUMMARY_HIDDEN = "(edit summary removed)"
USER_HIDDEN = "(username removed)"


@dataclass(frozen=True)
class Identity:
    """An author or committer as the commit header writes it."""

    name: str
    email: str
    time: int
    timezone: int = 0  # seconds east of UTC; wiki times are UTC

    @property
    def header(self) -> bytes:
        return f"{self.name} <{self.email}>".encode("utf-8")


def epoch(timestamp: str) -> int:
    """Seconds since 1970 of a 14-character MediaWiki timestamp (UTC).

    Read field by field: ``strptime`` was a large share of a cold build's
    time spent making commits (docs/history.md). ``datetime`` still rejects
    an impossible date. Raises ValueError for anything else.
    """
    if len(timestamp) != 14 or not timestamp.isascii() or not timestamp.isdigit():
        raise ValueError(f"not a MediaWiki timestamp: {timestamp!r}")
    moment = datetime(int(timestamp[:4]), int(timestamp[4:6]), int(timestamp[6:8]), int(timestamp[8:10]),
                      int(timestamp[10:12]), int(timestamp[12:]), tzinfo=timezone.utc)
    return timegm(moment.utctimetuple())


def wiki_identity(user_name: str | None, server_name: str, timestamp: str, *, real_name: str = "") -> Identity:
    """The identity of a wiki user: name (or real name) and ``<user@server-name>``.

    ``user_name`` None means the name is hidden by revision deletion. An IP
    editor's name is the address. Private e-mail addresses are never used.
    """
    if user_name is None:
        name, local = USER_HIDDEN, "username_removed"
    else:
        name, local = real_name or user_name, user_name.replace(" ", "_")
    name = _IDENT_FORBIDDEN.sub("_", name).strip() or "_"
    email = _EMAIL_FORBIDDEN.sub("_", f"{local}@{server_name}")
    return Identity(name, email, epoch(timestamp))


def message(summary: str | None, trailers: list[tuple[str, str]]) -> bytes:
    """Summary line, blank line, trailers; ``summary`` None means hidden."""
    if summary is None:
        first = SUMMARY_HIDDEN
    else:
        first = " ".join(summary.split()) or NO_SUMMARY
    body = "".join(f"{key}: {value}\n" for key, value in trailers)
    return f"{first}\n\n{body}".encode("utf-8")


def make_commit(tree: bytes, parents: list[bytes], author: Identity, committer: Identity, text: bytes) -> Commit:
    """A dulwich Commit with UTC times and UTF-8 text."""
    commit = Commit()
    commit.tree = tree
    commit.parents = parents
    commit.author = author.header
    commit.committer = committer.header
    commit.author_time, commit.author_timezone = author.time, author.timezone
    commit.commit_time, commit.commit_timezone = committer.time, committer.timezone
    commit.message = text
    return commit
