"""Login attempts in ``git_throttle``: what the gate counts, shared by every worker.

Each gunicorn worker (and each thread) checks passwords on its own; the gate
only throttles failed logins for good when all of them count in one place,
the wiki's database. This module holds the statements; which counts refuse a
login is the gate's rule (gitaccess.protocol.gate).

Times are seconds since the epoch, as the caller's clock gives them. Every
method runs its own transaction and commits before it returns, so that the
counts another worker reads include it. Database errors pass to the caller as
SQLAlchemy raises them; a database whose gitaccess tables predate
``git_throttle`` raises DatabaseError saying how to add it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import ColumnElement, Table, and_, delete, func, select
from sqlalchemy.exc import OperationalError

from gitaccess.errors import DatabaseError
from gitaccess.wiki.database import WikiDatabase

T = TypeVar("T")
#: Tries of a write that the database chose as a deadlock's victim (InnoDB's gap locks make
#: concurrent logins collide on this small table; the write is simply tried again).
_WRITE_TRIES = 5
#: MySQL/MariaDB's deadlock and lock wait timeout errors, PostgreSQL's deadlock and serialization
#: failures: the transaction was rolled back and may be tried again.
_RETRYABLE = {1213, 1205, "40P01", "40001"}


class LoginAttempts:
    """The login attempts of one wiki's database (gitaccess.protocol.gate.LoginAttempts)."""

    def __init__(self, db: WikiDatabase) -> None:
        self.db = db

    @property
    def _table(self) -> Table:
        if "git_throttle" not in self.db.table_names:
            raise DatabaseError(
                f"{self.db.display_url} has no git_throttle table, which counts failed logins: "
                "run `gitaccess db upgrade` and restart the server"
            )
        return self.db.tables.git_throttle

    def start(self, account: str, address: str, now: float, expires: float) -> int:
        """Count a login as failed until :meth:`succeeded` or :meth:`withdraw` says otherwise; its id.

        Rows that stopped counting are deleted on the way.
        """
        gt = self._table

        def insert() -> int:
            with self.db.write() as conn:
                inserted = conn.execute(self.db.insert_into(gt), {
                    "gt_account": account, "gt_address": address, "gt_known": 0, "gt_expires": expires})
                key = inserted.inserted_primary_key
                assert key is not None
                return int(key[0])

        attempt = _retrying(insert)
        try:  # housekeeping: a login never fails over it, another one does it next time
            with self.db.write() as conn:
                conn.execute(delete(gt).where(gt.c.gt_expires <= now))
        except OperationalError as exc:
            if not _retryable(exc):
                raise
        return attempt

    def address_failures(self, address: str, now: float, other_than: int | None) -> list[float]:
        """When each failure from ``address`` (any account) stops counting, apart from attempt ``other_than``."""
        gt = self._table
        query = select(gt.c.gt_expires).where(gt.c.gt_address == address, _counting_failures(gt, now, other_than))
        with self.db.read() as conn:
            return [float(expires) for expires in conn.execute(query).scalars()]

    def account_failures(self, account: str, now: float, other_than: int | None) -> list[float]:
        """For each address that failed to log in as ``account``, when its last failure stops counting,
        apart from attempt ``other_than``."""
        gt = self._table
        query = select(func.max(gt.c.gt_expires)).where(
            gt.c.gt_account == account, _counting_failures(gt, now, other_than)).group_by(gt.c.gt_address)
        with self.db.read() as conn:
            return [float(expires) for expires in conn.execute(query).scalars()]

    def is_known(self, account: str, address: str, now: float) -> bool:
        """Whether ``address`` logged in as ``account`` successfully, recently enough to count."""
        gt = self._table
        query = select(gt.c.gt_id).where(
            gt.c.gt_account == account, gt.c.gt_address == address, gt.c.gt_known == 1, gt.c.gt_expires > now)
        with self.db.read() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def withdraw(self, attempt: int) -> None:
        """Stop counting an attempt whose password was never checked."""
        gt = self._table

        def forget() -> None:
            with self.db.write() as conn:
                conn.execute(delete(gt).where(gt.c.gt_id == attempt))

        _retrying(forget)

    def succeeded(self, attempt: int, account: str, address: str, known_until: float) -> None:
        """The attempt's password was right: ``address`` is known for ``account`` until ``known_until``,
        and its earlier failures as ``account`` no longer count."""
        gt = self._table

        def remember() -> None:
            with self.db.write() as conn:
                conn.execute(delete(gt).where(
                    (gt.c.gt_id == attempt) | ((gt.c.gt_account == account) & (gt.c.gt_address == address))))
                conn.execute(self.db.insert_into(gt), {
                    "gt_account": account, "gt_address": address, "gt_known": 1, "gt_expires": known_until})

        _retrying(remember)


def _counting_failures(gt: Table, now: float, other_than: int | None) -> ColumnElement[bool]:
    """The failures (and passwords being checked) that still count at ``now``, apart from attempt ``other_than``."""
    counting = and_(gt.c.gt_known == 0, gt.c.gt_expires > now)
    return counting if other_than is None else and_(counting, gt.c.gt_id != other_than)


def _retryable(error: OperationalError) -> bool:
    """Whether the database rolled the transaction back as a deadlock's victim (or a serialization
    failure), so that trying it again is right."""
    code = getattr(error.orig, "sqlstate", None) or (error.orig.args[0] if error.orig and error.orig.args else None)
    return code in _RETRYABLE


def _retrying(write: Callable[[], T]) -> T:
    """``write`` (one whole transaction), tried again after a short, random wait when the
    database picked it as a deadlock's victim; other errors, and the last try's, propagate."""
    for _ in range(_WRITE_TRIES - 1):
        try:
            return write()
        except OperationalError as exc:
            if not _retryable(exc):
                raise
        time.sleep(random.uniform(0.01, 0.05))
    return write()
