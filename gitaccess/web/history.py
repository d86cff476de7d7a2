"""The served history as people read it: commits, what they changed, a page's versions.

Everything comes from the served repository (the commits and objects git
clients get), so a page shows exactly what a clone holds. A commit published
before the wiki hid its text, summary or user name (revision deletion) still
holds them until ``gitaccess redact``; the wiki knows what is hidden now, and
nothing it hides is shown here: the journal's rows say which revisions and
log entries each commit stands for, the wiki's rows their deletion bits.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from dulwich.diff_tree import TreeChange, tree_changes
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ShaFile

from gitaccess.journal.commits import SUMMARY_HIDDEN, USER_HIDDEN
from gitaccess.repository import WikiRepository
from gitaccess.wiki import commitrows, events
from gitaccess.wiki.events import DELETED_COMMENT, DELETED_TEXT, DELETED_USER

#: Lines of unchanged text shown around each change.
CONTEXT_LINES = 3
_SHA = re.compile(r"[0-9a-f]{40}")


class NotInHistory(LookupError):
    """A commit or path the served history does not have; the message says which."""


@dataclass(frozen=True)
class Hidden:
    """What the wiki hides now of the activity a commit stands for."""

    user: bool = False
    summary: bool = False
    text: bool = False


@dataclass(frozen=True)
class CommitInfo:
    """A commit as a person reads it, with what the wiki hides already left out."""

    id: str
    parent: str | None
    author: str
    when: datetime
    summary: str
    hidden: Hidden
    #: (label, URL) of the wiki's own pages for the revisions and log entries (when [wiki] server is set).
    wiki_links: tuple[tuple[str, str], ...]

    @property
    def short(self) -> str:
        return self.id[:10]


@dataclass(frozen=True)
class DiffLine:
    """One line of a shown diff: ``kind`` is "+", "-", " " or "@" (a hunk's header)."""

    kind: str
    text: str


@dataclass(frozen=True)
class FileDiff:
    """One file's change; ``lines`` is None when its text cannot be shown (hidden, binary)."""

    path: str
    old: str | None
    new: str | None
    added: int
    removed: int
    lines: tuple[DiffLine, ...] | None
    why_not_shown: str = ""


@dataclass(frozen=True)
class Version:
    """A page's version: the commit that made it, and the file's blob then (None: deleted)."""

    commit: CommitInfo
    blob: str | None
    added: int
    removed: int


class Browser:
    """Reads one served repository for the web pages (one request's worth)."""

    def __init__(self, repository: WikiRepository) -> None:
        self.repository = repository
        self.site = repository.site
        self.objects = repository.object_store()
        self._hidden: dict[str, Hidden] = {}
        self._links: dict[str, tuple[tuple[str, str], ...]] = {}

    # --- commits
    def head(self) -> str | None:
        """The branch's newest commit; None for a wiki without history."""
        sha = self.repository.refs().get(self.repository.head())
        return sha.decode("ascii") if sha else None

    def commit(self, sha: str) -> Commit:
        """A commit of the served line; :class:`NotInHistory` for anything else."""
        if not _SHA.fullmatch(sha) or self.repository.position(sha.encode("ascii")) is None:
            raise NotInHistory(f"{sha} is not a commit of this wiki's history")
        found = self.objects[sha.encode("ascii")]
        assert isinstance(found, Commit)
        return found

    def line(self, count: int, before: str | None = None) -> list[Commit]:
        """Up to ``count`` commits of the line from ``before`` (default: the head) back."""
        start = before or self.head()
        line: list[Commit] = []
        commit = self.commit(start) if start else None
        while commit is not None and len(line) < count:
            line.append(commit)
            commit = self._parent(commit)
        self._learn_hidden([c.id.decode("ascii") for c in line])
        return line

    def info(self, commit: Commit) -> CommitInfo:
        """The commit as shown: what the wiki hides of it left out."""
        sha = commit.id.decode("ascii")
        self._learn_hidden([sha])
        hidden = self._hidden[sha]
        author = USER_HIDDEN if hidden.user else commit.author.decode("utf-8", "replace").rsplit(" <", 1)[0]
        message = commit.message.decode("utf-8", "replace").strip()
        summary = SUMMARY_HIDDEN if hidden.summary else (message.splitlines()[0] if message else "")
        return CommitInfo(sha, commit.parents[0].decode("ascii") if commit.parents else None, author,
                          datetime.fromtimestamp(commit.author_time, timezone.utc), summary, hidden,
                          self._links[sha])

    def changes(self, commit: Commit, start: int, count: int) -> tuple[int, list[FileDiff]]:
        """How many files a commit changed against its first parent, and the diffs of ``count``
        of them from the ``start``-th on, in path order (a page of a large commit's diff)."""
        parent = self._parent(commit)
        shown = self.info(commit)
        changed = [_sides(change) for change in tree_changes(self.objects, parent.tree if parent else None,
                                                             commit.tree)]
        diffs = []
        for path, before, after in changed[start:start + count]:
            hidden = (before is not None and parent is not None and self.text_hidden(path, parent)) or \
                     (after is not None and shown.hidden.text)
            diffs.append(self._diff(path, before, after, hidden=hidden))
        return len(changed), diffs

    def counts(self, commit: Commit) -> tuple[int, int]:
        """Lines added and removed by a commit (numbers only, so hidden texts count too)."""
        parent = self._parent(commit)
        added = removed = 0
        for change in tree_changes(self.objects, parent.tree if parent else None, commit.tree):
            diff = self._diff(*_sides(change), hidden=False)
            added, removed = added + diff.added, removed + diff.removed
        return added, removed

    # --- pages
    def blob_at(self, commit: Commit, path: str) -> str | None:
        """The file's blob in a commit's tree; None when the path is not a file there."""
        try:
            mode, sha = tree_lookup_path(self._get, commit.tree, path.encode("utf-8"))
        except (KeyError, ValueError):  # absent, or a component that is a file (dulwich's NotTreeError)
            return None
        return sha.decode("ascii") if not mode & 0o040000 else None

    def versions(self, path: str, count: int, before: str | None = None) -> list[Version]:
        """Up to ``count`` versions of the file at ``path``, newest first, from ``before``
        (default: the head) back; a deletion is a version without a blob."""
        changed = []
        for commit, blob, previous in self._walk(path, before):
            # Only the counts are shown, which tell nothing of a hidden text.
            changed.append((commit, blob, self._diff(path, previous, blob, hidden=False)))
            if len(changed) == count:
                break
        self._learn_hidden([commit.id.decode("ascii") for commit, _, _ in changed])
        return [Version(self.info(commit), blob, diff.added, diff.removed) for commit, blob, diff in changed]

    def introducing(self, path: str, commit: Commit) -> Commit:
        """The commit that made the file's version present in ``commit`` (itself or earlier)."""
        blob = self.blob_at(commit, path)
        parent = self._parent(commit)
        while parent is not None and self.blob_at(parent, path) == blob:
            commit, parent = parent, self._parent(parent)
        return commit

    def text(self, commit: Commit, path: str) -> tuple[str | None, str]:
        """(text, why not shown) of the file's version in a commit: the text is None when the
        wiki hides it or when it is not UTF-8 text. :class:`NotInHistory` when the path is not
        a file there."""
        blob = self.blob_at(commit, path)
        if blob is None:
            raise NotInHistory(f"{path} is not a file in commit {commit.id.decode('ascii')}")
        if self.text_hidden(path, commit):
            return None, HIDDEN_TEXT
        text = _text(self._blob(blob))
        return (text, "") if text is not None else (None, BINARY)

    def diff(self, path: str, old: Commit, new: Commit) -> FileDiff:
        """The file's change between two commits' versions."""
        return self._diff(path, self.blob_at(old, path), self.blob_at(new, path),
                          hidden=self.text_hidden(path, old) or self.text_hidden(path, new))

    # --- helpers
    def _walk(self, path: str, before: str | None) -> Iterator[tuple[Commit, str | None, str | None]]:
        """(commit, blob, previous blob) of each commit that changed the path, newest first."""
        sha = before or self.head()
        if sha is None:
            return
        commit = self.commit(sha)
        blob = self.blob_at(commit, path)
        while True:
            parent = self._parent(commit)
            previous = self.blob_at(parent, path) if parent is not None else None
            if previous != blob:
                yield commit, blob, previous
            if parent is None:
                return
            commit, blob = parent, previous

    def text_hidden(self, path: str, commit: Commit) -> bool:
        """Is the file's version in ``commit`` a text the wiki hides now? (False when absent.)"""
        if self.blob_at(commit, path) is None:
            return False
        return self.info(self.introducing(path, commit)).hidden.text

    def _diff(self, path: str, old: str | None, new: str | None, *, hidden: bool) -> FileDiff:
        """The change from blob ``old`` to ``new`` (None: absent); its lines left out when ``hidden``."""
        before = _text(self._blob(old)) if old else ""
        after = _text(self._blob(new)) if new else ""
        if before is None or after is None:
            return FileDiff(path, old, new, 0, 0, None, BINARY)
        lines: list[DiffLine] = []
        added = removed = 0
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=CONTEXT_LINES, lineterm=""):
            if line.startswith(("---", "+++")):
                continue
            kind = "@" if line.startswith("@@") else line[:1]
            added += kind == "+"
            removed += kind == "-"
            lines.append(DiffLine(kind, line if kind == "@" else line[1:]))
        if hidden:
            return FileDiff(path, old, new, added, removed, None, HIDDEN_CHANGE)
        return FileDiff(path, old, new, added, removed, tuple(lines))

    def _learn_hidden(self, shas: list[str]) -> None:
        """Ask the wiki, in a few queries, what it hides of these commits' activity."""
        wanted = [sha for sha in shas if sha not in self._hidden]
        if not wanted:
            return
        db = self.site.db
        with db.read() as conn:
            activity = commitrows.activity_of(db, conn, wanted)
            revisions = {e.rev_id: e for e in events.revisions_with_ids(
                db, conn, [i for revs, _ in activity.values() for i in revs])}
            logs = {e.log_id: e for e in events.logs_with_ids(
                db, conn, [i for _, log_ids in activity.values() for i in log_ids])}
        config = self.site.config
        base = f"{config.server.rstrip('/')}{config.script_path}/index.php" if config.server else ""
        for sha in wanted:
            rev_ids, log_ids = activity[sha]
            bits = [revisions[i].deleted for i in rev_ids if i in revisions] + \
                   [logs[i].deleted for i in log_ids if i in logs]
            hidden = 0
            for value in bits:
                hidden |= value
            self._hidden[sha] = Hidden(bool(hidden & DELETED_USER), bool(hidden & DELETED_COMMENT),
                                       any(revisions[i].deleted & DELETED_TEXT for i in rev_ids if i in revisions))
            self._links[sha] = tuple([(f"revision {i}", f"{base}?diff={i}") for i in sorted(rev_ids)] +
                                     [(f"log entry {i}", f"{base}?title=Special:Redirect/logid/{i}")
                                      for i in sorted(log_ids)]) if base else ()

    def _parent(self, commit: Commit) -> Commit | None:
        """The commit before ``commit`` on the first-parent line (None for the root)."""
        return self._read(commit.parents[0].decode("ascii")) if commit.parents else None

    def _read(self, sha: str) -> Commit:
        found = self.objects[sha.encode("ascii")]
        assert isinstance(found, Commit)
        return found

    def _get(self, sha: bytes) -> ShaFile:
        return self.objects[sha]

    def _blob(self, sha: str) -> bytes:
        found = self.objects[sha.encode("ascii")]
        assert isinstance(found, Blob)
        return found.as_raw_string()


HIDDEN_TEXT = "the wiki hides this version's text"
HIDDEN_CHANGE = "the wiki hides the text of a version on one side of it"
BINARY = "not text (a file's contents)"


def _sides(change: TreeChange) -> tuple[str, str | None, str | None]:
    """(path, old blob, new blob) of one of dulwich's changes (no rename detection: a moved
    page is a deletion and an addition, as the tree records it)."""
    old = change.old.sha if change.old is not None and change.old.sha else None
    new = change.new.sha if change.new is not None and change.new.sha else None
    entry = change.new if new else change.old
    assert entry is not None and entry.path is not None
    return (entry.path.decode("utf-8", "surrogateescape"), old.decode("ascii") if old else None,
            new.decode("ascii") if new else None)


def _text(data: bytes) -> str | None:
    """The text of a page's blob; None for a file that is not UTF-8 text."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
