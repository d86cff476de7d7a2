"""Clone and fetch with the real git client, protocol v0 and v2, under Werkzeug's server."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.pack import OFS_DELTA
from flask import Flask

from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.protocol.http import git_blueprint
from gitaccess.protocol.upload_pack import FetchLimits
from tests.protocol_helpers import (
    CountingRepository,
    GitClient,
    RequestRecorder,
    Served,
    add_commit,
    add_local_commits,
    all_objects,
    anonymous_gate,
    dev_server,
    make_app,
    make_history,
    old_revision_missing_at_tip,
    pack_types,
    rev_parse,
    run_git,
)

HISTORY = 300


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_history(tmp_path / "source.git", HISTORY)


@pytest.fixture
def served(source: Path) -> Iterator[CountingRepository]:
    repository = CountingRepository(GitDirRepository(source))
    yield repository
    repository.inner.close()  # type: ignore[attr-defined]


@pytest.fixture
def server(served: CountingRepository) -> Iterator[Served]:
    with dev_server(make_app(served, anonymous_gate())) as running:
        yield running


@pytest.fixture(params=[0, 2], ids=["v0", "v2"])
def git(request: pytest.FixtureRequest, tmp_path: Path) -> GitClient:
    return GitClient(tmp_path / "home", request.param)


def commits(clone: Path, rev: str = "origin/master") -> int:
    return int(run_git("rev-list", "--count", rev, cwd=clone).stdout)


def line_objects(path: Path, rev: str) -> set[str]:
    return {line.split(" ")[0] for line in run_git("rev-list", "--objects", rev, cwd=path).stdout.splitlines()}


def test_clone_equals_the_source(source: Path, server: Served, git: GitClient, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    result = git("clone", "--progress", server.url, str(clone))
    assert all_objects(clone) == all_objects(source)
    assert rev_parse(clone, "HEAD") == rev_parse(source, "master")
    assert rev_parse(clone, "v1") == rev_parse(source, "v1")  # the annotated tag object itself
    git("fsck", "--strict", cwd=clone)
    assert re.search(r"remote: Counting objects: 100% \((\d+)/\1\), done", result.stderr)
    assert "remote: Compressing objects: 100%" in result.stderr
    assert "remote: Total" in result.stderr
    types = pack_types(clone)
    assert types[OFS_DELTA] > sum(types.values()) / 2, types  # page revisions go as deltas
    [index] = (clone / ".git" / "objects" / "pack").glob("*.idx")
    assert "chain length = 1:" in git("verify-pack", "-v", str(index)).stdout


def test_protocol_v1_clone(source: Path, server: Served, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    GitClient(tmp_path / "home", 1)("clone", "-q", server.url, str(clone))
    assert rev_parse(clone, "HEAD") == rev_parse(source, "master")


def test_new_annotated_tags_follow_a_fetch(source: Path, server: Served, git: GitClient, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "-q", server.url, str(clone))
    add_commit(source, {"(Main)/Tagged.wiki": b"release notes\n"})
    run_git("-c", "user.name=Release", "-c", "user.email=release@localhost", "tag", "-a", "v2", "-m", "Second",
            "master", cwd=source)
    git("fetch", "-q", cwd=clone)
    assert rev_parse(clone, "v2") == rev_parse(source, "v2")


def test_quiet_clone_asks_for_no_progress(server: Served, git: GitClient, tmp_path: Path) -> None:
    result = git("clone", "-q", server.url, str(tmp_path / "clone"))
    assert "remote:" not in result.stderr


def test_url_without_dot_git(source: Path, server: Served, git: GitClient, tmp_path: Path) -> None:
    git("clone", "-q", server.url.removesuffix(".git"), str(tmp_path / "clone"))
    assert rev_parse(tmp_path / "clone", "HEAD") == rev_parse(source, "master")


@pytest.mark.parametrize("protocol", [0, 2], ids=["v0", "v2"])
def test_fetch_of_one_commit_costs_what_is_new(tmp_path: Path, protocol: int, caplog: pytest.LogCaptureFixture) -> None:
    """The server's work for a one-commit fetch is the same after 100 or 400 commits of history."""
    work = []
    for size in (100, 400):
        source = make_history(tmp_path / f"source{size}.git", size, seed=size)
        served = CountingRepository(GitDirRepository(source))
        git = GitClient(tmp_path / "home", protocol)
        clone = tmp_path / f"clone{size}"
        with dev_server(make_app(served, anonymous_gate())) as server:
            git("clone", "-q", server.url, str(clone))
            page = "(Main)/Start_0.wiki"
            text = run_git("cat-file", "blob", f"master:{page}", cwd=source).stdout.encode()
            add_commit(source, {page: text + b"One more line.\n"})
            served.reset()
            with caplog.at_level(logging.INFO, logger="gitaccess.protocol.upload_pack"):
                git("fetch", "-q", cwd=clone)
        served.inner.close()  # type: ignore[attr-defined]
        assert rev_parse(clone, "origin/master") == rev_parse(source, "master")
        git("fsck", "--strict", cwd=clone)
        new_objects = line_objects(clone, "origin/master") - line_objects(clone, "master")
        assert served.counts["introduced_calls"] == 1
        assert served.counts["objects_enumerated"] == len(new_objects) == 4  # commit, 2 trees, 1 blob
        work.append(dict(served.counts))
    assert work[0] == work[1], work
    # the page's new revision went as a delta against the revision the client has (thin pack)
    assert "sent 4 objects, 3 as deltas (3 against objects the client has)" in caplog.text


