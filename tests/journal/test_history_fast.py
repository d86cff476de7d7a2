"""The shortcuts of a long history: placing only what changed, and the packs the cache keeps.

Both must be invisible: the same SHA-1s as placing every page for every
commit, and packs that read back and stream as one valid pack.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from dulwich.objects import Blob, ShaFile
from sqlalchemy import delete, event, func, select

from bench.generate import config_for, create_wiki
from bench.plan import BENCH_USER, SIZES
from gitaccess.app import create_app
from gitaccess.cache import objectcache as cache_module
from gitaccess.cache.objectcache import JOIN_FACTOR, ObjectCache, _introduced
from gitaccess.objects.deltas import compose
from gitaccess.journal.builder import Builder
from gitaccess.objects.packing import MAX_DELTA_DEPTH, RecentObjects
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.tree.view import RepositoryView
from gitaccess.wiki.writer import Editor, WikiWriter

JOURNAL = ("git_hash", "git_edit_hash", "git_status_modify_hash", "git_alias", "git_object", "git_site")


def journal_of(site: Site) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every journaled commit and alias, journal positions counted from the first commit."""
    t = site.db.tables
    with site.db.read() as conn:
        commits = [r._mapping for r in conn.execute(t.git_hash.select().order_by(t.git_hash.c.gh_seq))]
        first = commits[0]["gh_seq"]
        aliases = sorted((r.ga_path, r.ga_namespace, r.ga_title, r.ga_seq - first)
                         for r in conn.execute(t.git_alias.select()))
    return [tuple(v for k, v in row.items() if k != "gh_seq") for row in commits], aliases


