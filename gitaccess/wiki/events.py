"""The wiki's activity in arrival order: what the history journal turns into commits.

Revisions are read from both ``revision`` and ``archive`` (a page deleted
before gitaccess first saw it still has a history), log entries from
``logging``. Each stream is read by id, after the journal's high-water
marks, so catching up costs in proportion to what is new. Within one batch
the two streams are merged by timestamp; a log entry follows the revision
it is associated with (a move follows its null revision and precedes the
redirect it left behind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Iterable, Iterator

from sqlalchemy import Connection, and_, bindparam, func, literal, select, union_all

from gitaccess.wiki import phpserial
from gitaccess.wiki.database import WikiDatabase

#: (log_type, log_action) pairs that change the repository's tree.
TREE_LOG_ACTIONS = frozenset({
    ("delete", "delete"), ("delete", "restore"), ("suppress", "delete"),
    ("move", "move"), ("move", "move_redir"), ("merge", "merge"),
    ("upload", "upload"), ("upload", "overwrite"), ("upload", "revert"),
})

# rev_deleted / log_deleted bits (RevisionRecord::DELETED_*)
DELETED_TEXT, DELETED_COMMENT, DELETED_USER = 1, 2, 4


@dataclass(frozen=True)
class RevisionEvent:
    """A revision as the journal needs it; ``null`` revisions repeat earlier content."""

    rev_id: int
    page_id: int
    namespace: int
    dbkey: str
    timestamp: str
    user_name: str
    user_id: int
    comment: str
    minor: bool
    deleted: int
    sha1: str
    content_address: str
    model: str
    null: bool
    archived: bool

    @property
    def sort_key(self) -> tuple[str, int, int, int]:
        return (self.timestamp, self.rev_id, 0, 0)


@dataclass(frozen=True)
class LogEvent:
    """A tree-changing log entry."""

    log_id: int
    type: str
    action: str
    timestamp: str
    user_name: str
    user_id: int
    namespace: int
    dbkey: str
    page_id: int
    comment: str
    deleted: int
    params: dict[Any, Any] = field(default_factory=dict)

    @property
    def associated_rev(self) -> int | None:
        value = self.params.get("associated_rev_id")
        return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None

    @property
    def sort_key(self) -> tuple[str, int, int, int]:
        # After the revision it is associated with, else after the second's revisions.
        return (self.timestamp, self.associated_rev or 2**62, 1, self.log_id)


Event = RevisionEvent | LogEvent


def _log_params(raw: str | None) -> dict[Any, Any]:
    if not raw:
        return {}
    try:
        value = phpserial.loads(raw)
    except phpserial.PhpSerialError:
        # Before MediaWiki 1.19: one parameter a line, numbered from 4.
        return {f"{i + 4}::param": v for i, v in enumerate(raw.split("\n"))}
    return value if isinstance(value, dict) else {}


@lru_cache(maxsize=64)
def _revision_select(db: WikiDatabase, titled: bool, batch: int) -> Any:
    """The query of :func:`revisions_after`, built once per database (building it costs more
    than running it): revisions with ids in (:after, :upto], optionally of :namespace/:dbkey."""
    t = db.tables
    both = _revision_query(db, bindparam("after"), bindparam("upto"))
    query = (
        select(both, t.actor.c.actor_name, t.actor.c.actor_user, t.comment.c.comment_text)
        .select_from(both)
        .join(t.actor, t.actor.c.actor_id == both.c.actor)
        .join(t.comment, t.comment.c.comment_id == both.c.comment_id, isouter=True)
        .order_by(both.c.rev_id).limit(batch)
    )
    if titled:
        query = query.where(both.c.namespace == bindparam("namespace"), both.c.dbkey == bindparam("dbkey"))
    return query


def _revision_query(db: WikiDatabase, after: Any, upto: Any) -> Any:
    """revision and archive rows, as one selectable with the same columns."""
    t = db.tables
    r, ar, p = t.revision, t.archive, t.page
    main = t.slot_roles.c.role_name == "main"

    def slot_join(rev_id_col: Any, query: Any) -> Any:
        return (query.join(t.slots, t.slots.c.slot_revision_id == rev_id_col)
                .join(t.slot_roles, and_(t.slot_roles.c.role_id == t.slots.c.slot_role_id, main))
                .join(t.content, t.content.c.content_id == t.slots.c.slot_content_id)
                .join(t.content_models, t.content_models.c.model_id == t.content.c.content_model))

    if db.has_comment_temp:
        live_comment = (select(t.revision_comment_temp.c.revcomment_comment_id)
                        .where(t.revision_comment_temp.c.revcomment_rev == r.c.rev_id)
                        .scalar_subquery())
    else:
        live_comment = r.c.rev_comment_id
    live = slot_join(r.c.rev_id, select(
        r.c.rev_id.label("rev_id"), r.c.rev_page.label("page_id"), p.c.page_namespace.label("namespace"),
        p.c.page_title.label("dbkey"), r.c.rev_timestamp.label("timestamp"), r.c.rev_actor.label("actor"),
        live_comment.label("comment_id"), r.c.rev_minor_edit.label("minor"), r.c.rev_deleted.label("deleted"),
        r.c.rev_sha1.label("sha1"), t.content.c.content_address.label("address"),
        t.content_models.c.model_name.label("model"), t.slots.c.slot_origin.label("origin"),
        literal(0).label("archived"),
    ).select_from(r).join(p, p.c.page_id == r.c.rev_page)).where(r.c.rev_id > after)
    gone = slot_join(ar.c.ar_rev_id, select(
        ar.c.ar_rev_id, ar.c.ar_page_id, ar.c.ar_namespace, ar.c.ar_title, ar.c.ar_timestamp, ar.c.ar_actor,
        ar.c.ar_comment_id, ar.c.ar_minor_edit, ar.c.ar_deleted, ar.c.ar_sha1, t.content.c.content_address,
        t.content_models.c.model_name, t.slots.c.slot_origin, literal(1),
    ).select_from(ar)).where(ar.c.ar_rev_id > after)
    live = live.where(r.c.rev_id <= upto)
    gone = gone.where(ar.c.ar_rev_id <= upto)
    return union_all(live, gone).subquery()


#: An id above every id: "no upper bound" for the prepared queries.
NO_LIMIT = 2**31 - 1  # the largest PostgreSQL integer


def revisions_after(db: WikiDatabase, conn: Connection, after: int, upto: int | None = None,
                    batch: int = 5000, title: tuple[int, str] | None = None) -> Iterator[RevisionEvent]:
    """Revisions with ids in (after, upto], by id, read in batches; optionally of one title only."""
    query = _revision_select(db, title is not None, batch)
    while True:
        params = {"after": after, "upto": NO_LIMIT if upto is None else upto}
        if title is not None:
            params.update(namespace=title[0], dbkey=title[1])
        rows = conn.execute(query, params).all()
        for row in rows:
            m = row._mapping
            yield RevisionEvent(
                rev_id=m["rev_id"], page_id=m["page_id"] or 0, namespace=m["namespace"], dbkey=m["dbkey"],
                timestamp=m["timestamp"], user_name=m["actor_name"], user_id=m["actor_user"] or 0,
                comment=m["comment_text"] or "", minor=bool(m["minor"]), deleted=m["deleted"] or 0,
                sha1=m["sha1"] or "", content_address=m["address"], model=m["model"],
                null=(m["origin"] or m["rev_id"]) != m["rev_id"], archived=bool(m["archived"]),
            )
        if len(rows) < batch:
            return
        after = rows[-1]._mapping["rev_id"]


def revisions_with_ids(db: WikiDatabase, conn: Connection, ids: Iterable[int]) -> list[RevisionEvent]:
    """The revisions with these ids, by id: a query per run of nearby ids (a commit's, a push's)."""
    chosen = set(ids)
    return [e for low, high in _runs(chosen) for e in revisions_after(db, conn, low - 1, high) if e.rev_id in chosen]


def logs_with_ids(db: WikiDatabase, conn: Connection, ids: Iterable[int]) -> list[LogEvent]:
    """The tree-changing log entries with these ids, by id (as :func:`revisions_with_ids`)."""
    chosen = set(ids)
    return [e for low, high in _runs(chosen) for e in logs_after(db, conn, low - 1, high) if e.log_id in chosen]


#: Ids further apart than this are read by separate queries rather than with everything between them.
NEARBY = 2000


def _runs(ids: set[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of ids no more than NEARBY apart."""
    runs: list[tuple[int, int]] = []
    for i in sorted(ids):
        if runs and i - runs[-1][1] <= NEARBY:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def logs_after(db: WikiDatabase, conn: Connection, after: int, upto: int | None = None, *,
               actions: frozenset[tuple[str, str]] | None = TREE_LOG_ACTIONS,
               types: tuple[str, ...] | None = None) -> Iterator[LogEvent]:
    """Log entries with ids in (after, upto], by id: the tree-changing ones unless
    ``actions`` is None (every entry, or those of the given ``types``)."""
    t = db.tables
    lg = t.logging
    if actions is not None:
        types = tuple(sorted({kind for kind, _ in actions}))
    query = (
        select(lg.c.log_id, lg.c.log_type, lg.c.log_action, lg.c.log_timestamp, t.actor.c.actor_name,
               t.actor.c.actor_user, lg.c.log_namespace, lg.c.log_title, lg.c.log_page,
               t.comment.c.comment_text, lg.c.log_deleted, lg.c.log_params)
        .select_from(lg)
        .join(t.actor, t.actor.c.actor_id == lg.c.log_actor)
        .join(t.comment, t.comment.c.comment_id == lg.c.log_comment_id, isouter=True)
        .where(lg.c.log_id > after)
        .order_by(lg.c.log_id)
    )
    if types is not None:
        query = query.where(lg.c.log_type.in_(types))
    if upto is not None:
        query = query.where(lg.c.log_id <= upto)
    for row in conn.execute(query):
        if actions is None or (row[1], row[2]) in actions:
            yield LogEvent(row[0], row[1], row[2], row[3], row[4], row[5] or 0, row[6], row[7], row[8] or 0,
                           row[9] or "", row[10] or 0, _log_params(row[11]))


