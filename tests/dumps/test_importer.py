"""Importing MediaWiki XML dumps (gitaccess.dumps.importer) on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import struct
import zlib
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, Connection, RowMapping, Table, func, select

from gitaccess.config import ExtraNamespace
from gitaccess.dumps.reader import Revision, read_dump
from gitaccess.errors import DumpImportError
from gitaccess.dumps.importer import UNKNOWN_USER, import_dump
from gitaccess.site import Site
from gitaccess.wiki import events, files, reader, standalone
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.conftest import SHARED

DUMPS = SHARED / "fixtures" / "dumps"
BROKEN = "mwcore-Slots.import-1.xml"  # keeps an unfilled {{page1_title}} placeholder
VALID = sorted(p.name for p in DUMPS.glob("*.xml") if p.name != BROKEN)
DEMO = DUMPS / "mw1.39-docs-export-demo.xml"
GERMAN = DUMPS / "mwcore-ImportAnonUserTest.xml"
COUNTED = ("page", "revision", "text", "actor", "comment", "logging", "git_site", "image", "oldimage")

HEADER = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">\n'
REVISION = """<revision><id>{id}</id><timestamp>{ts}</timestamp>{contributor}{extra}
<model>{model}</model><format>text/x-wiki</format><text xml:space="preserve">{text}</text></revision>"""
ALICE = "<contributor><username>Alice</username><id>7</id></contributor>"


def dump(body: str) -> bytes:
    return (HEADER + body + "</mediawiki>\n").encode()


def page(title: str, ns: int, *revisions: str, page_id: int | None = None) -> str:
    id_element = f"<id>{page_id}</id>" if page_id else ""
    return f"<page><title>{title}</title><ns>{ns}</ns>{id_element}{''.join(revisions)}</page>\n"


def revision(rev_id: int, ts: str, text: str, *, contributor: str = ALICE, extra: str = "",
             model: str = "wikitext") -> str:
    return REVISION.format(id=rev_id, ts=ts, text=text, contributor=contributor, extra=extra, model=model)


def png(width: int, height: int) -> bytes:
    """A real (tiny, black) PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def upload(name: str, ts: str, data: bytes, comment: str, archivename: str = "") -> str:
    archive = f"<archivename>{archivename}</archivename>" if archivename else ""
    return (
        f"<upload><timestamp>{ts}</timestamp>{ALICE}<comment>{comment}</comment><filename>{name}</filename>"
        f"{archive}<size>{len(data)}</size><sha1base36>{sha1_base36(data)}</sha1base36>"
        f'<contents encoding="base64">{base64.b64encode(data).decode()}</contents></upload>'
    )


def counts(site: Site) -> dict[str, int]:
    t = site.db.tables
    with site.db.read() as conn:
        return {name: conn.execute(select(func.count()).select_from(t[name])).scalar_one() for name in COUNTED}


def row(conn: Connection, table: Table, where: ColumnElement[bool]) -> RowMapping:
    return conn.execute(select(table).where(where)).one()._mapping


def fresh(site: Site) -> Site:
    """A new Site for the same wiki: what the next command sees (siteinfo read from git_site)."""
    return Site(site.config)


def text_of(site: Site, namespace: int, dbkey: str) -> str:
    with site.db.read() as conn:
        found = reader.page_by_title(site.db, conn, namespace, dbkey)
        assert found is not None, dbkey
        return reader.revision_text(site.db, conn, found.latest)


def history(site: Site, namespace: int, dbkey: str) -> list[reader.RevisionInfo]:
    with site.db.read() as conn:
        found = reader.page_by_title(site.db, conn, namespace, dbkey)
        assert found is not None, dbkey
        return list(reader.revisions(site.db, conn, page_id=found.id))


# --- The fixtures -------------------------------------------------------------


