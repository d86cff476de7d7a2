"""Interoperability with a REAL MediaWiki 1.43 or 1.39 (shared/peers/mediawiki/mw-peer.sh).

gitaccess writes into MediaWiki's own database, so the final judge of its
rows is MediaWiki itself: every test here writes with gitaccess and reads
through MediaWiki's Action API (or writes through the API and reads with
gitaccess), on each database backend MediaWiki supports, with each version (1.43, 1.39).
The wikis are shared with the other interop modules (tests/interop/conftest.py).

Where MediaWiki cannot run (not root with packages missing, MW_NO_APT=1,
no PHP), the tests skip with the reason; GITACCESS_REQUIRE_ALL=1 makes that
a failure.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import column, select, table

from gitaccess.auth.accounts import Authenticator
from gitaccess.errors import AuthError, EditConflict
from gitaccess.site import Site
from gitaccess.wiki import events, reader
from gitaccess.wiki.database import make_engine
from gitaccess.wiki.writer import TAG, Editor, WikiWriter
from tests.mediawiki import MediaWikiApi, MediaWikiPeer, TableSnapshot, site_on, wiki_timestamp_of

pytestmark = pytest.mark.mediawiki


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def site(peer: MediaWikiPeer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """gitaccess pointed at the peer's database."""
    with site_on(peer, tmp_path_factory.mktemp("gitaccess-data")) as the_site:
        yield the_site


@pytest.fixture(scope="module")
def api(peer: MediaWikiPeer) -> MediaWikiApi:
    """The Action API, logged in with the BotPassword mw-peer.sh made for the admin."""
    return peer.api(login=peer.bot)


