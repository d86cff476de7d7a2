"""Pushed objects are held to git's own fsck: each case is judged by ``git fsck --strict``
(which treats warnings as errors, as a fetch with transfer.fsckObjects does) and by
gitaccess, and the two must agree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dulwich.objects import Blob

from gitaccess.objects.entries import entries_problem, parse, reparse, reread_problem, special_blobs
from gitaccess.objects.fsck import commit_problem, gitmodules_problem

EMPTY_TREE = b"4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GOOD = b"A U Thor <author@example.org> 1700000000 +0100"

IDENTS = {
    "good": GOOD,
    "empty-name": b" <author@example.org> 1700000000 +0100",
    "two-spaces": b"A U Thor  <author@example.org> 1700000000 +0100",
    "timezone-five-digits": b"A U Thor <author@example.org> 1700000000 +99999",
    "timezone-letters": b"A U Thor <author@example.org> 1700000000 +0a00",
    "timezone-missing": b"A U Thor <author@example.org> 1700000000",
    "zero-padded-date": b"A U Thor <author@example.org> 01700000000 +0100",
    "date-overflow": b"A U Thor <author@example.org> 99999999999999999999 +0100",
    "no-date": b"A U Thor <author@example.org>  +0100",
    "no-space-before-date": b"A U Thor <author@example.org>1700000000 +0100",
    "no-email": b"A U Thor 1700000000 +0100",
    "no-name": b"<author@example.org> 1700000000 +0100",
    "no-space-before-email": b"A U Thor<author@example.org> 1700000000 +0100",
    "angle-in-name": b"A U >Thor <author@example.org> 1700000000 +0100",
    "angle-in-email": b"A U Thor <auth<or@example.org> 1700000000 +0100",
}

COMMITS = {
    **{f"author-{case}": b"tree %s\nauthor %s\ncommitter %s\n\nmessage\n" % (EMPTY_TREE, ident, GOOD)
       for case, ident in IDENTS.items()},
    **{f"committer-{case}": b"tree %s\nauthor %s\ncommitter %s\n\nmessage\n" % (EMPTY_TREE, GOOD, ident)
       for case, ident in IDENTS.items()},
    "two-authors": b"tree %s\nauthor %s\nauthor %s\ncommitter %s\n\nm\n" % (EMPTY_TREE, GOOD, GOOD, GOOD),
    "no-committer": b"tree %s\nauthor %s\n\nm\n" % (EMPTY_TREE, GOOD),
    "no-author": b"tree %s\ncommitter %s\n\nm\n" % (EMPTY_TREE, GOOD),
    "committer-first": b"tree %s\ncommitter %s\nauthor %s\n\nm\n" % (EMPTY_TREE, GOOD, GOOD),
    "tree-id-short": b"tree 4b825dc642\nauthor %s\ncommitter %s\n\nm\n" % (GOOD, GOOD),
    "header-unterminated": b"tree %s\nauthor %s\ncommitter %s" % (EMPTY_TREE, GOOD, GOOD),
    "no-message": b"tree %s\nauthor %s\ncommitter %s\n" % (EMPTY_TREE, GOOD, GOOD),
    "extra-header": b"tree %s\nauthor %s\ncommitter %s\nencoding UTF-8\n\nm\n" % (EMPTY_TREE, GOOD, GOOD),
}


def git(repo: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, check=False)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fsck")
    git(path, "init", "-q", "--bare", ".")
    assert git(path, "hash-object", "-t", "tree", "-w", "--stdin").stdout.strip() == EMPTY_TREE
    return path


def git_refuses(repo: Path, kind: str, raw: bytes, *also: bytes) -> bool:
    """Whether ``git fsck --strict`` reports the object, or the objects ``also`` it names
    (git's verdict)."""
    made = git(repo, "hash-object", "--literally", "-t", kind, "-w", "--stdin", stdin=raw)
    assert made.returncode == 0, made.stderr
    shas = [made.stdout.strip().decode(), *(sha.decode() for sha in also)]
    checked = git(repo, "fsck", "--strict", "--no-dangling", "--no-progress")
    verdict = [line for line in checked.stderr.decode().splitlines() + checked.stdout.decode().splitlines()
               if any(sha in line for sha in shas) and ("error" in line or "warning" in line)]
    git(repo, "prune", "--expire=now")
    return bool(verdict)


@pytest.mark.parametrize("raw", COMMITS.values(), ids=COMMITS.keys())
def test_commits_are_judged_as_git_fsck_judges_them(repo: Path, raw: bytes) -> None:
    assert (commit_problem(raw) is not None) == git_refuses(repo, "commit", raw)


def tree_bytes(*entries: tuple[bytes, int, bytes]) -> bytes:
    return b"".join(b"%o %s\0%s" % (mode, name, bytes.fromhex(sha.decode())) for name, mode, sha in entries)


BLOB = Blob.from_string(b"x\n").id
TREES = {
    "good": [(b"a", 0o100644, BLOB), (b"b", 0o040000, EMPTY_TREE)],
    "file-and-directory-apart": [(b"a", 0o100644, BLOB), (b"a.txt", 0o100644, BLOB), (b"a", 0o040000, EMPTY_TREE)],
    "dotgit-upper": [(b".GIT", 0o040000, EMPTY_TREE)],
    "dotgit-ntfs-short": [(b"git~1", 0o040000, EMPTY_TREE)],
    "dotgit-trailing-dot": [(b".git.", 0o040000, EMPTY_TREE)],
    "dotgit-hfs-ignorable": [(".g\u200cit".encode(), 0o040000, EMPTY_TREE)],
    "gitmodules-symlink": [(b".gitmodules", 0o120000, BLOB)],
    "gitmodules-ntfs-symlink": [(b"gitmod~1", 0o120000, BLOB)],
    "dot": [(b".", 0o040000, EMPTY_TREE)],
    "bad-mode": [(b"a", 0o100600, BLOB)],
    "unsorted": [(b"b", 0o100644, BLOB), (b"a", 0o100644, BLOB)],
}


@pytest.mark.parametrize("entries", TREES.values(), ids=TREES.keys())
def test_trees_are_judged_as_git_fsck_judges_them(repo: Path, entries: list[tuple[bytes, int, bytes]]) -> None:
    git(repo, "hash-object", "-w", "--stdin", stdin=b"x\n")
    raw = tree_bytes(*entries)
    ours = entries_problem([(name, mode, sha) for name, mode, sha in entries])
    assert (ours is not None) == git_refuses(repo, "tree", raw)


def test_a_duplicate_brought_in_by_a_new_version_is_found_without_reading_it_whole() -> None:
    """A tree sent as a delta is checked where it differs from its base: a new file ``a``
    whose directory ``a`` is not its neighbour must still be found."""
    base_entries = [(b"a.txt", 0o100644, BLOB), (b"a", 0o040000, EMPTY_TREE), (b"z", 0o100644, BLOB)]
    base = parse(tree_bytes(*base_entries))
    assert entries_problem(base.entries) is None
    new = reparse(base, tree_bytes((b"a", 0o100644, BLOB), *base_entries))
    assert reread_problem(base, new) == "duplicate entries"
    fine = reparse(base, tree_bytes((b"a-b", 0o100644, BLOB), *base_entries))
    assert reread_problem(base, fine) is None


GITMODULES = {
    "good": (b'[submodule "lib"]\n\tpath = lib\n\turl = https://example.org/lib.git\n', True),
    "not-config": (b"not ini\n", False),
    "url-option": (b'[submodule "lib"]\n\tpath = lib\n\turl = --upload-pack=touch evil\n', False),
    "path-option": (b'[submodule "lib"]\n\tpath = -lib\n\turl = https://example.org/lib.git\n', False),
    "name-climbs": (b'[submodule "../../hooks"]\n\tpath = lib\n\turl = https://example.org/lib.git\n', False),
}


@pytest.mark.parametrize("data, accepted", GITMODULES.values(), ids=GITMODULES.keys())
def test_gitmodules_files(repo: Path, data: bytes, accepted: bool) -> None:
    assert (gitmodules_problem(data) is None) == accepted
    tree = tree_bytes((b".gitmodules", 0o100644, Blob.from_string(data).id))
    assert special_blobs(parse(tree).entries) == [(b".gitmodules", Blob.from_string(data).id)]
    if data != b"not ini\n":  # git fsck only notes an unreadable .gitmodules; git pull dies on it
        git(repo, "hash-object", "-w", "--stdin", stdin=data)
        assert git_refuses(repo, "tree", tree, Blob.from_string(data).id) == (not accepted)