@pytest.mark.parametrize("name", VALID)
def test_every_valid_fixture_imports_whole(wiki: Site, name: str) -> None:
    in_dump = sum(isinstance(record, Revision) for record in read_dump(DUMPS / name))
    stats = import_dump(wiki, DUMPS / name)
    assert stats.revisions == in_dump
    with wiki.db.read() as conn:
        pages = list(reader.pages(wiki.db, conn))
        assert len(pages) == stats.pages
        for found in pages:  # page_latest is the newest revision by (timestamp, id)
            revs = list(reader.revisions(wiki.db, conn, page_id=found.id))
            assert found.latest == max(revs, key=lambda r: (r.timestamp, r.id)).id
        assert conn.execute(select(wiki.db.tables.site_stats.c.ss_total_edits)).scalar_one() == in_dump
        assert conn.execute(select(func.count()).select_from(wiki.db.tables.recentchanges)).scalar_one() == 0


def test_docs_demo_dump_pages_authors_and_siteinfo(wiki: Site) -> None:
    with wiki.db.write() as conn:  # a local account named like a dump contributor owns its edits
        WikiWriter(wiki.db, conn).create_user("Foobar", "")
    stats = import_dump(wiki, DEMO)
    assert (stats.pages, stats.revisions, stats.log_items, stats.skipped_uploads) == (3, 4, 1, 1)
    assert stats.adopted_siteinfo

    assert wiki.namespaces[4].name == "DemoWiki"  # the importing Site sees them too
    site = fresh(wiki)
    assert site.site_name == "DemoWiki"
    assert site.namespaces[4].name == "DemoWiki"
    assert site.parse_title("DemoWiki talk:Rules").namespace == 5
    assert site.parse_title("Project:Rules").namespace == 4  # the canonical name still works

    # Revisions keep their ids; the parent follows timestamps although 100 came before 99.
    older, newer = history(site, 0, "Page_title")
    assert (older.id, older.timestamp, older.user_name, older.user_id, older.comment) == (
        99, "20010115131027", "10.0.0.2", 0, "new!")
    assert (newer.id, newer.parent_id, newer.minor, newer.comment) == (100, 99, True, "I have just one thing to say!")
    assert newer.user_name == "Foobar" and newer.user_id > 0
    assert text_of(site, 0, "Page_title") == "A bunch of [[text]] here."
    assert text_of(site, 1, "Page_title").startswith("WHYD YOU LOCK PAGE")
    # The upload has no contents: skipped, its description page imported.
    assert text_of(site, 6, "Some_image.jpg").startswith("This is an awesome little imgae.")
    assert "no file contents" in stats.warnings[0]

    with site.db.read() as conn:
        found = reader.page_by_title(site.db, conn, 0, "Page_title")
        assert found is not None and (found.id, found.latest, found.is_redirect) == (1, 100, False)
        (event,) = events.logs_after(site.db, conn, 0, actions=None)
        assert (event.log_id, event.type, event.action, event.dbkey, event.user_name) == (
            15, "delete", "delete", "Silly_page_name", "Wikimedian")
        stats_row = conn.execute(select(site.db.tables.site_stats)).one()._mapping
        assert (stats_row["ss_total_pages"], stats_row["ss_total_edits"], stats_row["ss_good_articles"]) == (3, 4, 1)


def test_dump_with_placeholder_title_fails_and_changes_nothing(wiki: Site) -> None:
    before = counts(wiki)
    with pytest.raises(DumpImportError, match=r"page '\{\{page1_title\}\}'.*not allowed"):
        import_dump(wiki, DUMPS / BROKEN)
    assert counts(wiki) == before


def test_extra_slots_are_stored_with_their_role(wiki: Site) -> None:
    data = (DUMPS / BROKEN).read_bytes().replace(b"{{page1_title}}", b"Slotted")
    import_dump(wiki, io.BytesIO(data))
    (rev,) = history(wiki, 0, "Slotted")
    # rev_sha1 and rev_len over both slots, as MediaWiki computed them for the dump.
    assert (rev.id, rev.sha1, rev.length) == (4, "2zn8g94g6g8vb3y98u8wbnxxhtmksm6", 19)
    with wiki.db.read() as conn:
        assert reader.revision_text(wiki.db, conn, 4) == "Hello"
        assert reader.revision_text(wiki.db, conn, 4, role="importexporttest") == "This is a slot"