def in_arrival_order(found: Iterable[Event], rc_order: dict[tuple[str, int], int] | None = None) -> list[Event]:
    """One batch of new events, merged by timestamp.

    Within one second, ``rc_order`` decides where it knows: recentchanges
    numbers edits and log entries in one sequence, the true arrival order
    (see :func:`recentchanges_order`). Events without a recentchanges row
    (a deleted page's edits, null revisions, an upload's File page revision)
    take the place of their neighbours in their own id sequence, or of their
    associated event; a kind with no known place at all falls back to the
    timestamp heuristic of ``sort_key``.
    """
    events = list(found)
    known: dict[tuple[str, int], float] = {k: float(v) for k, v in (rc_order or {}).items()}
    # A deleted page's edits lost their recentchanges rows; made in the second it was deleted,
    # they come just before its deletion (no page can be edited once deleted: a new one has
    # another id).
    deletions = {e.page_id: e for e in events if isinstance(e, LogEvent) and e.type == "delete"
                 and e.action == "delete" and ("log", e.log_id) in known}
    for event in events:
        deletion = deletions.get(event.page_id) if isinstance(event, RevisionEvent) else None
        if deletion is not None and deletion.timestamp == event.timestamp and ("rev", event.rev_id) not in known:
            known[("rev", event.rev_id)] = known[("log", deletion.log_id)] - 1e-6
    for event in events:
        if isinstance(event, LogEvent) and event.associated_rev is not None:
            rev, log = ("rev", event.associated_rev), ("log", event.log_id)
            if log not in known and rev in known:
                known[log] = known[rev] + 0.5
            elif rev not in known and log in known:
                # Just before its log entry, and closer than any revision that follows it.
                known[rev] = known[log] - 1e-6
    revisions = sorted((e.rev_id for e in events if isinstance(e, RevisionEvent)))
    logs = sorted((e.log_id for e in events if isinstance(e, LogEvent)))
    _interpolate("rev", revisions, known)
    _interpolate("log", logs, known)

    def key(event: Event) -> tuple[Any, ...]:
        ident = ("rev", event.rev_id) if isinstance(event, RevisionEvent) else ("log", event.log_id)
        rank = known.get(ident)
        if rank is not None:
            return (event.timestamp, 0, rank, *event.sort_key[1:])
        return (event.timestamp, 1, 0.0, *event.sort_key[1:])

    return _redirects_after_moves(sorted(events, key=key))


