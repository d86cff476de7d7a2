"""The benchmark suite kept from rotting: a tiny wiki through the generator and the runner.

The generator's bulk rows must be the rows WikiWriter writes for the same
edits (so the journal reads the same history from them), and the runner must
produce both figures of every scenario but git-remote-mediawiki's against
the reference server (lighttpd + git http-backend; Debian packages lighttpd
and git), on a wiki of 200 revisions (the push scenarios change its ~30
main-namespace pages instead of 1,000).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bench import report, run, servers, wikidir
from bench.generate import config_for, create_wiki
from bench.plan import SIZES
from gitaccess.journal.history import History
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from tests.conftest import unavailable

#: Rows that must be identical whichever way the edits were written (ids included).
COMPARED = {
    "page": ("page_id", "page_namespace", "page_title", "page_is_redirect", "page_is_new", "page_touched",
             "page_latest", "page_len", "page_content_model"),
    "revision": ("rev_id", "rev_page", "rev_comment_id", "rev_actor", "rev_timestamp", "rev_minor_edit",
                 "rev_deleted", "rev_len", "rev_parent_id", "rev_sha1"),
    "revision_comment_temp": ("revcomment_rev", "revcomment_comment_id"),
    "archive": ("ar_id", "ar_namespace", "ar_title", "ar_comment_id", "ar_actor", "ar_timestamp", "ar_rev_id",
                "ar_page_id", "ar_parent_id", "ar_sha1"),
    "slots": ("slot_revision_id", "slot_role_id", "slot_content_id", "slot_origin"),
    "content": ("content_id", "content_size", "content_sha1", "content_model", "content_address"),
    "text": ("old_id", "old_text", "old_flags"),
    "comment": ("comment_id", "comment_hash", "comment_text"),
    "actor": ("actor_id", "actor_user", "actor_name"),
    "logging": ("log_id", "log_type", "log_action", "log_timestamp", "log_actor", "log_namespace", "log_title",
                "log_page", "log_comment_id", "log_params", "log_deleted"),
    "log_search": ("ls_field", "ls_value", "ls_log_id"),
    "recentchanges": ("rc_id", "rc_timestamp", "rc_actor", "rc_namespace", "rc_title", "rc_comment_id",
                      "rc_minor", "rc_bot", "rc_new", "rc_cur_id", "rc_this_oldid", "rc_last_oldid", "rc_type",
                      "rc_source", "rc_patrolled", "rc_logid", "rc_log_type", "rc_log_action", "rc_params"),
    "redirect": ("rd_from", "rd_namespace", "rd_title"),
    "image": ("img_name", "img_size", "img_width", "img_height", "img_major_mime", "img_minor_mime",
              "img_description_id", "img_actor", "img_timestamp", "img_sha1"),
    "oldimage": ("oi_name", "oi_archive_name", "oi_size", "oi_actor", "oi_timestamp", "oi_sha1"),
    "site_stats": ("ss_total_edits", "ss_good_articles", "ss_total_pages", "ss_users", "ss_images"),
    "user": ("user_id", "user_name", "user_editcount"),
    "user_groups": ("ug_user", "ug_group"),
}


def _rows(site: Site, table: str, columns: tuple[str, ...]) -> list[tuple[object, ...]]:
    t = site.db.tables[table]
    with site.db.read() as conn:
        return sorted((tuple(row) for row in conn.execute(select(*(t.c[c] for c in columns)))), key=repr)


def _head(directory: Path) -> bytes:
    site = Site(config_for(directory))
    repository = WikiRepository(site)
    try:
        repository.refresh()
        return repository.refs()[b"refs/heads/master"]
    finally:
        repository.close()
        site.db.dispose()


def test_bulk_rows_are_wiki_writer_rows(tmp_path: Path) -> None:
    bulk, writer = tmp_path / "bulk", tmp_path / "writer"
    made = create_wiki(bulk, SIZES["tiny"], seed=3)
    create_wiki(writer, SIZES["tiny"], seed=3, with_writer=True)
    assert made.revisions == 200 and made.uploads and made.moves and made.deletions
    sites = [Site(config_for(bulk)), Site(config_for(writer))]
    try:
        for table, columns in COMPARED.items():
            assert _rows(sites[0], table, columns) == _rows(sites[1], table, columns), table
    finally:
        for site in sites:
            site.db.dispose()
    for a, b in zip(sorted((bulk / "images").rglob("*")), sorted((writer / "images").rglob("*"))):
        assert a.relative_to(bulk) == b.relative_to(writer)
        assert a.is_dir() or a.read_bytes() == b.read_bytes()
    # The journal reads the same history from both.
    assert _head(bulk) == _head(writer)


def test_runner_measures_every_scenario(tmp_path: Path) -> None:
    try:
        servers.lighttpd_binary()
    except servers.ServerUnavailable as exc:
        unavailable(f"the benchmark's reference server is missing: {exc}")
    scenarios = ("cold", "clone", "depth1", "rss", "fetch", "push-pages", "push-commits")
    runner = run.Runner(run.Settings("tiny", 1, scenarios, repeat=1, root=tmp_path / "bench", cold_deadline=120,
                                     quiet=True))
    results = {r.scenario: r for r in runner.run()}
    assert set(results) == {*scenarios, "pack", "fetch-server"}  # fetch: at the client and in the server
    for result in results.values():
        assert result.status == "ok", result
        assert result.gitaccess and result.reference and result.ratio, result
        assert "DIFFERENT" not in result.note and "not comparable" not in result.note, result
    assert "rev/s" in results["cold"].note
    table = report.table(list(results.values()))
    assert table.count("\n") == len(results) + 1
    # What was served is what the wiki's database rebuilds to (gitaccess verify).
    wiki = wikidir.built(tmp_path / "bench", "tiny", 1)
    assert wiki is not None
    site = Site(config_for(wiki))
    try:
        pushed = runner.info["push-pages commits"] + runner.info["push-commits commits"]
        assert History(site).verify() == runner.info["commits"] + 1 + pushed  # 1: the fetch scenario's edit
    finally:
        site.db.dispose()
