"""A long run of commits stored by a second process while this one makes them.

What the writer stores must be what this process would have stored, and a
writer that fails, is killed or cannot start must leave the journal and the
cache agreeing, with nothing half-written left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from bench.generate import config_for, create_wiki
from bench.plan import SIZES
from gitaccess import repository
from gitaccess.cache import writer as cachewriter
from gitaccess.cache.objectcache import ObjectCache, _introduced
from gitaccess.cache.writer import CacheWriteError
from gitaccess.journal.builder import Builder
from gitaccess.repository import WikiRepository
from gitaccess.site import Site


@pytest.fixture
def site(tmp_path: Path) -> Site:
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    WikiRepository._kept_states.clear()
    return Site(config_for(tmp_path / "wiki"))


def stored(cache: ObjectCache) -> tuple[Any, ...]:
    """A cache's head, every object it holds (with the commit that introduced it, its delta
    base and chain depth), its stored wiki state, and its packs' names (their SHA-1s: the same
    bytes, whatever process wrote them)."""
    with cache.engine.connect() as conn:
        objects = {tuple(r) for r in conn.execute(select(_introduced))}
    return cache.head(), objects, cache.state(), sorted(p.name for p in cache.pack_dir.glob("*.pack"))


def test_what_the_writer_stores_is_what_this_process_would(site: Site, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repository, "BESIDE_COMMITS", 1)
    real_append = ObjectCache.append
    monkeypatch.setattr(ObjectCache, "append", lambda self, made, state: next(iter(made), None) and pytest.fail(
        "this process stored commits itself") or 0)
    built = WikiRepository(site, tmp_path / "built")
    built.refresh()  # journals the wiki: the writer stores the catch-up
    replayed = WikiRepository(site, tmp_path / "replayed")
    replayed.refresh()  # the journal exists: the writer stores the replay

    monkeypatch.setattr(ObjectCache, "append", real_append)
    monkeypatch.setattr(repository, "BESIDE_COMMITS", 10**9)
    here = WikiRepository(site, tmp_path / "here")
    here.refresh()
    assert stored(built.cache) == stored(replayed.cache) == stored(here.cache)
    head = here.cache.head()
    assert head is not None and head[0] > 150
    for cache in ("built", "replayed"):
        subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=tmp_path / cache / "objects.git",
                       check=True, capture_output=True)


def test_a_writer_killed_midway_leaves_neither_journal_nor_cache_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed once it has begun its pack (a few hundred commits in): the catch-up is rolled
    back, and the half-written pack is removed."""
    create_wiki(tmp_path / "wiki", SIZES["mini"], 1)
    site = Site(config_for(tmp_path / "wiki"))
    monkeypatch.setattr(repository, "BESIDE_COMMITS", 1)
    writers: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen
    monkeypatch.setattr(cachewriter.subprocess, "Popen", lambda *a, **k: writers.append(popen(*a, **k)) or writers[-1])
    tree = Builder.tree
    made = 0
    packs = tmp_path / "cache/objects.git/objects/pack"

    def tree_then_kill(self: Builder) -> Any:
        nonlocal made
        made += 1
        if made == 1000:
            deadline = time.monotonic() + 30
            while not list(packs.glob("tmp-*")) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert list(packs.glob("tmp-*")), "the writer began no pack"
            writers[0].send_signal(signal.SIGKILL)
            writers[0].wait()
        return tree(self)

    monkeypatch.setattr(Builder, "tree", tree_then_kill)
    repo = WikiRepository(site, tmp_path / "cache")
    with pytest.raises(CacheWriteError, match="exited with status -9"):
        repo.refresh()
    with site.db.read() as conn:
        assert repo.history.head(conn) is None  # the catch-up was rolled back
    assert repo.cache.head() is None and list(packs.iterdir()) == []

    monkeypatch.setattr(Builder, "tree", tree)
    repo.refresh()
    with site.db.read() as conn:
        assert repo.cache.head()[1] == repo.history.head(conn)  # type: ignore[index]


def test_a_writer_failing_at_the_end_leaves_the_journal_to_store_again(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commits were journaled (the catch-up committed) when the writer could not store
    them: the next refresh stores them from the journal."""
    monkeypatch.setattr(repository, "BESIDE_COMMITS", 1)
    repo = WikiRepository(site, tmp_path / "cache")
    locker = create_engine(f"sqlite:///{tmp_path / 'cache/index.sqlite'}", connect_args={"timeout": 0})
    with locker.connect() as conn:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")  # another program holds the index (5 s of waiting)
        with pytest.raises(CacheWriteError, match="locked"):
            repo.refresh()
        conn.execute(text("ROLLBACK"))
    locker.dispose()
    with site.db.read() as conn:
        journaled = repo.history.head(conn)
    assert journaled is not None and repo.cache.head() is None
    assert list((tmp_path / "cache/objects.git/objects/pack").iterdir()) == []
    repo.refresh()
    assert repo.cache.head()[1] == journaled  # type: ignore[index]


def test_without_a_writer_the_commits_are_stored_here(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """An interpreter that cannot run ``python -m`` (some embedded WSGI servers)."""
    monkeypatch.setattr(repository, "BESIDE_COMMITS", 1)
    monkeypatch.setattr(cachewriter.sys, "executable", "/bin/false")
    repo = WikiRepository(site, tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="gitaccess.cache.writer"):
        repo.refresh()
    assert "writing it here" in caplog.text
    with site.db.read() as conn:
        assert repo.cache.head()[1] == repo.history.head(conn)  # type: ignore[index]


def test_the_cache_is_the_same_bytes_whatever_the_hash_seed(tmp_path: Path) -> None:
    """Two builds in processes with different string hashing (sets iterate differently) write
    the same packs: a cache can be compared byte for byte with another one. (With these two
    seeds, the mini wiki's packs differed while a commit's directories were flushed in a set's
    order.)"""
    create_wiki(tmp_path / "wiki", SIZES["mini"], 1)
    script = ("import sys; from gitaccess.repository import WikiRepository; from gitaccess.site import Site; "
              "from bench.generate import config_for; from pathlib import Path; "
              "WikiRepository(Site(config_for(Path(sys.argv[1]))), Path(sys.argv[2])).refresh()")
    for seed in ("1", "3"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "wiki"), str(tmp_path / seed)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert sorted(p.name for p in (tmp_path / "1/objects.git/objects/pack").glob("*.pack")) == \
        sorted(p.name for p in (tmp_path / "3/objects.git/objects/pack").glob("*.pack"))