def _redirects_after_moves(ordered: list[Event]) -> list[Event]:
    """Each move's redirect right after the move.

    MediaWiki writes the redirect's revision (a new page at the old title,
    by the mover, with no recentchanges row) before the move's log entry:
    when a second ends between the two, the timestamps alone put the
    redirect first, at the title the page still holds.
    """
    for index, event in enumerate(ordered):
        if not (isinstance(event, LogEvent) and event.type == "move"):
            continue
        window = _second_before(event.timestamp)
        for earlier in range(index - 1, -1, -1):
            candidate = ordered[earlier]
            if window is None or candidate.timestamp < window:
                break
            if (isinstance(candidate, RevisionEvent) and (candidate.namespace, candidate.dbkey)
                    == (event.namespace, event.dbkey) and candidate.page_id != event.page_id
                    and candidate.user_name == event.user_name):
                ordered.insert(index, ordered.pop(earlier))
                break
    return ordered


def _second_before(timestamp: str) -> str | None:
    """The MediaWiki timestamp (14 digits) one second earlier; None for another form."""
    try:
        earlier = datetime.strptime(timestamp, "%Y%m%d%H%M%S") - timedelta(seconds=1)
    except ValueError:
        return None
    return earlier.strftime("%Y%m%d%H%M%S")