def test_shallow_clone_fetch_deepen_and_unshallow(source: Path, server: Served, git: GitClient,
                                                  tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "-q", "--depth", "1", server.url, str(clone))
    assert commits(clone) == 1
    git("fsck", cwd=clone)

    page, old_text = old_revision_missing_at_tip(source)
    add_commit(source, {page: old_text}, "Revert to an old revision")
    git("fetch", "-q", cwd=clone)  # the revived blob must come although it is "old"
    assert rev_parse(clone, "origin/master") == rev_parse(source, "master")
    assert run_git("cat-file", "blob", f"origin/master:{page}", cwd=clone).stdout.encode() == old_text
    git("fsck", cwd=clone)

    git("fetch", "-q", "--depth", "5", cwd=clone)
    assert commits(clone) == 5
    git("fetch", "-q", "--deepen", "3", cwd=clone)
    assert commits(clone) == 8
    since = run_git("log", "-1", "--format=%ct", "master~20", cwd=source).stdout.strip()
    git("fetch", "-q", f"--shallow-since=@{since}", cwd=clone)
    assert commits(clone) == 21
    git("fsck", cwd=clone)

    git("fetch", "-q", "--unshallow", cwd=clone)
    assert not (clone / ".git" / "shallow").exists()
    assert line_objects(clone, "origin/master") == line_objects(source, "master")
    git("fsck", "--strict", cwd=clone)


def test_shallow_window_across_a_merge(source: Path, server: Served, git: GitClient, tmp_path: Path) -> None:
    """The side branch of a merge inside the window is cut where its history leaves the window."""
    clone = tmp_path / "clone"
    git("clone", "-q", "--depth", "110", server.url, str(clone))
    assert run_git("rev-list", "--merges", "--count", "HEAD", cwd=clone).stdout.strip() == "1"
    git("fsck", cwd=clone)
    git("fetch", "-q", "--unshallow", cwd=clone)
    assert not (clone / ".git" / "shallow").exists()  # the cut side branch is whole again too
    assert line_objects(clone, "origin/master") == line_objects(source, "master")
    git("fsck", "--strict", cwd=clone)


