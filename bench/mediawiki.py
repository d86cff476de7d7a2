"""The comparison users have today: git-remote-mediawiki cloning the same wiki from a real MediaWiki.

A real MediaWiki 1.39 (``shared/peers/mediawiki/mw-peer.sh``, SQLite) is
started, and its database file is replaced by a copy of the generated wiki
(as tests/dumps/test_dump_roundtrip.py does with imported dumps: MediaWiki serves
a gitaccess standalone database as its own). Then ``git clone
mediawiki::<wiki>`` (Debian package git-mediawiki) clones it through the
Action API, with its defaults: the main namespace only, every revision.
gitaccess's figure is its warm clone of the whole repository (every
included namespace, so more than git-remote-mediawiki fetches).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench import wikidir
from bench.report import Result

if TYPE_CHECKING:
    from bench.run import Runner

REMOTE_HELPER = Path("/usr/lib/git-core/git-remote-mediawiki")
#: Longest git-remote-mediawiki clone waited for (its users report 8 hours for 100,000 edits).
DEADLINE = 3 * 3600


def _swap(peer: object, database: Path) -> None:
    from tests.mediawiki import MediaWikiPeer

    assert isinstance(peer, MediaWikiPeer)
    MediaWikiPeer._run("stop", peer.dir, version=peer.version)
    target = Path(peer.env["MW_SQLITE_DB"])
    for leftover in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    with sqlite3.connect(database) as source, sqlite3.connect(target) as destination:
        source.backup(destination)
    port = peer.env["MW_SERVER"].rsplit(":", 1)[1]
    started = MediaWikiPeer._run("start", peer.dir, port, version=peer.version)
    if started.returncode != 0:
        raise RuntimeError(f"MediaWiki did not restart on the generated database:\n{started.stderr[-2000:]}")


def scenario(runner: Runner) -> Result:
    result = Result("mediawiki", "clone: git-remote-mediawiki from MediaWiki (main namespace only)", "s")
    if not REMOTE_HELPER.exists():
        result.status, result.note = "skipped", "git-remote-mediawiki is not installed (Debian package git-mediawiki)"
        return result
    try:
        from tests.mediawiki import MediaWikiPeer, PeerUnavailable
    except ImportError as exc:
        result.status, result.note = "skipped", f"tests/mediawiki.py cannot be imported: {exc}"
        return result
    clone = next((r for r in runner.results if r.scenario == "clone"), None)
    result.gitaccess = clone.gitaccess if clone else None
    try:
        # 1.39: the generated wiki is a standalone database, which has MediaWiki 1.39's tables.
        peer = MediaWikiPeer.start("sqlite", "1.39")
    except PeerUnavailable as exc:
        result.status, result.note = "skipped", f"no MediaWiki here: {exc}"
        return result
    try:
        settings = runner.settings
        pristine, _ = wikidir.pristine(settings.root, settings.size, settings.seed)
        _swap(peer, pristine / "wiki.sqlite")
        base = peer.api_url.rsplit("/api.php", 1)[0]
        target = runner.scratch / "remote-mediawiki"
        runner.log(f"git-remote-mediawiki: cloning {base} (deadline {DEADLINE} s) ...")
        started = time.perf_counter()
        try:
            done = runner.client.run("clone", "-q", f"mediawiki::{base}", str(target), check=False, timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            result.status = "incomplete"
            result.note = f"git-remote-mediawiki did not finish within {DEADLINE} s"
            result.reference = float(DEADLINE)
            return result
        result.reference = time.perf_counter() - started
        if done.returncode != 0:
            result.status = "failed"
            result.note = done.stderr.decode(errors="replace").strip().splitlines()[-1][:200]
            return result
        commits = runner.client.run("rev-list", "--count", "HEAD", cwd=target).stdout.decode().strip()
        files = sum(1 for p in target.iterdir() if p.suffix == ".mw")
        faster = f"gitaccess {result.reference / result.gitaccess:.0f}x faster; " if result.gitaccess else ""
        result.note = (f"{faster}git-remote-mediawiki: {commits} commits, {files} pages (.mw files); "
                       "gitaccess: warm clone of every included namespace"
                       + ("" if clone else " (run the clone scenario too for its figure)"))
        shutil.rmtree(target, ignore_errors=True)
    finally:
        peer.stop()
    return result