# ---------------------------------------------------------------------- helpers
def version_rows(peer: MediaWikiPeer) -> list[Any]:
    engine = make_engine(peer.sqlalchemy_url, peer.schema or "mediawiki")
    try:
        with engine.connect() as conn:
            query = select(column("version_num")).select_from(table("gitaccess_version"))
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def run_cli(peer: MediaWikiPeer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``gitaccess`` command, pointed at the peer's database."""
    script = Path(sys.executable).parent / "gitaccess"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from gitaccess.cli import main; main()"]
    command += ["--db", peer.sqlalchemy_url]
    if peer.schema:
        config = cwd / "gitaccess-peer.toml"
        config.write_text(f'[database]\nschema = "{peer.schema}"\n', "utf-8")
        command += ["--config", str(config)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")}
    return subprocess.run([*command, *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=180)


def wiki_editor(site: Site, name: str) -> Editor:
    """The wiki account as gitaccess sees it: id and groups read from MediaWiki's tables."""
    with site.db.read() as conn:
        user = reader.user_by_name(site.db, conn, name)
        assert user is not None, f"MediaWiki has no user {name!r}"
        groups = reader.user_groups(site.db, conn, user.id)
    return Editor(user.name, user.id, groups, ip="127.0.0.1")


def writer(site: Site, conn: Any) -> WikiWriter:
    return WikiWriter(site.db, conn, titles=site.titles)


def dbkey(title: str) -> str:
    return title.replace(" ", "_")


def sha1_hex(text: str) -> str:
    """What MediaWiki's API reports as a revision's sha1 (hex of the main slot's bytes)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def statistics(api: MediaWikiApi) -> dict[str, int]:
    return api.siteinfo("statistics")["statistics"]


def counters(api: MediaWikiApi, user: str) -> dict[str, int]:
    """MediaWiki's statistics (site_stats) and a user's edit count, as its API reports them."""
    stats = statistics(api)
    return {"edits": stats["edits"], "pages": stats["pages"], "articles": stats["articles"],
            "editcount": api.user(user)["editcount"]}


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in before}


#: What legitimately differs between two like changes: ids, times, titles, gitaccess's own tag.
_UNSHAPED = {"rcid", "pageid", "revid", "old_revid", "parentid", "timestamp", "logid", "logpage", "sha1",
             "title", "ns", "comment", "parsedcomment", "tags", "user", "userid", "lastrevid", "touched"}


def shape(entry: dict[str, Any], *ignore: str) -> dict[str, Any]:
    """An API entry (recent change, log event, revision) reduced to what must match MediaWiki's own."""
    out = {key: value for key, value in entry.items() if key not in _UNSHAPED and key not in ignore}
    for key in ("logparams", "params"):
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k != "target_title"}
    out["tags"] = sorted(t for t in entry.get("tags", []) if t != TAG)
    return out


def require_writer_method(name: str) -> None:
    if not hasattr(WikiWriter, name):
        pytest.skip(f"WikiWriter.{name} is not in gitaccess/wiki/writer.py yet")


# ---------------------------------------------------------------------- schema update
def test_db_upgrade_adds_only_gitaccess_tables_and_is_idempotent(
    peer: MediaWikiPeer, api: MediaWikiApi, tmp_path: Path
) -> None:
    # The tables MediaWiki's installer made: the upgrade run here may be the first on this
    # wiki or not (other modules share the peer), what it leaves must be these and gitaccess's.
    before: TableSnapshot | None = peer.installed_tables
    assert before is not None and "page" in {name for _, name in before}, before
    assert not [name for _, name in before if name.startswith("git")], "gitaccess tables before the upgrade"

    first = run_cli(peer, tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    after = peer.table_snapshot()
    new = set(after) - set(before)
    new_names = {name for _, name in new}
    assert not set(before) - set(after), "the upgrade dropped tables"
    assert all(name.startswith("git_") or name == "gitaccess_version" for name in new_names), new_names
    assert {"git_hash", "git_edit_hash", "git_status_modify_hash", "gitaccess_version"} <= new_names
    if peer.schema:  # PostgreSQL: into MediaWiki's schema, nothing into public
        assert {schema for schema, _ in new} == {peer.schema}
    assert {key: after[key] for key in before} == before, "the upgrade altered MediaWiki's tables"
    versions = version_rows(peer)
    assert len(versions) == 1

    second = run_cli(peer, tmp_path, "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert peer.table_snapshot() == after
    assert version_rows(peer) == versions

    # MediaWiki still serves its wiki with gitaccess's tables beside its own.
    assert api.siteinfo()["general"]["generator"].startswith(f"MediaWiki {peer.version}.")

    # gitaccess tells the schema from the tables: the version MediaWiki says, pushes accepted.
    status = run_cli(peer, tmp_path, "db", "status")
    assert status.returncode == 0, status.stderr
    [database, schema, pushes, tables] = status.stdout.splitlines()
    assert database.startswith("database: ") and schema.startswith(f"schema: MediaWiki {peer.version}")
    assert pushes == "pushes: accepted (read/write)"
    assert tables == f"gitaccess tables: revision {versions[0][0]} (up to date)"


# ---------------------------------------------------------------------- gitaccess writes, MediaWiki reads
def test_gitaccess_create_and_edit_look_like_mediawikis_own(
    peer: MediaWikiPeer, site: Site, api: MediaWikiApi
) -> None:
    admin = peer.admin[0]
    title = "Interop gitaccess page"
    text1 = "Created by '''gitaccess''': [[Interop link one]], [[Interop link two|two]].\n[[Category:Interop]]"
    text2 = "Edited by gitaccess: [[Interop link two]], Grüße 漢字 [[Help:Interop help]].\n[[Category:Interop]]"
    stats0, editcount0 = statistics(api), api.user(admin)["editcount"]
    editor = wiki_editor(site, admin)
    assert "sysop" in editor.groups and editor.user_id == api.user(admin)["userid"]

    with site.db.write() as conn:
        w = writer(site, conn)
        created = w.save(0, dbkey(title), text1, editor=editor, summary="gitaccess creates", base_rev_id=0)
        edited = w.save(0, dbkey(title), text2, editor=editor, summary="gitaccess edits ü", minor=True,
                        base_rev_id=created.rev_id)
    assert created.created and created.rev_id and edited.rev_id

    # History: two revisions in order, with text, summaries, user, minor flag, tag, size and sha1.
    revs = api.revisions(title)
    assert [r["revid"] for r in revs] == [created.rev_id, edited.rev_id]
    assert [r["parentid"] for r in revs] == [0, created.rev_id]
    assert [r["content"] for r in revs] == [text1, text2]
    assert [r["comment"] for r in revs] == ["gitaccess creates", "gitaccess edits ü"]
    assert [r["user"] for r in revs] == [admin, admin]
    assert [r.get("minor", False) for r in revs] == [False, True]
    assert all(TAG in r["tags"] for r in revs), [r["tags"] for r in revs]
    assert [r["size"] for r in revs] == [len(text1.encode()), len(text2.encode())]
    assert [r["sha1"] for r in revs] == [sha1_hex(text1), sha1_hex(text2)]
    with site.db.read() as conn:
        ours = list(reader.revisions(site.db, conn, page_id=created.page_id))
    assert [wiki_timestamp_of(r["timestamp"]) for r in revs] == [r.timestamp for r in ours]

    info = api.page(title)
    assert info["pageid"] == created.page_id and info["lastrevid"] == edited.rev_id
    assert info["length"] == len(text2.encode()) and info["contentmodel"] == "wikitext"
    assert "new" not in info and "redirect" not in info

    # Recent changes: both edits, found by the tag, flagged as MediaWiki flags them.
    changes = {rc["revid"]: rc for rc in api.recent_changes(tag=TAG, title=title)}
    assert set(changes) == {created.rev_id, edited.rev_id}
    new, edit = changes[created.rev_id], changes[edited.rev_id]
    assert (new["type"], new["old_revid"], new["oldlen"], new["newlen"]) == ("new", 0, 0, len(text1.encode()))
    assert (edit["type"], edit["old_revid"], edit["oldlen"], edit["newlen"]) == (
        "edit", created.rev_id, len(text1.encode()), len(text2.encode()))
    assert edit.get("minor") and not new.get("minor")
    assert new["user"] == edit["user"] == admin and new["comment"] == "gitaccess creates"
    patrolled = api.recent_changes(tag=TAG, title=title, rcprop="ids|patrolled")
    assert all(rc.get("autopatrolled") for rc in patrolled), patrolled  # a sysop's edits

    # The creation is in the log, as MediaWiki logs its own creations.
    created_log = api.log_events(type="create", title=title)
    assert len(created_log) == 1
    entry = created_log[0]
    assert (entry["action"], entry["user"], entry["comment"], entry["logpage"]) == (
        "create", admin, "gitaccess creates", created.page_id)
    assert entry["timestamp"] == revs[0]["timestamp"]

    # Counters: MediaWiki's statistics and the user's edit count moved as for its own edits.
    stats1 = statistics(api)
    assert stats1["edits"] - stats0["edits"] == 2
    assert stats1["pages"] - stats0["pages"] == 1
    assert stats1["articles"] - stats0["articles"] == 1  # content namespace, has a link
    assert api.user(admin)["editcount"] - editcount0 == 2

    # The same two edits made by MediaWiki look the same in every view (but ids, times and titles).
    twin = "Interop MediaWiki twin page"
    start = counters(api, admin)
    api.edit(twin, text1, summary="gitaccess creates", createonly=True)
    api.edit(twin, text2, summary="gitaccess edits ü", minor=True, nocreate=True)
    assert changed(start, counters(api, admin)) == {"edits": 2, "pages": 1, "articles": 1, "editcount": 2}
    assert [shape(r) for r in revs] == [shape(r) for r in api.revisions(twin)]
    assert shape(info) == shape(api.page(twin))
    assert [shape(rc) for rc in api.recent_changes(title=title)] == [shape(rc) for rc in api.recent_changes(title=twin)]
    assert [shape(e) for e in api.log_events(title=title)] == [shape(e) for e in api.log_events(title=twin)]


def test_refresh_links_job_queued_by_gitaccess_is_run_by_mediawiki(
    peer: MediaWikiPeer, site: Site, api: MediaWikiApi
) -> None:
    # On SQLite, MediaWiki's installer keeps the job queue in <dbname>_jobqueue.sqlite: runJobs.php
    # only sees gitaccess's job if gitaccess queued it there.
    title = "Interop links page"
    text = "[[Interop link three]] {{Interop template}} [[Category:Interop links]]"
    editor = wiki_editor(site, peer.admin[0])
    with site.db.write() as conn:
        writer(site, conn).save(0, dbkey(title), text, editor=editor, summary="links", base_rev_id=0)
    assert api.links(title) == []  # MediaWiki derives links only when the job runs
    peer.run_jobs()
    # A missing template is also a link (MediaWiki shows it red), as in MediaWiki's own parse.
    assert api.links(title) == ["Interop link three", "Template:Interop template"]
    assert api.categories(title) == ["Category:Interop links"]
    templates = api.page(title, prop="templates")
    assert [t["title"] for t in templates.get("templates", [])] == ["Template:Interop template"]


def test_page_creation_log_entry_carries_the_tag(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    title = "Interop tagged creation"
    editor = wiki_editor(site, peer.admin[0])
    with site.db.write() as conn:
        writer(site, conn).save(0, dbkey(title), "tagged [[creation]]", editor=editor, summary="tag me")
    entries = api.log_events(type="create", title=title)
    assert len(entries) == 1 and TAG in entries[0]["tags"], entries
    assert title in [e["title"] for e in api.log_events(type="create", letag=TAG)]


def test_mediawiki_edits_a_page_after_gitaccess(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    title = "Interop shared page"
    editor = wiki_editor(site, peer.admin[0])
    with site.db.write() as conn:
        ours = writer(site, conn).save(0, dbkey(title), "gitaccess wrote this.", editor=editor,
                                       summary="gitaccess first", base_rev_id=0)

    theirs = api.edit(title, "MediaWiki wrote this.", summary="MediaWiki second", baserevid=ours.rev_id,
                      nocreate=True)
    assert theirs["oldrevid"] == ours.rev_id and theirs["pageid"] == ours.page_id
    revs = api.revisions(title)
    assert [(r["revid"], r["parentid"]) for r in revs] == [(ours.rev_id, 0), (theirs["newrevid"], ours.rev_id)]

    # And gitaccess carries on from MediaWiki's revision, detecting a stale base as a conflict.
    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, 0, dbkey(title))
        assert page is not None and page.latest == theirs["newrevid"]
        assert reader.revision_text(site.db, conn, page.latest) == "MediaWiki wrote this."
    with pytest.raises(EditConflict), site.db.write() as conn:
        writer(site, conn).save(0, dbkey(title), "stale", editor=editor, summary="stale", base_rev_id=ours.rev_id)
    with site.db.write() as conn:
        third = writer(site, conn).save(0, dbkey(title), "gitaccess again.", editor=editor, summary="third",
                                        base_rev_id=theirs["newrevid"])
    assert [r["revid"] for r in api.revisions(title)][-1] == third.rev_id
    assert api.revisions(title)[-1]["parentid"] == theirs["newrevid"]


# ---------------------------------------------------------------------- MediaWiki writes, gitaccess reads
def test_gitaccess_reads_mediawikis_own_edits(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    title = "Interop API page ü"
    texts = ["First version, by the API. [[Link]]", "Second version — Grüße 漢字.", "Second version — Grüße 漢字, minor."]
    summaries = ["API creates", "API edits ü", "API minor edit"]
    made = [
        api.edit(title, texts[0], summary=summaries[0], createonly=True),
        api.edit(title, texts[1], summary=summaries[1], nocreate=True),
        api.edit(title, texts[2], summary=summaries[2], nocreate=True, minor=True),
    ]
    revs = api.revisions(title, rvprop="ids|timestamp|user|userid|comment|content|size|sha1|flags")
    info = api.page(title)
    assert [r["revid"] for r in revs] == [m["newrevid"] for m in made]

    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, 0, dbkey(title))
        assert page is not None
        ours = list(reader.revisions(site.db, conn, page_id=page.id))
        our_texts = [reader.revision_text(site.db, conn, r.id) for r in ours]
        logs = [e for e in events.logs_after(site.db, conn, 0, actions=None, types=("create",))
                if e.page_id == page.id]
    assert (page.id, page.latest, page.length, page.model, page.is_redirect) == (
        info["pageid"], info["lastrevid"], info["length"], "wikitext", False)
    assert [r.id for r in ours] == [r["revid"] for r in revs]
    assert our_texts == [r["content"] for r in revs] == texts
    assert [r.comment for r in ours] == [r["comment"] for r in revs] == summaries
    assert [r.user_name for r in ours] == [r["user"] for r in revs]
    assert [r.user_id for r in ours] == [r["userid"] for r in revs]
    assert [r.minor for r in ours] == [r.get("minor", False) for r in revs] == [False, False, True]
    assert [r.timestamp for r in ours] == [wiki_timestamp_of(r["timestamp"]) for r in revs]
    assert [r.parent_id for r in ours] == [r["parentid"] for r in revs]
    assert [r.length for r in ours] == [r["size"] for r in revs]
    assert [int(r.sha1, 36) for r in ours] == [int(r["sha1"], 16) for r in revs]
    assert len(logs) == 1 and logs[0].params.get("associated_rev_id") == made[0]["newrevid"]
    assert logs[0].comment == summaries[0] and logs[0].user_name == revs[0]["user"]


# ---------------------------------------------------------------------- accounts
def test_authentication_against_mediawikis_accounts(
    peer: MediaWikiPeer, site: Site, api: MediaWikiApi
) -> None:
    auth = Authenticator(site)
    admin, password = peer.admin
    bot, bot_password = peer.bot
    address = "127.0.0.1"

    account = auth.authenticate(admin, password, address)
    assert account.name == admin and account.user_id == api.user(admin)["userid"]
    assert "sysop" in account.groups and account.can_push and account.can_read and account.grants is None
    with pytest.raises(AuthError):
        auth.authenticate(admin, password + "x", address)

    via_bot = auth.authenticate(bot, bot_password, address)
    assert via_bot.name == admin and via_bot.can_push
    assert via_bot.grants is not None and {"editpage", "createeditmovepage", "delete"} <= via_bot.grants
    assert via_bot.granted("edit") and via_bot.granted("delete")
    with pytest.raises(AuthError):
        auth.authenticate(admin, bot_password, address)  # a BotPassword is not the main password
    with pytest.raises(AuthError):
        auth.authenticate(bot, password, address)  # nor the reverse
    with pytest.raises(AuthError):
        auth.authenticate(admin + "@no-such-app", bot_password, address)

    # User names normalised as MediaWiki normalises them.
    assert auth.authenticate(admin.lower(), password, address).name == admin
    assert auth.authenticate(admin.lower() + "@" + bot.split("@", 1)[1], bot_password, address).name == admin
    peer.maint("createAndPromote.php", "Interop Tester", "Tester-Pass-9876")
    tester = auth.authenticate("interop_Tester", "Tester-Pass-9876", address)
    assert tester.name == "Interop Tester" and "sysop" not in tester.groups
    assert not tester.can_push and not tester.can_read  # no `gitaccess` right by default
    MediaWikiApi(peer.api_url).login("interop_Tester", "Tester-Pass-9876")  # MediaWiki agrees on the name
    assert not account.blocked and not tester.blocked

    # Blocks MediaWiki made (ipb_expiry 'infinity', or a timestamp) are seen.
    listed = peer.dir / "interop-block.txt"
    listed.write_text("Interop Tester\n", "utf-8")
    peer.maint("blockUsers.php", "--performer", admin, "--reason", "interop block", str(listed))
    peer.maint("createAndPromote.php", "Interop Timed", "Timed-Pass-9876")
    listed.write_text("Interop Timed\n", "utf-8")
    peer.maint("blockUsers.php", "--performer", admin, "--expiry", "1 day", str(listed))
    assert auth.authenticate("Interop Tester", "Tester-Pass-9876", address).blocked
    assert auth.authenticate("Interop Timed", "Timed-Pass-9876", address).blocked
    assert not auth.authenticate(admin, password, address).blocked


# ---------------------------------------------------------------------- deletions and moves
def test_gitaccess_delete_is_seen_by_mediawiki(peer: MediaWikiPeer, site: Site, api: MediaWikiApi) -> None:
    require_writer_method("delete")
    admin = peer.admin[0]
    title = "Interop delete me"
    api.edit(title, "To be deleted. [[Somewhere]]", summary="first", createonly=True)
    api.edit(title, "To be deleted, second text. [[Somewhere]]", summary="second", nocreate=True)
    before = api.revisions(title)
    page_id = api.page(title)["pageid"]
    editor = wiki_editor(site, admin)
    reason = "interop: gitaccess deletes"

    # The same deletion made by MediaWiki, to compare with.
    twin = "Interop delete twin"
    api.edit(twin, "To be deleted. [[Somewhere]]", summary="first", createonly=True)
    api.edit(twin, "To be deleted, second text. [[Somewhere]]", summary="second", nocreate=True)
    start = counters(api, admin)
    api.delete(twin, reason=reason)
    theirs = changed(start, counters(api, admin))

    start = counters(api, admin)
    with site.db.write() as conn:
        log_id = writer(site, conn).delete(0, dbkey(title), editor=editor, reason=reason)
    assert isinstance(log_id, int) and log_id > 0
    assert changed(start, counters(api, admin)) == theirs, "statistics and edit count move as for MediaWiki's"
    assert theirs["pages"] == -1 and theirs["articles"] == -1

    assert api.page(title).get("missing")
    entries = [e for e in api.log_events(type="delete", title=title) if e["logid"] == log_id]
    assert len(entries) == 1, api.log_events(type="delete", title=title)
    entry = entries[0]
    assert (entry["action"], entry["comment"], entry["user"], entry["logpage"]) == ("delete", reason, admin, page_id)
    assert TAG in entry["tags"]
    changes = [rc for rc in api.recent_changes(tag=TAG, title=title, rctype="log") if rc.get("logid") == log_id]
    assert len(changes) == 1 and (changes[0]["logtype"], changes[0]["logaction"]) == ("delete", "delete")
    assert shape(entry) == shape(api.log_events(type="delete", title=twin)[0])
    assert shape(changes[0]) == shape(api.recent_changes(title=twin, rctype="log")[0])
    # Like MediaWiki, the deletion leaves no edits of the page in recent changes.
    assert [rc["type"] for rc in api.recent_changes(title=title)] == ["log"]
    assert [rc["type"] for rc in api.recent_changes(title=twin)] == ["log"]

    # Special:Undelete's data: the archived revisions, complete.
    archived = api.deleted_revisions(title)
    keys = ("revid", "parentid", "content", "comment", "user", "size", "sha1", "timestamp")
    assert [{k: r.get(k) for k in keys} for r in archived] == [{k: r.get(k) for k in keys} for r in before]

    # MediaWiki can restore what gitaccess deleted, history and all.
    restored = api.undelete(title, reason="interop: MediaWiki restores")
    assert restored["revisions"] == len(before)
    after = api.revisions(title)
    assert [(r["revid"], r["content"]) for r in after] == [(r["revid"], r["content"]) for r in before]
    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, 0, dbkey(title))
        assert page is not None and page.latest == before[-1]["revid"]


@pytest.mark.parametrize("redirect", [True, False], ids=["redirect", "no-redirect"])
def test_gitaccess_move_is_seen_by_mediawiki(
    peer: MediaWikiPeer, site: Site, api: MediaWikiApi, redirect: bool
) -> None:
    require_writer_method("move")
    admin = peer.admin[0]
    suffix = "kept" if redirect else "suppressed"
    old = f"Interop move source {suffix}"
    new_ns, new = (0, "Interop move target") if redirect else (12, "Help:Interop moved page")
    new_dbkey = dbkey(new.split(":", 1)[1] if new_ns else new)
    reason = "interop: gitaccess moves"
    texts = ["Moving text. [[Anywhere]]", "Moving text, edited by MediaWiki. [[Anywhere]]"]
    editor = wiki_editor(site, admin)

    # The same move made by MediaWiki, to compare with.
    twin_old, twin_new = f"Interop twin source {suffix}", f"{new} twin"
    api.edit(twin_old, texts[0], summary="created", createonly=True)
    api.edit(twin_old, texts[1], summary="MediaWiki edits", nocreate=True)
    start = counters(api, admin)
    api.move(twin_old, twin_new, reason, noredirect=not redirect)
    theirs = changed(start, counters(api, admin))
    theirs.pop("articles")  # test_move_across_content_namespaces_counts_articles_like_mediawiki

    with site.db.write() as conn:
        first = writer(site, conn).save(0, dbkey(old), texts[0], editor=editor, summary="gitaccess creates",
                                        base_rev_id=0)
    api.edit(old, texts[1], summary="MediaWiki edits", nocreate=True)
    before = api.revisions(old)
    start = counters(api, admin)
    with site.db.write() as conn:
        log_id = writer(site, conn).move(0, dbkey(old), new_ns, new_dbkey, editor=editor, reason=reason,
                                         redirect=redirect)
    assert isinstance(log_id, int) and log_id > 0
    ours = changed(start, counters(api, admin))
    ours.pop("articles")
    assert ours == theirs, "statistics and edit count move as for MediaWiki's"

    # The page, its id and its whole history are at the new title, plus MediaWiki's null revision.
    info = api.page(new)
    assert info.get("pageid") == first.page_id, info
    moved = api.revisions(new)
    assert [r["revid"] for r in moved[: len(before)]] == [r["revid"] for r in before]
    assert len(moved) == len(before) + 1, "a move adds one null revision to the moved page"
    null = moved[-1]
    assert (null["parentid"], null["sha1"], null["content"]) == (before[-1]["revid"], before[-1]["sha1"],
                                                                  before[-1]["content"])
    how = "" if redirect else " without leaving a redirect"
    assert null["comment"] == f"{admin} moved page [[{old}]] to [[{new}]]{how}: {reason}"
    assert TAG in null["tags"] and info["lastrevid"] == null["revid"]
    twin_null = api.revisions(twin_new)[-1]
    assert twin_null["comment"] == f"{admin} moved page [[{twin_old}]] to [[{twin_new}]]{how}: {reason}"
    assert shape(null) == shape(twin_null)
    assert shape(info) == shape(api.page(twin_new))

    source = api.page(old)
    if redirect:
        assert source.get("redirect") and source.get("pageid") not in (None, first.page_id), source
        left = api.revisions(old)
        assert [r["content"] for r in left] == [f"#REDIRECT [[{new}]]"]
        assert [r["content"] for r in api.revisions(twin_old)] == [f"#REDIRECT [[{twin_new}]]"]
        differs = ("content", "slots", "size")  # the redirect names its own target
        assert shape(left[0], *differs) == shape(api.revisions(twin_old)[0], *differs)
        assert TAG in left[0]["tags"]
        resolved = api.get(action="query", titles=old, redirects=1)["query"]
        assert resolved["redirects"][0]["to"] == new
    else:
        assert source.get("missing"), source
    assert shape(source, "length") == shape(api.page(twin_old), "length")

    entries = [e for e in api.log_events(type="move", title=old) if e["logid"] == log_id]
    assert len(entries) == 1, api.log_events(type="move", title=old)
    entry = entries[0]
    assert (entry["action"], entry["comment"], entry["user"], entry["logpage"]) == ("move", reason, admin,
                                                                                     first.page_id)
    assert entry["params"]["target_title"] == new and entry["params"]["target_ns"] == new_ns
    assert entry["params"]["suppressredirect"] is (not redirect)
    assert TAG in entry["tags"]
    assert shape(entry) == shape(api.log_events(type="move", title=twin_old)[0])
    ours_rc = [rc for rc in api.recent_changes(title=old) if rc.get("logid") == log_id]
    theirs_rc = api.recent_changes(title=twin_old, rctype="log")
    assert len(ours_rc) == 1 and TAG in ours_rc[0]["tags"] and ours_rc[0]["revid"] == null["revid"]
    assert [shape(rc) for rc in api.recent_changes(title=old)] == [
        shape(rc) for rc in api.recent_changes(title=twin_old)]
    assert len(theirs_rc) == 1

    # MediaWiki edits the moved page, and gitaccess reads the result.
    after = api.edit(new, "Edited by MediaWiki after the move.", summary="after the move",
                     baserevid=null["revid"], nocreate=True)
    assert after["oldrevid"] == null["revid"]
    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, new_ns, new_dbkey)
        assert page is not None and page.id == first.page_id and page.latest == after["newrevid"]
        left_page = reader.page_by_title(site.db, conn, 0, dbkey(old))
        assert (left_page is not None and left_page.is_redirect) if redirect else left_page is None


def test_move_across_content_namespaces_counts_articles_like_mediawiki(
    peer: MediaWikiPeer, site: Site, api: MediaWikiApi
) -> None:
    require_writer_method("move")
    admin = peer.admin[0]
    editor = wiki_editor(site, admin)
    text = "A countable page: it has a [[link]]."
    api.edit("Interop count twin", text, summary="created", createonly=True)
    api.edit("Interop count", text, summary="created", createonly=True)

    def mediawiki_moves(old: str, new: str) -> dict[str, int]:
        start = counters(api, admin)
        api.move(old, new, "count", noredirect=True)
        return changed(start, counters(api, admin))

    def gitaccess_moves(namespace: int, dbkey_: str, new_namespace: int, new_dbkey: str) -> dict[str, int]:
        start = counters(api, admin)
        with site.db.write() as conn:
            writer(site, conn).move(namespace, dbkey_, new_namespace, new_dbkey, editor=editor, reason="count",
                                    redirect=False)
        return changed(start, counters(api, admin))

    out_theirs = mediawiki_moves("Interop count twin", "Help:Interop count twin")
    out_ours = gitaccess_moves(0, "Interop_count", 12, "Interop_count")
    back_theirs = mediawiki_moves("Help:Interop count twin", "Interop count twin")
    back_ours = gitaccess_moves(12, "Interop_count", 0, "Interop_count")
    assert out_theirs["articles"] == -1 and back_theirs["articles"] == 1
    assert (out_ours, back_ours) == (out_theirs, back_theirs)