#: Where a download can stop, as (marker, occurrence): the dump keeps the bytes before it.
TRUNCATIONS = {
    "inside-page": (b"<title>File:", 1),
    "inside-revision": (b"<timestamp>", 2),
    "inside-text": (b"</text>", 2),
    "between-pages": (b"<page>", -1),
}


def truncated(data: bytes, marker: bytes, occurrence: int) -> bytes:
    starts = [i for i in range(len(data)) if data.startswith(marker, i)]
    return data[: starts[occurrence - 1 if occurrence > 0 else occurrence]]


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress], ids=["plain", "gz", "bz2"])
@pytest.mark.parametrize("marker, occurrence", TRUNCATIONS.values(), ids=TRUNCATIONS.keys())
def test_truncated_dump_fails_and_changes_nothing(wiki: Site, marker: bytes, occurrence: int, compress) -> None:  # type: ignore[no-untyped-def]
    cut = truncated(DEMO.read_bytes(), marker, occurrence)
    last_line = cut.count(b"\n") + 1
    before = counts(wiki)
    with pytest.raises(DumpImportError, match=rf"line {last_line}\b.*the dump is truncated.*nothing was imported"):
        import_dump(wiki, io.BytesIO(compress(cut) if compress else cut))
    assert counts(wiki) == before


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gz", "bz2"])
def test_dump_cut_inside_its_compressed_stream_fails_and_changes_nothing(wiki: Site, compress) -> None:  # type: ignore[no-untyped-def]
    packed = compress(DEMO.read_bytes())
    before = counts(wiki)
    with pytest.raises(DumpImportError, match=r"line \d+\b.*the dump is truncated: its \w+ stream ends early"):
        import_dump(wiki, io.BytesIO(packed[: len(packed) * 3 // 4]))
    assert counts(wiki) == before


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gz", "bz2"])
def test_compressed_dumps_with_progress(wiki: Site, tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dump.xml.x"
    path.write_bytes(compress(GERMAN.read_bytes()))
    seen: list[int] = []
    import_dump(wiki, path, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == path.stat().st_size
    history_of_test = history(fresh(wiki), 0, "Test")
    assert [(r.id, r.user_name, r.user_id, r.timestamp) for r in history_of_test] == [
        (3, "192.0.2.14", 0, "20240724175245")]


def test_disagreeing_namespaces_fail_before_writing(empty_url: str, make_site) -> None:  # type: ignore[no-untyped-def]
    site = make_site(empty_url, extra_namespaces=(ExtraNamespace(100, "Portal"),))
    standalone.create(site.db)
    before = counts(site)
    with pytest.raises(DumpImportError) as failure:
        import_dump(site, GERMAN)
    message = str(failure.value)
    assert "2 is 'Benutzer' in the dump but 'User' here" in message
    assert "4 is 'Localwiki' in the dump but 'Project' here" in message
    assert "meta_namespace" in message
    assert counts(site) == before


def test_configured_namespaces_that_agree_are_used(empty_url: str, make_site) -> None:  # type: ignore[no-untyped-def]
    site = make_site(empty_url, meta_namespace="DemoWiki")
    standalone.create(site.db)
    stats = import_dump(site, DEMO)
    assert not stats.adopted_siteinfo and fresh(site).stored_site() == {}


def test_import_needs_a_wiki_without_revisions(wiki: Site) -> None:
    with wiki.db.write() as conn:
        WikiWriter(wiki.db, conn).save(0, "Existing", "text", editor=Editor("Admin", 1), summary="s")
    with pytest.raises(DumpImportError, match="importing a dump is for a wiki with no revisions yet"):
        import_dump(wiki, DEMO)


def test_edits_after_an_import_get_new_ids(wiki: Site) -> None:
    import_dump(wiki, DEMO)
    site = fresh(wiki)
    with site.db.write() as conn:
        writer = WikiWriter(site.db, conn, titles=site.titles)
        created = writer.save(0, "Brand_new", "new", editor=Editor("Admin", 1), summary="create")
        edited = writer.save(0, "Page_title", "changed", editor=Editor("Admin", 1), summary="edit")
    assert (created.page_id, created.rev_id) == (4, 103)
    assert (edited.page_id, edited.rev_id) == (1, 104)
    assert [r.id for r in history(site, 0, "Page_title")] == [99, 100, 104]


# --- Built dumps --------------------------------------------------------------


def test_hidden_parts_and_default_models(wiki: Site) -> None:
    hidden = """<revision><id>6</id><timestamp>2020-01-02T00:00:00Z</timestamp>
<contributor deleted="deleted" /><comment deleted="deleted" /><model>wikitext</model>
<format>text/x-wiki</format><text bytes="9" deleted="deleted" /></revision>"""
    no_model = "<revision><id>{}</id><timestamp>2020-01-01T00:00:00Z</timestamp><text>{}</text></revision>"
    body = (
        page("Secret", 0, revision(5, "2020-01-01T00:00:00Z", "visible"), hidden)
        + page("MediaWiki:Common.css", 8, no_model.format(7, "body {}"))
        + page("Module:Foo", 828, no_model.format(8, "return {}"))
        + page("Module:Foo/doc", 828, no_model.format(9, "How to use it"))
        + page("Redirect", 0, revision(10, "2020-01-01T00:00:00Z", "#REDIRECT [[Secret]]"))
    )
    import_dump(wiki, io.BytesIO(dump(body)))
    first, second = history(wiki, 0, "Secret")
    assert (first.deleted, first.user_name) == (0, "Alice")
    # Text, summary and user hidden: rev_deleted 1|2|4, MediaWiki importer's "Unknown user".
    assert (second.deleted, second.user_name, second.comment, second.parent_id) == (7, UNKNOWN_USER, "", 5)
    with wiki.db.read() as conn:
        models = {p.dbkey: p.model for p in reader.pages(wiki.db, conn)}
        redirect = reader.page_by_title(wiki.db, conn, 0, "Redirect")
        assert redirect is not None and redirect.is_redirect
    assert models == {"Secret": "wikitext", "Common.css": "css", "Foo": "Scribunto", "Foo/doc": "wikitext",
                      "Redirect": "wikitext"}


def test_uploads_with_contents_land_in_the_hashed_layout(wiki: Site) -> None:
    old, new = png(3, 2), png(5, 4)
    archived = "20200101000000!Dot.png"
    body = (
        page("File:Dot.png", 6,
             revision(1, "2020-01-01T00:00:00Z", "A dot."),
             upload("Dot.png", "2020-01-01T00:00:00Z", old, "first", archived),
             upload("Dot.png", "2020-02-01T00:00:00Z", new, "bigger"))
        + page("File:Lone.png", 6, upload("Lone.png", "2020-03-01T00:00:00Z", old, "only the file"))
    )
    stats = import_dump(wiki, io.BytesIO(dump(body)))
    assert (stats.uploads, stats.skipped_uploads) == (3, 0)
    root = wiki.config.upload_directory
    assert files.hash_directories("Example.jpg") == "a/a9"  # upload.wikimedia.org/.../commons/a/a9/Example.jpg
    assert (root / "2" / "2a" / "Dot.png").read_bytes() == new
    assert (root / "archive" / "2" / "2a" / archived).read_bytes() == old
    t = wiki.db.tables
    with wiki.db.read() as conn:
        image = row(conn, t.image, t.image.c.img_name == "Dot.png")
        assert (image["img_size"], image["img_width"], image["img_height"], image["img_bits"]) == (len(new), 5, 4, 8)
        assert (image["img_major_mime"], image["img_minor_mime"], image["img_media_type"]) == ("image", "png", "BITMAP")
        assert (image["img_sha1"], image["img_timestamp"]) == (sha1_base36(new), "20200201000000")
        oldimage = row(conn, t.oldimage, t.oldimage.c.oi_name == "Dot.png")
        assert (oldimage["oi_archive_name"], oldimage["oi_width"]) == (archived, 3)
        assert oldimage["oi_sha1"] == sha1_base36(old)
        uploads = [(e.action, e.dbkey) for e in events.logs_after(wiki.db, conn, 0, actions=None, types=("upload",))]
        assert uploads == [("upload", "Dot.png"), ("overwrite", "Dot.png"), ("upload", "Lone.png")]
    # A file without a description page gets one from its upload comment, as in MediaWiki.
    assert text_of(wiki, 6, "Lone.png") == "only the file"
    assert text_of(wiki, 6, "Dot.png") == "A dot."


def test_failed_import_removes_the_files_it_wrote(wiki: Site) -> None:
    body = (
        page("File:Dot.png", 6, revision(1, "2020-01-01T00:00:00Z", "A dot."),
             upload("Dot.png", "2020-01-01T00:00:00Z", png(1, 1), "dot"))
        + page("Bad[title", 0, revision(2, "2020-01-01T00:00:00Z", "x"))
    )
    before = counts(wiki)
    with pytest.raises(DumpImportError, match=r"page 'Bad\[title'"):
        import_dump(wiki, io.BytesIO(dump(body)))
    assert counts(wiki) == before
    root = wiki.config.upload_directory
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


# --- The upload directory (pure helpers) ----------------------------------------


def test_upload_directory_layout_and_file_facts(tmp_path: Path) -> None:
    sha1 = sha1_base36(b"x")
    assert files.deleted_path(tmp_path, sha1, "JPEG") == (
        tmp_path / "deleted" / sha1[0] / sha1[1] / sha1[2] / f"{sha1}.jpg")
    for unsafe in ("../evil", "20200101000000!a/b", "no-timestamp"):
        with pytest.raises(files.UnsafePath):
            files.archive_path(tmp_path, "A.png", unsafe)
    with pytest.raises(files.UnsafePath):
        files.store(tmp_path / "images", tmp_path / "elsewhere", b"x")
    files.store(tmp_path, files.public_path(tmp_path, "A.txt"), b"hello")
    assert (tmp_path / "1" / "1c" / "A.txt").read_bytes() == b"hello"
    assert [p.name for p in (tmp_path / "1" / "1c").iterdir()] == ["A.txt"]  # no temporary file left

    jpeg = (b"\xff\xd8" + b"\xff\xe0\x00\x04\x00\x00"  # SOI, an APP0 segment
            + b"\xff\xc0\x00\x0b\x08\x00\x07\x00\x09\x01\x01\x11\x00")  # SOF0: 8 bits, 7 high, 9 wide
    assert files.image_size(jpeg) == files.ImageSize(9, 7, 8)
    assert files.image_size(b"GIF89a\x03\x00\x02\x00\xf7") == files.ImageSize(3, 2, 8)
    assert files.image_size(b"not an image") == files.ImageSize()
    assert files.file_type(jpeg, "Photo.png").mime == "image/jpeg"  # the content wins
    assert files.file_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "D.svg") == files.FileType(
        "image", "svg+xml", "DRAWING")
    assert files.file_type(b"PK\x03\x04", "Report.docx").media_type == "OFFICE"
    assert files.file_type(b"plain words", "Notes.txt") == files.FileType("text", "plain", "TEXT")
    assert files.file_type(b"\x00\x01", "Blob").mime == "unknown/unknown"
