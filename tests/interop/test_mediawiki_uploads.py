"""Files gitaccess uploads, as a REAL MediaWiki 1.43 or 1.39 sees them (shared/peers/mediawiki/mw-peer.sh).

gitaccess writes a file into MediaWiki's upload directory (the peer's
$wgUploadDirectory, ``MW_DIR/images``) and the rows of image, oldimage and
filearchive; MediaWiki's API must then show it exactly like a twin file
uploaded through MediaWiki's own action=upload, serve its bytes at its URL,
show both versions after a re-upload, and treat a gitaccess file deletion
as its own: the versions in list=filearchive, and action=undelete brings
them back with their bytes.

The module runs on the MediaWiki of each version (1.43, 1.39) on each backend
(SQLite, MariaDB, PostgreSQL), shared with the other interop modules
(tests/interop/conftest.py); where MediaWiki cannot run, the tests skip
(GITACCESS_REQUIRE_ALL=1: fail).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from gitaccess.titles.namespaces import FILE
from gitaccess.site import Site
from gitaccess.wiki import reader
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.writer import TAG, Editor, WikiWriter
from tests.mediawiki import MediaWikiApi, MediaWikiPeer, site_on, wiki_timestamp_of

pytestmark = pytest.mark.mediawiki



def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (MediaWiki checks what it is given)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


FIRST = png(6, 4, (200, 30, 30))
SECOND = png(8, 5, (30, 200, 30))
TEXT_FILE = b"plain text file\nwith two lines\n"


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def uploads(peer: MediaWikiPeer) -> Path:
    """MediaWiki's $wgUploadDirectory (mw-peer.sh's PeerSettings.php)."""
    return Path(peer.env["MW_DIR"]) / "images"


@pytest.fixture(scope="module")
def site(peer: MediaWikiPeer, uploads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with site_on(peer, tmp_path_factory.mktemp("gitaccess-data"), upload_directory=uploads) as the_site:
        yield the_site


@pytest.fixture(scope="module")
def api(peer: MediaWikiPeer) -> MediaWikiApi:
    return peer.api(login=peer.bot)


# ---------------------------------------------------------------------- helpers
def admin(site: Site, peer: MediaWikiPeer) -> Editor:
    name = peer.admin[0]
    with site.db.read() as conn:
        user = reader.user_by_name(site.db, conn, name)
        assert user is not None
        groups = reader.user_groups(site.db, conn, user.id)
    return Editor(user.name, user.id, groups, ip="127.0.0.1")


def writer(site: Site, conn: Any) -> WikiWriter:
    return WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)


def gitaccess_upload(site: Site, peer: MediaWikiPeer, name: str, data: bytes, comment: str,
                     page_text: str = "", timestamp: str | None = None) -> int:
    with site.db.write() as conn:
        return writer(site, conn).upload(name, data, editor=admin(site, peer), comment=comment, page_text=page_text,
                                         timestamp=timestamp)


def seconds_ago(seconds: int) -> str:
    """A wiki timestamp in the past: versions a second apart or more, as MediaWiki keeps them."""
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime("%Y%m%d%H%M%S")


#: What differs between two like file versions: where they are and when they came.
_PLACE = {"url", "descriptionurl", "descriptionshorturl", "timestamp", "title", "name", "id", "logid",
          "pageid", "revid", "parentid", "lastrevid", "touched", "tags", "archivename", "logpage"}


def shape(entry: dict[str, Any], *ignore: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _PLACE and k not in ignore}


def log_shape(entry: dict[str, Any]) -> dict[str, Any]:
    out = shape(entry, "params", "comment")
    out["params"] = {k: v for k, v in entry.get("params", {}).items() if k != "img_timestamp"}
    out["tags"] = sorted(t for t in entry.get("tags", []) if t != TAG)
    return out


# ---------------------------------------------------------------------- tests
def test_upload_is_seen_like_mediawikis_own(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    ours, twin = "Gitaccess upload.png", "MediaWiki twin upload.png"
    text = "A red picture. [[Category:Uploads]]"
    log_id = gitaccess_upload(site, peer, ours.replace(" ", "_"), FIRST, "first upload", page_text=text)
    theirs_upload = api.upload(twin, FIRST, comment="first upload", text=text)
    assert theirs_upload["filename"] == twin.replace(" ", "_")

    (info,) = api.image_info(f"File:{ours}")
    (twin_info,) = api.image_info(f"File:{twin}")
    assert (info["size"], info["width"], info["height"], info["mime"]) == (len(FIRST), 6, 4, "image/png")
    assert info["sha1"] == hashlib.sha1(FIRST).hexdigest()
    assert (info["user"], info["comment"]) == (peer.admin[0], "first upload")
    assert shape(info) == shape(twin_info)
    assert api.fetch(info["url"]) == FIRST, "MediaWiki serves the exact bytes gitaccess stored"
    expected = hashlib.md5(ours.replace(" ", "_").encode()).hexdigest()
    assert info["url"].endswith(f"/{expected[0]}/{expected[:2]}/{ours.replace(' ', '_')}")

    # The description page, its one revision, and the upload log entry, as MediaWiki makes them.
    page, twin_page = api.page(f"File:{ours}"), api.page(f"File:{twin}")
    assert shape(page, "length") == shape(twin_page, "length")
    (rev,) = api.revisions(f"File:{ours}")
    (twin_rev,) = api.revisions(f"File:{twin}")
    assert rev["content"] == twin_rev["content"] == text
    assert shape(rev, "sha1", "size", "slots") == shape(twin_rev, "sha1", "size", "slots")
    (entry,) = api.log_events(type="upload", title=f"File:{ours}")
    (twin_entry,) = api.log_events(type="upload", title=f"File:{twin}")
    assert entry["logid"] == log_id and entry["action"] == "upload" and TAG in entry["tags"]
    assert wiki_timestamp_of(entry["timestamp"]) == wiki_timestamp_of(info["timestamp"])
    assert log_shape(entry) == log_shape(twin_entry)
    assert api.siteinfo("statistics")["statistics"]["images"] >= 2

    # A text file too: MIME type and media type as MediaWiki works them out.
    gitaccess_upload(site, peer, "Gitaccess_notes.txt", TEXT_FILE, "notes")
    api.upload("MediaWiki twin notes.txt", TEXT_FILE, comment="notes")
    (notes,) = api.image_info("File:Gitaccess notes.txt", iiprop="size|sha1|mime|mediatype|url")
    (twin_notes,) = api.image_info("File:MediaWiki twin notes.txt", iiprop="size|sha1|mime|mediatype|url")
    assert shape(notes) == shape(twin_notes) and notes["mime"] == "text/plain"
    assert api.fetch(notes["url"]) == TEXT_FILE


def test_new_version_shows_two_versions(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    ours, twin = "Gitaccess versions.png", "MediaWiki twin versions.png"
    gitaccess_upload(site, peer, ours.replace(" ", "_"), FIRST, "version one", timestamp=seconds_ago(20))
    api.upload(twin, FIRST, comment="version one")
    log_id = gitaccess_upload(site, peer, ours.replace(" ", "_"), SECOND, "version two", timestamp=seconds_ago(10))
    api.upload(twin, SECOND, comment="version two")

    versions, twin_versions = api.image_info(f"File:{ours}"), api.image_info(f"File:{twin}")
    assert [v["comment"] for v in versions] == ["version two", "version one"]
    assert [(v["size"], v["width"], v["height"]) for v in versions] == [(len(SECOND), 8, 5), (len(FIRST), 6, 4)]
    assert [v["sha1"] for v in versions] == [hashlib.sha1(SECOND).hexdigest(), hashlib.sha1(FIRST).hexdigest()]
    assert [shape(v) for v in versions] == [shape(v) for v in twin_versions]
    assert api.fetch(versions[0]["url"]) == SECOND
    assert "/archive/" in versions[1]["url"] and api.fetch(versions[1]["url"]) == FIRST, "the old version's bytes"
    assert versions[1]["url"].rsplit("/", 1)[1].endswith("%21" + ours.replace(" ", "_"))  # <timestamp>!<name>

    entries = api.log_events(type="upload", title=f"File:{ours}")
    twin_entries = api.log_events(type="upload", title=f"File:{twin}")
    assert [e["action"] for e in entries] == [e["action"] for e in twin_entries] == ["overwrite", "upload"]
    assert entries[0]["logid"] == log_id
    assert [log_shape(e) for e in entries] == [log_shape(e) for e in twin_entries]
    # The re-upload adds a null revision to the description page, as MediaWiki's does.
    revs, twin_revs = api.revisions(f"File:{ours}"), api.revisions(f"File:{twin}")
    assert len(revs) == len(twin_revs) == 2
    # (minor: test_reupload_null_revision_is_not_minor)
    assert [shape(r, "comment", "sha1", "size", "slots", "content", "minor") for r in revs] == [
        shape(r, "comment", "sha1", "size", "slots", "content", "minor") for r in twin_revs]
    assert revs[1]["comment"].replace(ours, twin) == twin_revs[1]["comment"]
    assert (revs[1]["parentid"], revs[1]["sha1"]) == (revs[0]["revid"], revs[0]["sha1"])


def test_new_version_in_the_same_second_is_newer(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    name, when = "Gitaccess_same_second.png", seconds_ago(30)
    gitaccess_upload(site, peer, name, FIRST, "same second, one", timestamp=when)
    gitaccess_upload(site, peer, name, SECOND, "same second, two", timestamp=when)
    versions = api.image_info("File:Gitaccess same second.png")
    assert [v["comment"] for v in versions] == ["same second, two", "same second, one"]
    assert versions[0]["timestamp"] > versions[1]["timestamp"], versions


def test_reupload_null_revision_is_not_minor(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    ours, twin = "Gitaccess minor check.png", "MediaWiki twin minor check.png"
    for data, comment in ((FIRST, "one"), (SECOND, "two")):
        gitaccess_upload(site, peer, ours.replace(" ", "_"), data, comment)
        api.upload(twin, data, comment=comment)
    twin_revs = api.revisions(f"File:{twin}")
    assert [r["minor"] for r in twin_revs] == [False, False]
    assert [r["minor"] for r in api.revisions(f"File:{ours}")] == [False, False]


def test_gitaccess_file_deletion_and_mediawiki_undeletion(
    peer: MediaWikiPeer, site: Site, api: MediaWikiApi, uploads: Path
) -> None:
    ours, twin = "Gitaccess deleted.png", "MediaWiki twin deleted.png"
    name = ours.replace(" ", "_")
    gitaccess_upload(site, peer, name, FIRST, "to delete, one", page_text="To be deleted.", timestamp=seconds_ago(20))
    gitaccess_upload(site, peer, name, SECOND, "to delete, two", timestamp=seconds_ago(10))
    api.upload(twin, FIRST, comment="to delete, one", text="To be deleted.")
    api.upload(twin, SECOND, comment="to delete, two")
    before = api.image_info(f"File:{ours}")
    images_before = api.siteinfo("statistics")["statistics"]["images"]

    with site.db.write() as conn:
        log_id = writer(site, conn).delete(FILE, name, editor=admin(site, peer), reason="gitaccess deletes")

    # MediaWiki sees the file deleted: no page, no current file, both versions in the file archive.
    assert api.page(f"File:{ours}").get("missing")
    assert api.image_info(f"File:{ours}") == []
    for version, data in zip(before, (SECOND, FIRST)):
        assert served(api, version["url"]) != data, "a deleted file is not served"
    archived = api.file_archive(name)
    assert sorted(a["sha1"] for a in archived) == sorted(v["sha1"] for v in before)
    assert api.siteinfo("statistics")["statistics"]["images"] == images_before - 1
    (entry,) = [e for e in api.log_events(type="delete", title=f"File:{ours}") if e["logid"] == log_id]
    assert entry["action"] == "delete" and entry["comment"] == "gitaccess deletes"
    # In MediaWiki's deleted zone, by content hash ($wgDeletedDirectory, FileRepo storage keys).
    keys = {p.name for p in (uploads / "deleted").rglob("*.png")}
    assert {sha1_base36(FIRST) + ".png", sha1_base36(SECOND) + ".png"} <= keys

    # MediaWiki restores what gitaccess deleted, file versions and all, and serves the bytes again.
    restored = api.undelete(f"File:{ours}", reason="MediaWiki restores")
    assert restored["revisions"] == 2 and restored["fileversions"] == 2, restored
    after = api.image_info(f"File:{ours}")
    assert [(v["sha1"], v["size"], v["comment"]) for v in after] == [
        (v["sha1"], v["size"], v["comment"]) for v in before]
    assert api.fetch(after[0]["url"]) == SECOND and api.fetch(after[1]["url"]) == FIRST
    assert api.file_archive(name) == []
    assert api.siteinfo("statistics")["statistics"]["images"] == images_before
    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, FILE, name)
        assert page is not None and page.latest == api.page(f"File:{ours}")["lastrevid"]

    # The same deletion made by MediaWiki archives the same way.
    api.delete(f"File:{twin}", reason="gitaccess deletes")
    twin_archived = api.file_archive(twin)
    by_time = lambda a: a["timestamp"]  # noqa: E731
    assert [shape(a, "description") for a in sorted(archived, key=by_time)] == [
        shape(a, "description") for a in sorted(twin_archived, key=by_time)]
    assert sorted(a["description"] for a in archived) == sorted(a["description"] for a in twin_archived)


def served(api: MediaWikiApi, url: str) -> bytes | None:
    """The bytes at a URL, or None when it is not served."""
    try:
        return api.fetch(url)
    except Exception:  # noqa: BLE001 - 404 or any refusal
        return None
