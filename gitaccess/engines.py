"""SQLAlchemy engines that survive gunicorn's fork: used by the wiki's
database (gitaccess.wiki.database) and by the object cache's own index
(gitaccess.cache), which share nothing else."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError


def pooled_per_process(engine: Engine) -> None:
    """Never hand a process a pooled connection its parent opened before fork().

    gunicorn forks its workers from a process that may have used the
    database (first-run set-up); a socket or SQLite file handle used from two
    processes corrupts both sides' view. The inherited connection is dropped
    unused and the pool opens a new one (SQLAlchemy's recipe for fork()).
    """

    @event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _check_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise DisconnectionError(f"connection opened by process {record.info.get('pid')}, "
                                     f"not this one ({os.getpid()})")