def _interpolate(kind: str, ids: list[int], known: dict[tuple[str, int], float]) -> None:
    """Give ids without a rank the rank just after their known predecessor (or before their successor)."""
    ranks = [known.get((kind, i)) for i in ids]
    if all(r is None for r in ranks):
        return
    step = 1e-4
    last: float | None = None
    for index, i in enumerate(ids):
        if ranks[index] is not None:
            last = ranks[index]
        elif last is not None:
            last += step
            known[(kind, i)] = last
    following: float | None = None
    for index in range(len(ids) - 1, -1, -1):
        rank = known.get((kind, ids[index]))
        if rank is not None:
            following = rank
        elif following is not None:
            following -= step
            known[(kind, ids[index])] = following


def recentchanges_order(db: WikiDatabase, conn: Connection, found: Iterable[Event]) -> dict[tuple[str, int], int]:
    """rc_id of each event that has a recentchanges row, for the seconds where order is ambiguous."""
    by_second: dict[str, set[type]] = {}
    for event in found:
        by_second.setdefault(event.timestamp, set()).add(type(event))
    ambiguous = sorted(ts for ts, kinds in by_second.items() if len(kinds) > 1)
    rc = db.tables.recentchanges
    order: dict[tuple[str, int], int] = {}
    for start in range(0, len(ambiguous), 500):
        rows = conn.execute(
            select(rc.c.rc_id, rc.c.rc_type, rc.c.rc_this_oldid, rc.c.rc_logid)
            .where(rc.c.rc_timestamp.in_(ambiguous[start:start + 500]))
        )
        for rc_id, rc_type, rev_id, log_id in rows:
            if rc_type == 3 and log_id:
                order[("log", log_id)] = rc_id
            elif rc_type in (0, 1) and rev_id:
                order[("rev", rev_id)] = rc_id
    return order


def titles_in(db: WikiDatabase, conn: Connection, namespaces: list[int], upto: int) -> list[tuple[int, str]]:
    """Titles of existing pages in some namespaces that have a revision up to an id."""
    if not namespaces:
        return []
    t = db.tables
    live = select(t.page.c.page_namespace, t.page.c.page_title).join(
        t.revision, t.revision.c.rev_page == t.page.c.page_id
    ).where(t.page.c.page_namespace.in_(namespaces), t.revision.c.rev_id <= upto)
    return sorted({(row[0], row[1]) for row in conn.execute(live.distinct())})


def moves_after(db: WikiDatabase, conn: Connection, after: int) -> dict[int, list[tuple[int, int, str]]]:
    """Each page's moves logged after a log id: (log id, namespace and title before the move),
    oldest first. One query, where asking page by page cost one per new page of a long history."""
    lg = db.tables.logging
    moves: dict[int, list[tuple[int, int, str]]] = {}
    for log_id, page_id, namespace, dbkey in conn.execute(
            select(lg.c.log_id, lg.c.log_page, lg.c.log_namespace, lg.c.log_title)
            .where(lg.c.log_type == "move", lg.c.log_id > after).order_by(lg.c.log_id)):
        moves.setdefault(page_id, []).append((log_id, namespace, dbkey))
    return moves


def _id_columns(db: WikiDatabase, kind: str) -> list[Any]:
    t = db.tables
    return [t.revision.c.rev_id, t.archive.c.ar_rev_id] if kind == "rev" else [t.logging.c.log_id]


def ids_between(db: WikiDatabase, conn: Connection, kind: str, after: int, upto: int) -> list[int]:
    """Revision ids (live or archived) or log ids in (after, upto] that exist."""
    found: list[int] = []
    for column in _id_columns(db, kind):
        found += conn.execute(select(column).where(column > after, column <= upto)).scalars()
    return found


def present(db: WikiDatabase, conn: Connection, kind: str, ids: Iterable[int]) -> list[int]:
    """Which of these revision or log ids exist now."""
    wanted = sorted(ids)
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        for column in _id_columns(db, kind):
            found.update(conn.execute(select(column).where(column.in_(wanted[start:start + 500]))).scalars())
    return sorted(found)


def high_water_marks(db: WikiDatabase, conn: Connection) -> tuple[int, int]:
    """The largest revision id (live or archived) and log id: two index lookups."""
    t = db.tables
    rev = conn.execute(select(func.max(t.revision.c.rev_id))).scalar() or 0
    archived = conn.execute(select(func.max(t.archive.c.ar_rev_id))).scalar() or 0
    log = conn.execute(select(func.max(t.logging.c.log_id))).scalar() or 0
    return max(rev, archived), log
