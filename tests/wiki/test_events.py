"""The wiki's activity in arrival order, as the history journal reads it."""

from __future__ import annotations

import pytest

from gitaccess.site import Site
from gitaccess.wiki import events
from gitaccess.wiki.events import LogEvent, RevisionEvent
from gitaccess.wiki.writer import Editor, WikiWriter

ADMIN = Editor("Admin", 1, frozenset({"sysop"}))
TS = "20261121120000"


def test_events_merge_revisions_archive_and_logs(wiki: Site) -> None:
    with wiki.db.write() as conn:
        w = WikiWriter(wiki.db, conn, titles=wiki.titles, upload_directory=wiki.config.upload_directory)
        w.save(0, "A", "a1", editor=ADMIN, summary="a1", timestamp=TS)
        w.save(0, "B", "b1", editor=ADMIN, summary="b1", timestamp=TS)
        w.move(0, "A", 0, "C", editor=ADMIN, reason="mv", redirect=True, timestamp=TS)
        w.delete(0, "B", editor=ADMIN, reason="gone", timestamp=TS)
        w.upload("X.txt", b"hello", editor=ADMIN, comment="up", page_text="desc", timestamp="20261121120001")
    with wiki.db.read() as conn:
        found = events.in_arrival_order(
            [*events.revisions_after(wiki.db, conn, 0, batch=2), *events.logs_after(wiki.db, conn, 0)])
        marks = events.high_water_marks(wiki.db, conn)
        assert [e.rev_id for e in events.revisions_after(wiki.db, conn, 2, upto=4)] == [3, 4]
    summary = [
        (type(e).__name__, e.dbkey, getattr(e, "null", None), getattr(e, "archived", None), getattr(e, "action", None))
        for e in found
    ]
    assert summary == [
        ("RevisionEvent", "C", False, False, None),   # A's first revision; the page is called C now
        ("RevisionEvent", "B", False, True, None),    # B's revision lives in the archive
        ("RevisionEvent", "C", True, False, None),    # the move's null revision
        ("LogEvent", "A", None, None, "move"),        # right after its null revision ...
        ("RevisionEvent", "A", False, False, None),   # ... and before the redirect it left
        ("LogEvent", "B", None, None, "delete"),
        ("RevisionEvent", "X.txt", False, False, None),
        ("LogEvent", "X.txt", None, None, "upload"),
    ]
    move = found[3]
    assert isinstance(move, events.LogEvent) and move.params["4::target"] == "C" and move.associated_rev == 3
    assert marks == (5, 6)  # five revisions; logs: 3 creations, move, delete, upload


def _revision(rev_id: int, page_id: int, dbkey: str, timestamp: str, *, null: bool = False) -> RevisionEvent:
    return RevisionEvent(rev_id, page_id, 0, dbkey, timestamp, "Admin", 1, "", False, 0, "", f"tt:{rev_id}",
                         "wikitext", null, False)


@pytest.mark.parametrize("redirect_second", ["20260101000000", "20260101000001"])
def test_a_moves_redirect_follows_the_move_when_a_second_ends_between_them(redirect_second: str) -> None:
    """MediaWiki writes a move's redirect (no recentchanges row) just before the move's log entry:
    in the same second or, when a second ends between them, in the one before."""
    move = LogEvent(44, "move", "move", "20260101000001", "Admin", 1, 0, "Later_page", 7, "moved", 0,
                    {"4::target": "Later page moved"})
    null = _revision(45, 7, "Later_page_moved", "20260101000000", null=True)
    redirect = _revision(46, 8, "Later_page", redirect_second)
    before = _revision(43, 5, "Other", "20260101000000")
    ordered = events.in_arrival_order([redirect, move, null, before])
    assert ordered.index(move) < ordered.index(redirect)