@pytest.mark.parametrize("seed", [1, 2])
def test_placing_what_changed_gives_the_sha1s_of_placing_everything(tmp_path: Path, seed: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A generated wiki (hostile and case-conflicting titles, subpages, uploads, moves, deletions)
    journals the same commits and aliases when every tree is placed from scratch."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], seed)
    site = Site(config_for(tmp_path / "wiki"))
    placements = []
    place_all = Builder._place_all
    monkeypatch.setattr(Builder, "_place_all", lambda self: placements.append(1) or place_all(self))
    WikiRepository(site, tmp_path / "kept").refresh()
    kept = journal_of(site)
    assert len(placements) < len(kept[0]) / 5  # the shortcut was taken: this test compares something
    assert kept[1]  # and some pages needed aliases

    with site.db.write() as conn:
        for table in JOURNAL:
            conn.execute(delete(site.db.tables[table]))
    monkeypatch.setattr(RepositoryView, "update", lambda self, changes, fresh: None)
    WikiRepository(site, tmp_path / "afresh").refresh()
    afresh = journal_of(site)
    assert [row[0] for row in afresh[0]] == [row[0] for row in kept[0]]  # gh_sha1, commit by commit
    assert afresh == kept


def test_cache_packs_read_back_and_stream_as_one_pack(tmp_path: Path) -> None:
    """Objects stored as deltas against objects of earlier packs read back; the packs, joined or
    not, stream as one pack git accepts whole; a cache of an older shape is rebuilt."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 3)
    site = Site(config_for(tmp_path / "wiki"))
    repo = WikiRepository(site, tmp_path / "cache")
    repo.refresh()
    head = repo.cache.head()
    assert head is not None
    commits = repo.commits_since(-1)
    objects = [entry for commit in commits for entry in repo.introduced(commit)]
    deltas = sum(1 for entry in objects if entry.base)
    assert deltas > len(objects) / 4
    for entry in objects:
        assert repo.object_store().get_raw(entry.sha)[0] == entry.type_num

    early = ObjectCache(tmp_path / "cache")  # another process, holding the packs open while they are joined
    assert objects[0].sha in early.object_store
    for count in (1, 40):  # many small packs (one per catch-up), then joined into one
        _add_commits(site, repo, count)
    for entry in objects:
        assert early.object_store.get_raw(entry.sha)[0] == entry.type_num
    assert all(entry.sha in early.object_store for entry in repo.introduced(repo.cache.head()[1]))
    fresh = ObjectCache(tmp_path / "cache")
    sizes = [(fresh.pack_dir / f"{name}.pack").stat().st_size for name in fresh._pack_names()]
    assert len(sizes) <= 8  # 42 appends, joined as they came: sizes grow from the newest to the oldest
    assert sizes[0] >= JOIN_FACTOR * sizes[-1]
    for commit in fresh.commits_since(-1):
        for sha, type_num, _base in fresh.introduced(commit):
            read_type, data = fresh.object_store.get_raw(sha)
            assert read_type == type_num and ShaFile.from_raw_string(read_type, data).id == sha
    total, chunks = fresh.stream()
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True)
    data = b"".join(chunks)
    pack = b"PACK" + struct.pack(">II", 2, total) + data
    pack += hashlib.sha1(pack).digest()
    subprocess.run(["git", "index-pack", "--stdin", "--strict"], input=pack, cwd=mirror, check=True,
                   capture_output=True)
    tip = fresh.head()[1].decode()
    subprocess.run(["git", "update-ref", "refs/heads/master", tip], cwd=mirror, check=True)
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=mirror, check=True, capture_output=True)
    assert subprocess.run(["git", "rev-list", "--count", tip], cwd=mirror, capture_output=True, text=True,
                          check=True).stdout.strip() == str(len(fresh.commits_since(-1)))

    (tmp_path / "cache" / "format").write_text("1")
    assert ObjectCache(tmp_path / "cache").head() is None


def _add_commits(site: Site, repo: WikiRepository, count: int) -> None:
    """Edit a page ``count`` times, the repository catching up after each edit."""
    editor = Editor(BENCH_USER, 1, frozenset({"sysop"}))
    for n in range(count):
        with site.db.write() as conn:
            WikiWriter(site.db, conn, titles=site.titles).save(0, "Packs_test", f"version {n}\n" * 50,
                                                               editor=editor, summary=f"edit {n}")
        repo.refresh()


def test_a_process_holding_the_state_neither_reads_the_stored_one_nor_a_text_per_revision(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The costs that would grow with the wiki rather than with what is new: the stored state
    (megabytes of JSON on a large wiki) read again by a process that holds a newer one, a query
    per revision for its text, per commit for its aliases or per new page for its moves while
    building or rebuilding history, and statements per commit to journal it."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    site = Site(config_for(tmp_path / "wiki"))
    statements: list[str] = []
    event.listen(site.db.engine, "before_cursor_execute",
                 lambda _conn, _cursor, sql, *_rest: statements.append(" ".join(sql.split())))
    repo = WikiRepository(site, tmp_path / "cache")
    repo.refresh()
    with site.db.read() as conn:
        revisions = conn.execute(select(func.count()).select_from(site.db.tables.revision)).scalar_one()
    reads = lambda table: [s for s in statements if f"FROM {table} " in s + " "]  # noqa: E731
    moves = lambda: [s for s in reads("logging") if "log_type = " in s]  # noqa: E731
    writes = lambda table: [s for s in statements if s.startswith(f"INSERT INTO {table} ")]  # noqa: E731
    assert revisions > 150 and 0 < len(reads("text")) < revisions / 4
    assert len(moves()) == 1 and len(writes("git_hash")) == len(writes("git_edit_hash")) == 1

    statements.clear()
    assert repo.history.verify() == repo.cache.count()
    assert 0 < len(reads("text")) < revisions / 4 and len(reads("git_alias")) == 1 and len(moves()) == 1

    monkeypatch.setattr(ObjectCache, "state", lambda self: pytest.fail("the stored state was read"))
    _add_commits(site, repo, 2)
    assert repo.cache.head()[1] == repo._kept[0]  # type: ignore[index]


def test_a_process_without_the_state_replays_the_commits_since_the_stored_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state is stored every few hundred commits only; a process that does not hold it
    (another worker, a restart) starts from the stored one and replays the commits since,
    ending where a process that held it all along is, commit for commit."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    site = Site(config_for(tmp_path / "wiki"))
    WikiRepository._kept_states.clear()
    repo = WikiRepository(site, tmp_path / "cache")
    repo.refresh()
    stored_at = repo.cache.state()
    _add_commits(site, repo, 5)
    head = repo.cache.head()
    assert stored_at is not None and head is not None
    assert repo.cache.state() == stored_at and stored_at[0] != head[1]  # not stored again for 5 commits
    held = repo._kept
    assert held is not None and held[0] == head[1]

    WikiRepository._kept_states.clear()  # another process
    monkeypatch.setattr(ObjectCache, "reset", lambda self: pytest.fail("the cache was thrown away"))
    other = WikiRepository(site, tmp_path / "cache")
    assert other.take_state(head[1]).to_json() == held[1].to_json()
    _add_commits(site, other, 1)
    assert other.cache.head()[0] == head[0] + 1  # type: ignore[index]

    caught_up = other._kept
    afresh = WikiRepository(site, tmp_path / "afresh")
    afresh.refresh()  # replays the whole journal, checking every SHA-1 (the last commit's included)
    assert afresh.cache.head() == other.cache.head()
    assert afresh._kept is not None and caught_up is not None
    assert afresh._kept[1].to_json() == caught_up[1].to_json()


def test_a_warmed_process_catches_up_from_the_placed_state(tmp_path: Path) -> None:
    """A serving process warms up as it starts: it holds the stored state with every page placed,
    so its first catch-up changes that placement instead of placing the whole wiki again, and
    makes the commit a process building everything afresh makes."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    site = Site(config_for(tmp_path / "wiki"))
    WikiRepository._kept_states.clear()
    WikiRepository(site, tmp_path / "cache").refresh()
    _add_commits(site, WikiRepository(site, tmp_path / "cache"), 3)  # the stored state is 3 commits back

    WikiRepository._kept_states.clear()  # a new process
    repo = WikiRepository(site, tmp_path / "cache")
    repo.warm()
    warmed = repo._kept
    assert warmed is not None and warmed[0] == repo.cache.head()[1]  # type: ignore[index]
    view = warmed[1].view
    assert view is not None and view.tree == warmed[1].tree
    _add_commits(site, repo, 1)
    caught_up = repo._kept
    assert caught_up is not None and caught_up[1].view is view  # updated in place, not placed again

    afresh = WikiRepository(site, tmp_path / "afresh")
    afresh.refresh()
    assert afresh.cache.head() == repo.cache.head()


def test_a_worker_warms_up_in_the_background_when_a_cache_exists(tmp_path: Path) -> None:
    """As a worker starts (gitaccess serve's hook; any server's first request), never while the
    app is built: gunicorn may fork its workers from the process that built it."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    config = config_for(tmp_path / "wiki")
    site = Site(config)
    WikiRepository._kept_states.clear()
    create_app(config).extensions["gitaccess.worker_started"]()  # no cache yet: nothing to read
    assert not [t for t in threading.enumerate() if t.name == "gitaccess-warm"]
    WikiRepository(site).refresh()
    WikiRepository._kept_states.clear()
    app = create_app(config)
    assert not [t for t in threading.enumerate() if t.name == "gitaccess-warm"]
    app.extensions["gitaccess.worker_started"]()
    for thread in threading.enumerate():
        if thread.name == "gitaccess-warm":
            thread.join(60)
    assert WikiRepository._kept_states.get(WikiRepository.cache_directory(site)) is not None


def test_a_version_no_longer_in_memory_is_still_stored_as_a_delta_against_the_one_before(tmp_path: Path) -> None:
    """With no recent object in memory, every base is read back, from the pack being written or
    from an earlier one: each new version of a page is still a delta, and reads back right."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    site = Site(config_for(tmp_path / "wiki"))
    repo = WikiRepository(site, tmp_path / "cache")
    repo.cache._recent = RecentObjects(0)  # holds nothing
    editor = Editor(BENCH_USER, 1, frozenset({"sysop"}))
    texts = ["".join(f"line {line} of version {n if line == n else 0}\n" for line in range(200)) for n in range(12)]
    for n, text in enumerate(texts):
        with site.db.write() as conn:
            WikiWriter(site.db, conn, titles=site.titles).save(0, "Read_back", text, editor=editor, summary=f"edit {n}")
        if n in (0, 6):  # the first version in the tiny wiki's append, then appends of several
            repo.refresh()
    repo.refresh()
    with repo.cache.engine.connect() as conn:
        stored = {sha.encode(): (kind, depth) for sha, kind, depth in
                  conn.execute(select(_introduced.c.sha, _introduced.c.type, _introduced.c.depth))}
    blobs = [Blob.from_string(text.encode()).id for text in texts]
    assert [stored[blob][1] for blob in blobs] == list(range(12))
    assert sum(1 for kind, depth in stored.values() if kind == 2 and depth > 0) > 200  # trees too
    for sha in stored:
        assert ShaFile.from_raw_string(*repo.object_store().get_raw(sha)).id == sha


def test_a_long_lineage_restarts_its_delta_chains_from_earlier_versions_not_whole_copies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page edited hundreds of times is stored as one whole text and deltas: when a chain is
    full, the next version takes a shallower earlier version as its base instead of being
    stored whole again; chains stay within git's depth and every version reads back.
    Its directory's trees restart the same way, with the deltas between versions composed."""
    create_wiki(tmp_path / "wiki", SIZES["tiny"], 1)
    site = Site(config_for(tmp_path / "wiki"))
    repo = WikiRepository(site, tmp_path / "cache")
    repo.refresh()
    composed: list[int] = []
    monkeypatch.setattr(cache_module, "compose", lambda deltas: composed.append(len(deltas)) or compose(deltas))
    editor = Editor(BENCH_USER, 1, frozenset({"sysop"}))
    texts = ["".join(f"line {line} of version {n if line % 40 == n % 40 else 0}\n" for line in range(80))
             for n in range(320)]
    for n, text in enumerate(texts):
        with site.db.write() as conn:
            WikiWriter(site.db, conn, titles=site.titles).save(0, "Long_lineage", text, editor=editor,
                                                               summary=f"edit {n}")
        if n in (300, 310):  # most in one append (across chunks), the rest a few appends later
            repo.refresh()
    repo.refresh()
    blobs = {Blob.from_string(text.encode()).id for text in texts}
    with repo.cache.engine.connect() as conn:
        stored = {sha.encode(): depth for sha, depth in conn.execute(select(_introduced.c.sha, _introduced.c.depth))}
    assert blobs <= stored.keys()
    assert max(stored.values()) <= MAX_DELTA_DEPTH
    assert sum(1 for blob in blobs if stored[blob] == 0) == 1
    for blob in blobs:
        assert ShaFile.from_raw_string(*repo.object_store().get_raw(blob)).id == blob
    # The (Main) directory's 320 versions: restarted a few times, each from deltas composed
    # across up to BASE_WINDOW versions, never stored whole again; each reads back.
    store, trees = repo.object_store(), set()
    commit = store[repo.refs()[repo.head()]]
    while commit.parents:
        trees.update(sha for name, _mode, sha in store[commit.tree].iteritems() if name == b"(Main)")
        commit = store[commit.parents[0]]
    assert len(trees) > 320
    assert len(composed) >= 5 and max(composed) > 10
    assert sum(1 for tree in trees if stored[tree] == 0) <= 1
    for tree in trees:
        assert ShaFile.from_raw_string(*repo.object_store().get_raw(tree)).id == tree