def test_empty_repository_clones(tmp_path: Path, git: GitClient) -> None:
    empty = tmp_path / "empty.git"
    run_git("init", "-q", "--bare", "-b", "master", str(empty))
    repository = GitDirRepository(empty)
    with dev_server(make_app(repository, anonymous_gate())) as server:
        result = git("clone", server.url, str(tmp_path / "clone"))
    repository.close()
    assert "You appear to have cloned an empty repository" in result.stderr


@pytest.mark.parametrize("framing", ["chunked", "gzip"])
def test_large_negotiation_bodies(source: Path, served: CountingRepository, git: GitClient, tmp_path: Path,
                                  framing: str) -> None:
    """A clone with many commits of its own sends big have lists: chunked (over postBuffer) or gzipped."""
    config, local_commits = [], 100
    if framing == "chunked":
        # git's v2 client aborts (a BUG() in remote-curl.c) with a postBuffer below one pkt-line,
        # so v2 needs a body over 64 KiB: a longer have list.
        config = ["http.postBuffer=1024"] if git.protocol == 0 else ["http.postBuffer=65536"]
        local_commits = 100 if git.protocol == 0 else 3000
    app = make_app(served, anonymous_gate())
    recorder = RequestRecorder(app)
    clone = tmp_path / "clone"
    with dev_server(app) as server:
        git("clone", "-q", server.url, str(clone))
        add_local_commits(clone, local_commits)
        add_commit(source, {"(Main)/Fresh.wiki": b"new page\n"})
        git("fetch", "-q", cwd=clone, config=config)
    assert rev_parse(clone, "origin/master") == rev_parse(source, "master")
    expected = ("chunked", "") if framing == "chunked" else ("", "gzip")
    assert expected in recorder.posts, recorder.posts


def test_fetch_after_history_was_rewritten(source: Path, served: CountingRepository, server: Served, git: GitClient,
                                           tmp_path: Path) -> None:
    """After a redaction the branch moves non-fast-forward; the client's old tip is off the line."""
    clone = tmp_path / "clone"
    git("clone", "-q", server.url, str(clone))
    run_git("update-ref", "refs/heads/master", rev_parse(source, "master~5"), cwd=source)
    add_commit(source, {"(Main)/Redacted.wiki": b"history rewritten here\n"})
    served.reset()
    result = git("fetch", cwd=clone)
    assert "forced update" in result.stderr
    assert rev_parse(clone, "origin/master") == rev_parse(source, "master")
    assert served.counts["introduced_calls"] == 1  # common ground found below the client's old tip
    git("fsck", "--strict", cwd=clone)


@pytest.mark.parametrize("protocol", [0, 2], ids=["v0", "v2"])
def test_a_negotiation_round_over_the_limits_is_refused(source: Path, served: CountingRepository, tmp_path: Path,
                                                        protocol: int) -> None:
    git = GitClient(tmp_path / "home", protocol)
    app = Flask("limited")
    app.register_blueprint(git_blueprint(lambda: served, anonymous_gate(), fetch_limits=FetchLimits(max_wants=1)))
    with dev_server(app) as limited:
        refused = git("clone", limited.url, str(tmp_path / "refused"), check=False)
    assert refused.returncode != 0
    assert re.search(r"the fetch wants \d+ objects in one request, more than this server's limit of 1: ",
                     refused.stderr)
    clone = tmp_path / "clone"
    app = Flask("few-haves")
    app.register_blueprint(git_blueprint(lambda: served, anonymous_gate(), fetch_limits=FetchLimits(max_haves=100)))
    with dev_server(app) as limited:
        git("clone", "-q", limited.url, str(clone))
        add_local_commits(clone, 300)
        add_commit(source, {"(Main)/After.wiki": b"after\n"})
        fetched = git("fetch", cwd=clone, check=False)
    assert fetched.returncode != 0
    assert re.search(r"the fetch sends \d+ haves in one round, more than this server's limit of 100", fetched.stderr)
    assert rev_parse(clone, "origin/master") != rev_parse(source, "master")
