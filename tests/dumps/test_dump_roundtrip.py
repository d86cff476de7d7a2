"""Round trip through a REAL MediaWiki 1.39: gitaccess imports a dump, MediaWiki dumps it again.

For every importable fixture dump (and one dump with file contents and a
redirect made here), ``gitaccess init`` + ``gitaccess import-dump`` (the real
command, in a subprocess) make a standalone SQLite wiki; that database file
then replaces the database of a real MediaWiki (mw-peer.sh, SQLite backend),
whose own ``dumpBackup.php`` exports it. Both dumps are read with
gitaccess.dumps.reader.read_dump and must show the same pages, revisions, texts,
authors, summaries, minor flags, file versions and log entries.

Only the wiki's database file (MW_SQLITE_DB) is swapped. MediaWiki's SQLite
installer keeps other stores beside it that hold no wiki content and stay as
they are: ``<db>_jobqueue.sqlite`` (the job queue, $wgJobTypeConf),
``<db>_l10n_cache.sqlite`` and ``cache/`` (localisation cache),
``wikicache.sqlite`` (object cache, sessions). MediaWiki needs no rows beyond
what ``gitaccess init`` and ``import-dump`` write to export the wiki and to
serve its API (no ``updatelog``, ``interwiki`` rows or Main Page needed).

Where a source dump lacks something, the importer's documented choice is
what MediaWiki must show: a revision without text has empty text, a revision
without contributor is by "Unknown user", a revision's parent is the page's
previous revision in the dump, an upload without file contents is skipped
(its description page is imported), every imported file version has its own
upload log entry.

Then the peer is restarted on the swapped database and its Action API must
serve the same history: MediaWiki accepts a gitaccess-made standalone wiki.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sqlite3
import struct
import subprocess
import sys
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from gitaccess.dumps.reader import Contributor, LogItem, Page, Revision, SiteInfo, Upload, read_dump
from gitaccess.dumps.importer import UNKNOWN_USER
from gitaccess.wiki.content import sha1_base36
from tests.conftest import SHARED
from tests.mediawiki import MediaWikiApi, MediaWikiPeer, PeerError, running_peer, wiki_timestamp_of

pytestmark = pytest.mark.mediawiki

DUMPS = SHARED / "fixtures" / "dumps"
BROKEN = "mwcore-Slots.import-1.xml"  # keeps an unfilled {{page1_title}} placeholder: must be refused
FIXTURES = sorted(p.name for p in DUMPS.glob("*.xml") if p.name != BROKEN)
SYNTHETIC = "synthetic-uploads-and-redirect.xml"
#: The account the restarted peer needs (mw-peer.sh start makes a BotPassword for it).
ADMIN_PASS = "AdminPass-1234"


# ---------------------------------------------------------------------- a dump with file contents
def png(width: int, height: int, shade: int = 0) -> bytes:
    """A real (tiny, one colour) PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([shade, shade, shade]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


OLD_PNG, NEW_PNG = png(3, 2, 10), png(5, 4, 200)


def _upload(ts: str, data: bytes, user: str, comment: str, archivename: str = "") -> str:
    archive = f"<archivename>{archivename}</archivename>" if archivename else ""
    return (f"<upload><timestamp>{ts}</timestamp><contributor><username>{user}</username><id>7</id></contributor>"
            f"<comment>{comment}</comment><filename>Roundtrip.png</filename>{archive}<size>{len(data)}</size>"
            f"<sha1base36>{sha1_base36(data)}</sha1base36>"
            f'<contents encoding="base64">{base64.b64encode(data).decode()}</contents></upload>')


def _rev(rev_id: int, ts: str, text: str, user: str, comment: str = "", minor: bool = False,
         model: str = "wikitext") -> str:
    return (f"<revision><id>{rev_id}</id><timestamp>{ts}</timestamp>"
            f"<contributor><username>{user}</username><id>7</id></contributor>"
            f"{'<minor/>' if minor else ''}{f'<comment>{comment}</comment>' if comment else ''}"
            f"<model>{model}</model><format>text/x-wiki</format>"
            f'<text xml:space="preserve">{text}</text></revision>')


SYNTHETIC_DUMP = (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">\n'
    "<page><title>Roundtrip target</title><ns>0</ns><id>10</id>"
    + _rev(20, "2020-01-01T00:00:00Z", "Target text with a [[link]]. Grüße 漢字", "Alice", "first")
    + _rev(21, "2020-01-02T00:00:00Z", "Target text, edited.\n\n== Section ==\nmore", "Bob", "second", minor=True)
    + "</page>\n<page><title>Roundtrip redirect</title><ns>0</ns><id>11</id>"
    + _rev(22, "2020-01-03T00:00:00Z", "#REDIRECT [[Roundtrip target]]", "Alice", "redirect")
    + "</page>\n<page><title>File:Roundtrip.png</title><ns>6</ns><id>12</id>"
    + _rev(23, "2020-02-01T00:00:00Z", "A picture. [[Category:Roundtrip]]", "Alice", "first version")
    + _upload("2020-02-01T00:00:00Z", OLD_PNG, "Alice", "first version", "20200301000000!Roundtrip.png")
    + _upload("2020-03-01T00:00:00Z", NEW_PNG, "Bob", "second version")
    + "</page>\n<page><title>User:Alice/common.css</title><ns>2</ns><id>13</id>"
    + _rev(24, "2020-04-01T00:00:00Z", "body { color: red; }", "Alice", "css", model="css")
    + "</page>\n</mediawiki>\n"
)


# ---------------------------------------------------------------------- the peer
@pytest.fixture(scope="module")
def peer() -> Iterator[MediaWikiPeer]:
    """One SQLite MediaWiki whose database file the tests replace: 1.39, because the replacement
    is a gitaccess standalone database, which has MediaWiki 1.39's tables."""
    with running_peer("sqlite", "1.39") as started:
        yield started


def _peer_command(peer: MediaWikiPeer, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = MediaWikiPeer._run(command, peer.dir, *args, version=peer.version, timeout=300)
    if proc.returncode != 0:
        raise PeerError(f"mw-peer.sh {command} failed:\n{proc.stderr[-3000:]}")
    return proc


def swap_database(peer: MediaWikiPeer, imported: Path) -> None:
    """Stop MediaWiki's server and put a consistent copy of ``imported`` in place of its database."""
    _peer_command(peer, "stop")
    target = Path(peer.env["MW_SQLITE_DB"])
    for leftover in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    source = sqlite3.connect(imported)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()


def restart(peer: MediaWikiPeer) -> None:
    """Serve the (swapped) database again on the same port."""
    port = peer.env["MW_SERVER"].rsplit(":", 1)[1]
    _peer_command(peer, "start", port)


def mediawiki_dump(peer: MediaWikiPeer, *options: str) -> bytes:
    """dumpBackup.php's export (stdout) of the peer's database."""
    proc = subprocess.run(["bash", str(SHARED / "peers" / "mediawiki" / "mw-peer.sh"), "maint", str(peer.dir),
                           "dumpBackup.php", *options, "--quiet"], capture_output=True, timeout=300,
                          env=os.environ | {"MW_VERSION": peer.version})
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-3000:]
    assert b"<mediawiki" in proc.stdout, proc.stderr.decode("utf-8", "replace")[-3000:]
    return proc.stdout


# ---------------------------------------------------------------------- gitaccess's side
def gitaccess(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "gitaccess"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gitaccess"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")}
    return subprocess.run([*command, *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=300)


def import_with_gitaccess(directory: Path, dump: Path, *config: str) -> tuple[Path, str]:
    """``gitaccess init`` + ``import-dump`` + an admin account, as a user does it:
    the database file and what the commands said on standard error (the import's warnings)."""
    database = directory / "wiki.sqlite"
    db = ("--db", f"sqlite:///{database}", *config)
    stderr = ""
    for args in (("init",), ("import-dump", str(dump)),
                 ("user", "add", "Admin", "--password", ADMIN_PASS, "--group", "sysop", "--group", "bureaucrat")):
        proc = gitaccess(directory, *db, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        stderr += proc.stderr
    return database, stderr


# ---------------------------------------------------------------------- comparing dumps
@dataclass(frozen=True)
class Rev:
    id: int | None
    parent_id: int | None
    timestamp: str
    user: str
    comment: str
    minor: bool
    model: str | None
    text: str
    sha1: str | None


@dataclass(frozen=True)
class File:
    timestamp: str
    user: str
    comment: str
    archived: bool
    size: int | None
    sha1: str | None
    contents: bytes | None


@dataclass
class Exported:
    pages: dict[tuple[int, str], Page]
    revisions: dict[tuple[int, str], list[Rev]]
    uploads: dict[tuple[int, str], list[File]]
    logs: list[LogItem]
    siteinfo: SiteInfo | None


def local_title(title: str, namespace: int | None) -> tuple[int, str]:
    """(namespace, title without its prefix): the two wikis name namespaces differently."""
    ns = namespace or 0
    if ns != 0 and ":" in title:
        title = title.split(":", 1)[1]
    return ns, title


def user_of(contributor: Contributor) -> str:
    return contributor.username or contributor.ip or UNKNOWN_USER


def read(source: Path | bytes) -> Exported:
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    out = Exported({}, {}, {}, [], None)
    key: tuple[int, str] | None = None
    for record in read_dump(stream):
        if isinstance(record, SiteInfo):
            out.siteinfo = record
        elif isinstance(record, Page):
            key = local_title(record.title, record.namespace)
            out.pages[key] = record
            out.revisions[key] = []
            out.uploads[key] = []
        elif isinstance(record, Revision):
            assert key is not None
            out.revisions[key].append(Rev(
                record.id, record.parent_id, record.timestamp, user_of(record.contributor), record.comment or "",
                record.minor, record.model, record.text if record.text is not None else "", record.sha1))
        elif isinstance(record, Upload):
            assert key is not None
            out.uploads[key].append(File(record.timestamp, user_of(record.contributor), record.comment or "",
                                         record.archivename is not None, record.size, record.sha1,
                                         record.contents))
        elif isinstance(record, LogItem):
            out.logs.append(record)
    for revs in out.revisions.values():
        revs.sort(key=lambda r: (r.timestamp, r.id or 0))
    return out


def expected_sha1(text: str) -> int:
    return int(sha1_base36(text.encode("utf-8")), 36)


def check_roundtrip(source: Exported, exported: Exported, warnings: str) -> None:
    """What MediaWiki exports is what the source dump holds (or gitaccess's documented choice)."""
    assert set(exported.pages) == {k for k, revs in source.revisions.items() if revs}, "the same pages"
    for key, revs in source.revisions.items():
        if not revs:
            assert f"{source.pages[key].title!r} has no revisions" in warnings
            continue
        page, theirs = source.pages[key], exported.revisions[key]
        assert exported.pages[key].namespace == key[0]
        if page.id is not None:
            assert exported.pages[key].id == page.id, f"{key}: the dump's page id is kept"
        assert len(theirs) == len(revs), key
        for index, (ours, mw) in enumerate(zip(revs, theirs)):
            where = f"{key} revision {ours.id}"
            if ours.id is not None:
                assert mw.id == ours.id, f"{where}: the dump's revision id is kept"
            assert mw.timestamp == ours.timestamp, where
            # No text in the dump (a very old or stub dump): imported as empty text, with a warning.
            assert mw.text == ours.text, where
            # No contributor in the dump: MediaWiki's importer's name for it.
            assert mw.user == ours.user, where
            assert mw.comment == ours.comment, where
            assert mw.minor == ours.minor, where
            if ours.model:
                assert mw.model == ours.model, where
            # rev_sha1 is recomputed from the text (the source's may be wrong, as in mwxml-dump.xml).
            assert mw.sha1 is not None and int(mw.sha1, 36) == expected_sha1(mw.text), where
            # The parent is the previous revision in the dump, whatever <parentid> the dump names.
            assert (mw.parent_id or 0) == (theirs[index - 1].id if index else 0), where
        latest = theirs[-1].text
        if latest.lower().startswith("#redirect"):
            target = latest.split("[[", 1)[1].split("]]", 1)[0]
            assert exported.pages[key].redirect == target, f"{key}: page_is_redirect and the redirect row"
        else:
            assert exported.pages[key].redirect is None, f"{key}: not a redirect"


def check_uploads(source: Exported, exported: Exported, warnings: str) -> None:
    """Every file version with contents comes back byte for byte; one without is skipped, with a warning."""
    for key, versions in source.uploads.items():
        kept = [v for v in versions if v.contents is not None]
        theirs = exported.uploads.get(key, [])
        if len(kept) < len(versions):
            assert f"{source.pages[key].title!r}" in warnings and "skipped" in warnings
        assert sorted(v.timestamp for v in theirs) == sorted(v.timestamp for v in kept), key
        by_time = {v.timestamp: v for v in theirs}
        for version in kept:
            mw = by_time[version.timestamp]
            assert mw.contents == version.contents, f"{key} {version.timestamp}: MediaWiki reads the stored file"
            assert mw.size == len(version.contents or b"")
            assert mw.sha1 is not None and int(mw.sha1, 36) == int(sha1_base36(version.contents or b""), 36)
            assert (mw.user, mw.comment, mw.archived) == (version.user, version.comment, version.archived)


#: Canonical namespace names, for log titles of dumps whose <siteinfo> lists too few namespaces.
CANONICAL = {"Talk": 1, "User": 2, "User talk": 3, "Project": 4, "File": 6, "Image": 6, "MediaWiki": 8,
             "Template": 10, "Help": 12, "Category": 14}


def log_key(item: LogItem) -> tuple[object, ...]:
    namespace = item.namespace
    prefix = (item.logtitle or "").partition(":")[0]
    if not namespace and prefix in CANONICAL:
        namespace = CANONICAL[prefix]
    return (item.id, item.type, item.action, item.timestamp, local_title(item.logtitle or "", namespace),
            user_of(item.contributor), item.comment or "", item.params or "")


def check_logs(source: Exported, exported: Exported) -> None:
    """The dump's log entries are MediaWiki's; the others are the upload entries gitaccess adds
    (one per imported file version, where MediaWiki's importer logs only the current one)."""
    ours = {log_key(item) for item in exported.logs}
    for item in source.logs:
        assert log_key(item) in ours, f"log entry {item.id} ({item.type}/{item.action})"
    extra = [item for item in exported.logs if log_key(item) not in {log_key(i) for i in source.logs}]
    versions = sorted((key, v.timestamp) for key, vs in source.uploads.items() for v in vs if v.contents is not None)
    assert sorted((local_title(i.logtitle or "", i.namespace), i.timestamp) for i in extra) == versions
    assert all(i.type == "upload" for i in extra)
    assert sorted(i.action for i in extra) == sorted(
        ["upload"] * len({k for k, _ in versions}) + ["overwrite"] * (len(versions) - len({k for k, _ in versions})))


def lacking(path: Path) -> tuple[set[tuple[int, str]], set[int]]:
    """Pages with a revision that has no text in the dump, and ids of revisions without contributor."""
    pages: set[tuple[int, str]] = set()
    anonymous: set[int] = set()
    key: tuple[int, str] | None = None
    for record in read_dump(path):
        if isinstance(record, Page):
            key = local_title(record.title, record.namespace)
        elif isinstance(record, Revision):
            assert key is not None
            if record.text is None and not record.text_deleted:
                pages.add(key)
            contributor = record.contributor
            if not (contributor.username or contributor.ip or contributor.deleted):
                assert record.id is not None
                anonymous.add(record.id)
    return pages, anonymous


# ---------------------------------------------------------------------- the API on the swapped database
def check_api(peer: MediaWikiPeer, source: Exported, exported: Exported) -> None:
    """MediaWiki, serving the gitaccess-made database, shows the same history through its API."""
    api = MediaWikiApi(peer.api_url)
    for key, revs in source.revisions.items():
        if not revs:
            continue
        title = exported.pages[key].title
        theirs = api.revisions(title, rvprop="ids|timestamp|user|comment|content|flags|size|sha1")
        assert [r["revid"] for r in theirs] == [r.id for r in exported.revisions[key]], title
        assert [wiki_timestamp_of(r["timestamp"]) for r in theirs] == [r.timestamp for r in revs], title
        assert [r.get("content", "") for r in theirs] == [r.text for r in revs], title
        assert [r["user"] for r in theirs] == [r.user for r in revs], title
        assert [r.get("comment", "") for r in theirs] == [r.comment for r in revs], title
        assert [r.get("minor", False) for r in theirs] == [r.minor for r in revs], title
        assert [r["size"] for r in theirs] == [len(r.text.encode()) for r in revs], title
        assert [r["sha1"] for r in theirs] == [hashlib.sha1(r.text.encode()).hexdigest() for r in revs], title
    # The swapped wiki is fully usable: the admin gitaccess created logs in and edits with MediaWiki.
    admin = MediaWikiApi(peer.api_url)
    admin.login(*peer.bot)
    pages = [k for k, revs in source.revisions.items() if revs]
    if pages:
        title = exported.pages[pages[0]].title
        made = admin.edit(title, "Edited by MediaWiki after the round trip.", summary="after", nocreate=True)
        assert made["oldrevid"] == exported.revisions[pages[0]][-1].id
    else:
        made = admin.edit("Roundtrip new page", "Created by MediaWiki after the round trip.", createonly=True)
    assert made["newrevid"] > max([r.id or 0 for revs in exported.revisions.values() for r in revs] + [0])


# ---------------------------------------------------------------------- the tests
def test_refused_fixture_is_not_imported(tmp_path: Path) -> None:
    """The one fixture that is not a real dump (an unfilled title placeholder) is refused."""
    proc = gitaccess(tmp_path, "--db", f"sqlite:///{tmp_path / 'wiki.sqlite'}", "init")
    assert proc.returncode == 0, proc.stderr
    proc = gitaccess(tmp_path, "--db", f"sqlite:///{tmp_path / 'wiki.sqlite'}", "import-dump", str(DUMPS / BROKEN))
    assert proc.returncode == 1 and "{{page1_title}}" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", [*FIXTURES, SYNTHETIC])
def test_mediawiki_dumps_what_gitaccess_imported(peer: MediaWikiPeer, tmp_path: Path, name: str) -> None:
    config: tuple[str, ...] = ()
    if name == SYNTHETIC:
        dump = tmp_path / name
        dump.write_text(SYNTHETIC_DUMP, "utf-8")
        # The files go where MediaWiki looks for them: its $wgUploadDirectory.
        toml = tmp_path / "gitaccess.toml"
        toml.write_text(f'[wiki]\nupload_directory = "{peer.dir / "images"}"\n', "utf-8")
        config = ("--config", str(toml))
    else:
        dump = DUMPS / name
    work = tmp_path / "wiki"
    work.mkdir()
    database, stderr = import_with_gitaccess(work, dump, *config)

    swap_database(peer, database)
    exported = read(mediawiki_dump(peer, "--full", "--uploads", "--include-files"))
    exported.logs = read(mediawiki_dump(peer, "--logs")).logs
    source = read(dump)

    check_roundtrip(source, exported, stderr)
    # What the source lacks, as the importer documents it: empty text (with a warning), "Unknown user".
    no_text, no_contributor = lacking(dump)
    for key in no_text:
        assert f"page {source.pages[key].title!r}: " in stderr and "without text" in stderr, key
        assert all(r.text == "" and r.sha1 == sha1_base36(b"") for r in exported.revisions[key]), key
    by_id = {r.id: r for revs in exported.revisions.values() for r in revs}
    assert all(by_id[rev_id].user == UNKNOWN_USER == "Unknown user" for rev_id in no_contributor)
    if name.startswith("mwxml-test_dump-"):  # the old stub-like fixtures have neither
        assert no_text == set(exported.revisions) and len(no_contributor) == len(by_id)
    check_uploads(source, exported, stderr)
    check_logs(source, exported)
    if name == SYNTHETIC:
        # The css page kept its model, the file its two versions, MediaWiki's export its bytes.
        assert exported.revisions[(2, "Alice/common.css")][0].model == "css"
        assert len(exported.uploads[(6, "Roundtrip.png")]) == 2

    restart(peer)
    check_api(peer, source, exported)
    if name == SYNTHETIC:
        info = MediaWikiApi(peer.api_url).page("File:Roundtrip.png", prop="imageinfo",
                                               iiprop="url|size|sha1|mime|timestamp|user|comment", iilimit="max")
        versions = info["imageinfo"]
        assert [(v["user"], v["comment"], v["size"], v["mime"]) for v in versions] == [
            ("Bob", "second version", len(NEW_PNG), "image/png"),
            ("Alice", "first version", len(OLD_PNG), "image/png")]
        assert (versions[0]["width"], versions[0]["height"]) == (5, 4)
        assert versions[0]["sha1"] == hashlib.sha1(NEW_PNG).hexdigest()
        for version, data in zip(versions, (NEW_PNG, OLD_PNG)):
            with urllib.request.urlopen(version["url"], timeout=30) as response:
                assert response.read() == data, version["url"]
