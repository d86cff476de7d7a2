"""The rules a push must keep, checked before anything is written (docs/history.md, Pushes).

The ref and the fast-forward (:func:`check_ref`, :func:`pushed_commits`),
every pushed object (:func:`check_objects`: plain files, portable names)
and every page's content (:func:`check_text`, :func:`check_upload`). Each
raises :class:`PushRefused` naming the path or commit and the rule; none
reads or writes the wiki's database.
"""

from __future__ import annotations

import json
import stat
import unicodedata
from typing import Protocol

from dulwich.objects import Commit

from gitaccess.config import Config
from gitaccess.push.errors import STALE, PushRefused
from gitaccess.push.trees import Change, PushedObjects, PushedTrees
from gitaccess.push.uploads import upload_problem
from gitaccess.tree.portable import path_problem

#: The old or new id of a ref that does not exist.
ZERO = b"0" * 40
GITLINK_MODE = 0o160000
BLOB_MODE = 0o100644
#: Pushed commits looked up in the history at once (to tell a fast-forward).
KNOWN_BATCH = 64


class ServedCommits(Protocol):
    """What the served history knows of commits (the repository)."""

    def any_known(self, commits: list[bytes]) -> bool: ...

    def position(self, commit: bytes) -> int | None: ...


def summary_of(commit: Commit) -> str:
    """The edit summary: the commit message's first line."""
    text = commit.message.decode("utf-8", errors="replace").strip()
    return text.splitlines()[0].strip() if text else ""


def check_ref(branch: bytes, old: bytes, new: bytes, ref: bytes) -> None:
    """The wiki's one branch may be updated, never deleted; ``old`` is checked by the caller."""
    if ref != branch:
        raise PushRefused(f"only {branch.decode()} can be pushed to the wiki, not {ref.decode()}")
    if new == ZERO:
        raise PushRefused(f"{branch.decode()} cannot be deleted")


def pushed_commits(served: ServedCommits, branch: bytes, new: bytes, head: bytes | None,
                   objects: PushedObjects) -> tuple[list[Commit], list[Commit]]:
    """The first-parent chain from the served ``head`` to the pushed commit (oldest first), and
    the side branches' commits the served history lacks.

    Raises :class:`PushRefused` when the push is not a fast-forward or names
    something other than a commit where a commit belongs.
    """
    chain: list[Commit] = []
    checked = 0

    def refuse_known() -> None:
        # A commit the history has, other than the head, means no fast-forward: asked
        # for a batch at a time, walking at most a batch into the served history.
        nonlocal checked
        if served.any_known([commit.id for commit in chain[checked:]]):
            raise PushRefused(f"not a fast-forward of {branch.decode()}: {STALE}")
        checked = len(chain)

    sha = new
    while sha != head:
        if len(chain) - checked >= KNOWN_BATCH:
            refuse_known()
        commit = objects[sha]
        if not isinstance(commit, Commit):
            raise PushRefused(f"{sha.decode()} is not a commit")
        chain.append(commit)
        if not commit.parents:
            if head is not None:
                refuse_known()
                raise PushRefused(f"the pushed history does not contain the wiki's: {STALE}")
            break
        sha = commit.parents[0]
    refuse_known()
    chain.reverse()
    known = {c.id for c in chain}
    side: list[Commit] = []
    pending = [p for c in chain for p in c.parents[1:]]
    while pending:
        sha = pending.pop()
        if sha in known or sha == head or served.position(sha) is not None:
            continue
        known.add(sha)
        commit = objects[sha]
        if not isinstance(commit, Commit):
            raise PushRefused(f"{sha.decode()} is not a commit")
        side.append(commit)
        pending.extend(commit.parents)
    return chain, side


def check_objects(commits: list[Commit], trees: PushedTrees) -> dict[bytes, list[Change]]:
    """Every path a pushed commit adds or changes is safe: plain files, portable names.

    Each commit is compared with its first parent, whose tree is the served
    history's or was checked the same way, so a commit costs what it
    changed. Returns each commit's changes, which planning it needs again.
    """
    checked: set[tuple[str, int | None]] = set()
    diffs: dict[bytes, list[Change]] = {}
    for commit in commits:
        parent = trees.objects[commit.parents[0]].tree if commit.parents else None
        diffs[commit.id] = changes = list(trees.diff(parent, commit.tree))
        where = summary_of(commit)
        for path, _old, new, mode in changes:
            if new is None or mode is None or (path, mode) in checked:
                continue
            checked.add((path, mode))
            if stat.S_ISLNK(mode):
                raise PushRefused(f"{path}: symbolic links cannot be pushed to the wiki ({where})")
            if mode == GITLINK_MODE:
                raise PushRefused(f"{path}: submodules cannot be pushed to the wiki ({where})")
            if mode & 0o111:
                raise PushRefused(f"{path}: executable files cannot be pushed to the wiki "
                                  f"(git update-index --chmod=-x {path}) ({where})")
            if mode != BLOB_MODE:
                raise PushRefused(f"{path}: unusual file mode {mode:o}; pages are plain 100644 files ({where})")
            if not unicodedata.is_normalized("NFC", path):
                raise PushRefused(f"{path}: the name is not in Unicode NFC form (as macOS may write it): "
                                  f"name it {unicodedata.normalize('NFC', path)} ({where})")
            problem = path_problem(path)
            if problem:
                raise PushRefused(f"{path}: {problem} ({where})")
    return diffs


def check_upload(config: Config, path: str, name: str, data: bytes, where: str) -> None:
    """A Media file the wiki accepts: within $wgMaxUploadSize, and a name and content MediaWiki's
    upload verification passes (:func:`gitaccess.push.uploads.upload_problem`)."""
    if len(data) > config.max_upload_size:
        raise PushRefused(f"{path}: {len(data)} bytes, more than the wiki's maximum upload size of "
                          f"{config.max_upload_size} bytes ({where})")
    problem = upload_problem(name, data, config.upload_extensions)
    if problem:
        raise PushRefused(f"{path}: {problem} ({where})")


def check_text(config: Config, path: str, data: bytes, model: str | None, where: str) -> None:
    """A page's text the wiki accepts: within the maximum page size, UTF-8 without carriage
    returns, and valid JSON for a JSON page."""
    limit = config.max_page_size
    if len(data) > limit:
        raise PushRefused(f"{path}: {len(data)} bytes, more than the wiki's maximum page size of "
                          f"{limit} bytes ({where})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushRefused(f"{path}: not UTF-8 text (byte {exc.start}); wiki pages are UTF-8 ({where})") from None
    if "\r" in text:
        raise PushRefused(f"{path}: contains carriage returns (CRLF line endings); set core.autocrlf=input "
                          f"(or false), renormalise and commit again ({where})")
    if model == "json":
        try:
            json.loads(text)
        except ValueError as exc:
            raise PushRefused(f"{path}: invalid JSON ({exc}) ({where})") from None
