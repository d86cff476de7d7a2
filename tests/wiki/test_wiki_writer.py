"""The wiki writer writes the rows MediaWiki 1.39 writes (shared/reference/mediawiki-1.39-edit-rows.txt)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gitaccess.errors import EditConflict
from gitaccess.site import Site
from gitaccess.wiki import reader, standalone
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.rows import comment_hash, truncate_comment
from gitaccess.wiki.writer import Editor, WikiWriter

ADMIN = Editor("Admin", 1, frozenset({"sysop"}), ip="127.0.0.1")
TEXT1 = "Hello '''world'''.\n[[Bar]] {{Greeting}} [[Category:Tests]]"
TEXT2 = "Hello '''world''', second revision.\n[[Bar]] [[Category:Tests]]"


def counts(site: Site) -> dict[str, int]:
    t = site.db.tables
    with site.db.read() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(t[name])).scalar_one()
            for name in ("page", "revision", "text", "content", "slots", "comment", "recentchanges",
                         "logging", "change_tag", "job", "revision_comment_temp")
        }


def writer_for(site: Site, conn) -> WikiWriter:  # type: ignore[no-untyped-def]
    return WikiWriter(site.db, conn, titles=site.titles)


def test_mediawiki_comment_hash_and_sha1() -> None:
    # Values MediaWiki 1.39 wrote for the same texts (edit-rows reference).
    assert comment_hash("create Foo") == -1729546273
    assert comment_hash("second edit") == 2129662378
    assert sha1_base36(TEXT1.encode()) == "mt9jkk7rc3wo8oprowhbs1orp7gsmfs"
    assert sha1_base36(TEXT2.encode()) == "014okogz6vo1p5a0yjf33cno1afxud3"
    assert truncate_comment("x" * 600) == "x" * 497 + "..."


def test_create_and_edit_write_mediawikis_rows(wiki: Site) -> None:
    with wiki.db.write() as conn:
        w = writer_for(wiki, conn)
        created = w.save(0, "Foo", TEXT1, editor=ADMIN, summary="create Foo", base_rev_id=0)
        edited = w.save(0, "Foo", TEXT2, editor=ADMIN, summary="second edit", minor=True,
                        base_rev_id=created.rev_id)
    assert created.created and not edited.created
    t = wiki.db.tables
    with wiki.db.read() as conn:
        page = conn.execute(select(t.page).where(t.page.c.page_title == "Foo")).one()._mapping
        assert (page["page_latest"], page["page_len"], page["page_is_new"]) == (edited.rev_id, 62, 0)
        assert page["page_content_model"] == "wikitext"
        rev = conn.execute(select(t.revision).where(t.revision.c.rev_id == edited.rev_id)).one()._mapping
        assert rev["rev_sha1"] == "014okogz6vo1p5a0yjf33cno1afxud3"
        assert (rev["rev_parent_id"], rev["rev_minor_edit"], rev["rev_len"]) == (created.rev_id, 1, 62)
        assert rev["rev_comment_id"] == 0  # 1.39 links the comment through revision_comment_temp
        assert len(rev["rev_timestamp"]) == 14
        content = conn.execute(select(t.content).order_by(t.content.c.content_id.desc())).first()._mapping
        assert content["content_address"].startswith("tt:")
        assert (content["content_size"], content["content_sha1"]) == (62, rev["rev_sha1"])
        text = conn.execute(select(t.text.c.old_flags)).scalars().all()
        assert text == ["utf-8", "utf-8"]
        comments = conn.execute(select(t.comment.c.comment_text, t.comment.c.comment_hash)).all()
        assert sorted(comments) == [("create Foo", -1729546273), ("second edit", 2129662378)]
        rcs = conn.execute(select(t.recentchanges).order_by(t.recentchanges.c.rc_id)).all()
        new, edit = (r._mapping for r in rcs)
        assert (new["rc_type"], new["rc_source"], new["rc_new"], new["rc_old_len"], new["rc_new_len"]) == (
            1, "mw.new", 1, 0, 58)
        assert (edit["rc_type"], edit["rc_source"], edit["rc_minor"], edit["rc_last_oldid"]) == (
            0, "mw.edit", 1, created.rev_id)
        assert (edit["rc_patrolled"], edit["rc_ip"]) == (2, "127.0.0.1")
        tags = conn.execute(select(t.change_tag.c.ct_rev_id, t.change_tag.c.ct_rc_id)).all()
        assert sorted(tags) == [(created.rev_id, new["rc_id"]), (edited.rev_id, edit["rc_id"])]
        tag_def = conn.execute(select(t.change_tag_def.c.ctd_name, t.change_tag_def.c.ctd_count)).one()
        assert tuple(tag_def) == ("gitaccess", 2)
        log = conn.execute(select(t.logging)).one()._mapping
        assert (log["log_type"], log["log_action"], log["log_title"]) == ("create", "create", "Foo")
        assert log["log_params"] == f'a:1:{{s:17:"associated_rev_id";i:{created.rev_id};}}'
        assert conn.execute(select(t.log_search.c.ls_value)).scalar_one() == str(created.rev_id)
        stats = conn.execute(select(t.site_stats)).one()._mapping
        assert (stats["ss_total_edits"], stats["ss_total_pages"], stats["ss_good_articles"]) == (2, 1, 1)
        jobs = conn.execute(select(t.job.c.job_cmd, t.job.c.job_title)).all()
        assert [tuple(j) for j in jobs] == [("refreshLinks", "Foo")] * 2
        assert reader.revision_text(wiki.db, conn, edited.rev_id) == TEXT2
        history = list(reader.revisions(wiki.db, conn, page_id=page["page_id"]))
        assert [(r.comment, r.minor, r.user_name) for r in history] == [
            ("create Foo", False, "Admin"), ("second edit", True, "Admin")]


def test_edit_conflict_and_null_edit_write_nothing(wiki: Site) -> None:
    with wiki.db.write() as conn:
        first = writer_for(wiki, conn).save(0, "Foo", "one", editor=ADMIN, summary="s")
    before = counts(wiki)
    with pytest.raises(EditConflict, match="meanwhile"):
        with wiki.db.write() as conn:
            writer_for(wiki, conn).save(0, "Foo", "two", editor=ADMIN, summary="s", base_rev_id=first.rev_id + 7)
    with pytest.raises(EditConflict):
        with wiki.db.write() as conn:
            writer_for(wiki, conn).save(0, "Foo", "two", editor=ADMIN, summary="s", base_rev_id=0)
    with wiki.db.write() as conn:
        null = writer_for(wiki, conn).save(0, "Foo", "one", editor=ADMIN, summary="s")
    assert null.rev_id is None
    assert counts(wiki) == before


def test_redirects_and_comment_reuse(wiki: Site) -> None:
    with wiki.db.write() as conn:
        w = writer_for(wiki, conn)
        w.save(0, "Old", "#REDIRECT [[New page#Part]]", editor=ADMIN, summary="same")
        saved = w.save(0, "Other", "text", editor=ADMIN, summary="same")
    t = wiki.db.tables
    with wiki.db.read() as conn:
        rd = conn.execute(select(t.redirect)).one()._mapping
        assert (rd["rd_namespace"], rd["rd_title"], rd["rd_fragment"]) == (0, "New_page", "Part")
        assert conn.execute(select(t.page.c.page_is_redirect).where(t.page.c.page_title == "Old")).scalar() == 1
        assert conn.execute(select(func.count()).select_from(t.comment)).scalar() == 1
    with wiki.db.write() as conn:
        writer_for(wiki, conn).save(0, "Old", "no longer", editor=ADMIN, summary="x")
    with wiki.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.redirect)).scalar() == 0
    assert saved.created


def test_delete_undelete_move_contentmodel(wiki: Site) -> None:
    """Row shapes from docs/reference/mediawiki-1.39-action-rows.txt, steps 2 to 6."""
    t = wiki.db.tables
    with wiki.db.write() as conn:
        w = writer_for(wiki, conn)
        first = w.save(0, "Foo", TEXT1, editor=ADMIN, summary="create Foo")
        second = w.save(0, "Foo", TEXT2, editor=ADMIN, summary="second edit")
        delete_log = w.delete(0, "Foo", editor=ADMIN, reason="cleanup")
    with wiki.db.read() as conn:
        assert reader.page_by_title(wiki.db, conn, 0, "Foo") is None
        archived = conn.execute(select(t.archive.c.ar_rev_id, t.archive.c.ar_comment_id)
                                .order_by(t.archive.c.ar_rev_id)).all()
        assert [a[0] for a in archived] == [first.rev_id, second.rev_id]
        assert conn.execute(select(func.count()).select_from(t.revision)).scalar() == 0
        log = conn.execute(select(t.logging).where(t.logging.c.log_id == delete_log)).one()._mapping
        assert (log["log_type"], log["log_action"], log["log_params"]) == ("delete", "delete", "a:0:{}")
        rcs = conn.execute(select(t.recentchanges.c.rc_type, t.recentchanges.c.rc_logid)).all()
        assert [tuple(r) for r in rcs] == [(3, delete_log)]  # the page's own edits left recentchanges
    with wiki.db.write() as conn:
        restore_log = writer_for(wiki, conn).undelete(0, "Foo", editor=ADMIN, reason="restore")
    with wiki.db.read() as conn:
        page = reader.page_by_title(wiki.db, conn, 0, "Foo")
        assert page is not None and page.id == first.page_id and page.latest == second.rev_id
        assert reader.revision_text(wiki.db, conn, second.rev_id) == TEXT2
        assert [r.comment for r in reader.revisions(wiki.db, conn, page_id=page.id)] == ["create Foo", "second edit"]
        params = conn.execute(select(t.logging.c.log_params).where(t.logging.c.log_id == restore_log)).scalar()
        assert params == 'a:1:{s:12:":assoc:count";a:2:{s:9:"revisions";i:2;s:5:"files";i:0;}}'
    with wiki.db.write() as conn:
        w = writer_for(wiki, conn)
        move_log = w.move(0, "Foo", 0, "Bar", editor=ADMIN, reason="rename", redirect=True)
        w.move(0, "Bar", 1, "Baz", editor=ADMIN, reason="rename again", redirect=False)
    with wiki.db.read() as conn:
        moved = reader.page_by_title(wiki.db, conn, 1, "Baz")
        assert moved is not None and moved.id == first.page_id
        history = list(reader.revisions(wiki.db, conn, page_id=moved.id))
        assert [r.comment for r in history[2:]] == [
            "Admin moved page [[Foo]] to [[Bar]]: rename",
            "Admin moved page [[Bar]] to [[Talk:Baz]] without leaving a redirect: rename again",
        ]
        assert all(r.minor for r in history[2:]) and history[-1].sha1 == history[1].sha1
        redirect = reader.page_by_title(wiki.db, conn, 0, "Foo")
        assert redirect is not None and redirect.is_redirect
        assert reader.revision_text(wiki.db, conn, redirect.latest) == "#REDIRECT [[Bar]]"
        assert reader.page_by_title(wiki.db, conn, 0, "Bar") is None
        params = conn.execute(select(t.logging.c.log_params).where(t.logging.c.log_id == move_log)).scalar()
        assert params.startswith('a:3:{s:9:"4::target";s:3:"Bar";s:10:"5::noredir";s:1:"0";s:17:"associated_rev_id"')
    with wiki.db.write() as conn:
        model_log = writer_for(wiki, conn).change_content_model(1, "Baz", "text", editor=ADMIN, summary="to plain text")
    with wiki.db.read() as conn:
        page = reader.page_by_title(wiki.db, conn, 1, "Baz")
        assert page is not None and page.model == "text"
        last = list(reader.revisions(wiki.db, conn, page_id=page.id))[-1]
        assert last.comment == ('Admin changed the content model of the page [[Talk:Baz]] from "wikitext" '
                                'to "plain text": to plain text')
        params = conn.execute(select(t.logging.c.log_params).where(t.logging.c.log_id == model_log)).scalar()
        assert params == 'a:2:{s:11:"4::oldmodel";s:8:"wikitext";s:11:"5::newmodel";s:4:"text";}'
        stats = conn.execute(select(t.site_stats)).one()._mapping
        # 2 edits, delete, undelete, move + redirect, move, content model change
        assert (stats["ss_total_edits"], stats["ss_total_pages"]) == (8, 2)


def test_jobs_go_to_mediawikis_separate_sqlite_job_queue(tmp_path, make_site) -> None:  # type: ignore[no-untyped-def]
    """MediaWiki on SQLite keeps jobs in <dbname>_jobqueue.sqlite; gitaccess queues them there."""
    site = make_site(f"sqlite:///{tmp_path}/wikidb.sqlite")
    standalone.create(site.db)
    queue = make_site(f"sqlite:///{tmp_path}/wikidb_jobqueue.sqlite")
    site.db.tables.job.create(queue.db.engine)
    with pytest.raises(EditConflict):
        with site.db.write() as conn:
            writer_for(site, conn).save(0, "Foo", "x", editor=ADMIN, summary="s")
            raise EditConflict("rolled back: its job must not be queued")
    with site.db.write() as conn:
        writer_for(site, conn).save(0, "Foo", "x", editor=ADMIN, summary="s")
    with queue.db.read() as conn:
        assert conn.execute(select(queue.db.tables.job.c.job_title)).scalars().all() == ["Foo"]
    with site.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(site.db.tables.job)).scalar() == 0
