"""Uploads, new versions, file deletion and undeletion (docs/reference/mediawiki-1.39-action-rows.txt, steps 7-10)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gitaccess.errors import EditConflict
from gitaccess.site import Site
from gitaccess.wiki import reader, standalone
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.writer import Editor, WikiWriter

ADMIN = Editor("Admin", 1, frozenset({"sysop"}))
V1 = b"Hello, this is Test.txt version one.\n"
V2 = b"Hello, this is Test.txt version two, a little longer.\n"


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def writer(site: Site, conn) -> WikiWriter:  # type: ignore[no-untyped-def]
    return WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)


def test_upload_overwrite_delete_undelete(wiki: Site) -> None:
    root = wiki.config.upload_directory
    t = wiki.db.tables
    with wiki.db.write() as conn:
        first = writer(wiki, conn).upload("Test.txt", V1, editor=ADMIN, comment="first upload",
                                          page_text="Description of [[Test file]].", timestamp="20261121091352")
    assert files_under(root) == {"3/35/Test.txt": V1}
    with wiki.db.read() as conn:
        image = conn.execute(select(t.image)).one()._mapping
        assert (image["img_size"], image["img_major_mime"], image["img_minor_mime"], image["img_media_type"]) == (
            37, "text", "plain", "TEXT")
        assert image["img_sha1"] == "kzpp8i8oq65o6j81apbr7dzdd72a49m" == sha1_base36(V1)
        logs = conn.execute(select(t.logging.c.log_type, t.logging.c.log_params).order_by(t.logging.c.log_id)).all()
        page = reader.page_by_title(wiki.db, conn, 6, "Test.txt")
        assert page is not None
        assert [tuple(r) for r in logs] == [
            ("create", f'a:1:{{s:17:"associated_rev_id";i:{page.latest};}}'),
            ("upload", 'a:3:{s:8:"img_sha1";s:31:"kzpp8i8oq65o6j81apbr7dzdd72a49m";s:13:"img_timestamp";'
                       f's:14:"20261121091352";s:17:"associated_rev_id";i:{page.latest};}}'),
        ]
        assert conn.execute(select(t.recentchanges.c.rc_log_type)).scalars().all() == ["upload"]
        assert conn.execute(select(t.site_stats.c.ss_images)).scalar() == 1
    with wiki.db.write() as conn:
        writer(wiki, conn).upload("Test.txt", V2, editor=ADMIN, comment="second upload", timestamp="20261121091355")
    assert files_under(root) == {"3/35/Test.txt": V2, "archive/3/35/20261121091355!Test.txt": V1}
    with wiki.db.read() as conn:
        old = conn.execute(select(t.oldimage)).one()._mapping
        assert (old["oi_archive_name"], old["oi_timestamp"], old["oi_size"]) == (
            "20261121091355!Test.txt", "20261121091352", 37)
        history = list(reader.revisions(wiki.db, conn, page_id=page.id))
        assert history[-1].comment == "Admin uploaded a new version of [[File:Test.txt]]" and not history[-1].minor
        assert conn.execute(select(t.logging.c.log_action).order_by(t.logging.c.log_id.desc())).first()[0] == "overwrite"
    with wiki.db.write() as conn:
        writer(wiki, conn).delete(6, "Test.txt", editor=ADMIN, reason="file cleanup")
    deleted = files_under(root)
    assert deleted[f"deleted/d/c/i/{sha1_base36(V2)}.txt"] == V2
    assert deleted[f"deleted/k/z/p/{sha1_base36(V1)}.txt"] == V1
    assert deleted["deleted/.htaccess"] == b"Require all denied\nSatisfy All\n"
    with wiki.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.image)).scalar() == 0
        archived = conn.execute(select(t.filearchive.c.fa_archive_name, t.filearchive.c.fa_storage_key)
                                .order_by(t.filearchive.c.fa_id)).all()
        assert [tuple(a) for a in archived] == [(None, f"{sha1_base36(V2)}.txt"),
                                                ("20261121091355!Test.txt", f"{sha1_base36(V1)}.txt")]
    with wiki.db.write() as conn:
        writer(wiki, conn).undelete(6, "Test.txt", editor=ADMIN, reason="file restore")
    restored = files_under(root)
    assert restored["3/35/Test.txt"] == V2 and restored["archive/3/35/20261121091355!Test.txt"] == V1
    assert not any(name.endswith(".txt") and name.startswith("deleted/") for name in restored)
    with wiki.db.read() as conn:
        assert conn.execute(select(t.logging.c.log_params).order_by(t.logging.c.log_id.desc())).first()[0] == (
            'a:1:{s:12:":assoc:count";a:2:{s:9:"revisions";i:2;s:5:"files";i:2;}}')
        assert conn.execute(select(func.count()).select_from(t.oldimage)).scalar() == 1
    assert first > 0


def test_failed_transaction_leaves_the_upload_directory_as_it_was(wiki: Site) -> None:
    root = wiki.config.upload_directory
    with wiki.db.write() as conn:
        writer(wiki, conn).upload("Keep.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 30, editor=ADMIN, comment="c")
    before = files_under(root)
    with pytest.raises(EditConflict):
        with wiki.db.write() as conn:
            writer(wiki, conn).upload("Keep.png", b"new bytes", editor=ADMIN, comment="c2")
            writer(wiki, conn).upload("Other.txt", b"other", editor=ADMIN, comment="c3")
            raise EditConflict("something later in the push failed")
    assert files_under(root) == before and len(before) == 1


def test_process_killed_before_commit_shows_no_new_file_version(tmp_path: Path, make_site) -> None:  # type: ignore[no-untyped-def]
    """A server killed mid-change leaves the old version on disk and in the database."""
    site = make_site(f"sqlite:///{tmp_path}/wiki.sqlite")
    standalone.create(site.db)
    with site.db.write() as conn:
        writer(site, conn).upload("Keep.txt", V1, editor=ADMIN, comment="first")
    before = files_under(site.config.upload_directory)
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from gitaccess.config import Config
        from gitaccess.site import Site
        from gitaccess.wiki.writer import Editor, WikiWriter
        site = Site(Config(database_url="sqlite:///{tmp_path}/wiki.sqlite",
                           upload_directory=Path({str(site.config.upload_directory)!r})))
        with site.db.write() as conn:
            w = WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)
            w.upload("Keep.txt", {V2!r}, editor=Editor("Admin", 1, frozenset({{"sysop"}})), comment="second")
            os._exit(9)  # killed before the transaction commits
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert killed.returncode == 9, killed.stderr
    after = {k: v for k, v in files_under(site.config.upload_directory).items() if "/.gitaccess-" not in k
             and not k.startswith(".gitaccess-")}
    assert after == before
    with site.db.read() as conn:
        assert conn.execute(select(site.db.tables.image.c.img_size)).scalar() == len(V1)
