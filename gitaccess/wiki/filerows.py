"""Where each version of an uploaded file is, read from MediaWiki's image tables.

The history journal asks these when it makes a Media file's blob: the
current version is in ``image``, older ones in ``oldimage``, deleted ones in
``filearchive`` (each with its own place in the upload directory,
:mod:`gitaccess.wiki.files`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, select

from gitaccess.wiki import files
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.types import as_wiki_timestamp


def file_version(db: WikiDatabase, conn: Connection, root: Path, name: str, timestamp: str) -> bytes | None:
    """The bytes of a file's version uploaded at ``timestamp``, wherever MediaWiki keeps it now.

    ``timestamp`` may be in the form MediaWiki on PostgreSQL writes into an upload's
    log parameters (:func:`as_wiki_timestamp`). None when no table knows that version
    or the upload directory lacks its file (a dump imported without files); a read
    error of the file propagates.
    """
    try:
        timestamp = as_wiki_timestamp(timestamp)
    except ValueError:
        return None
    t = db.tables
    if conn.execute(select(t.image.c.img_timestamp).where(t.image.c.img_name == name)).scalar() == timestamp:
        path = files.public_path(root, name)
    elif archived := conn.execute(select(t.oldimage.c.oi_archive_name).where(
            t.oldimage.c.oi_name == name, t.oldimage.c.oi_timestamp == timestamp)).scalar():
        path = files.archive_path(root, name, archived)
    elif key := conn.execute(select(t.filearchive.c.fa_storage_key).where(
            t.filearchive.c.fa_name == name, t.filearchive.c.fa_timestamp == timestamp)).scalar():
        sha1, _, extension = key.partition(".")
        path = files.deleted_path(root, sha1, extension)
    else:
        return None
    return path.read_bytes() if path.exists() else None


def newest_version_before(db: WikiDatabase, conn: Connection, name: str, before: str) -> str | None:
    """The upload timestamp of a file's newest version at or before ``before`` (current, old or
    deleted); None if it has none."""
    t = db.tables
    stamps = [
        *conn.execute(select(t.image.c.img_timestamp).where(t.image.c.img_name == name)).scalars(),
        *conn.execute(select(t.oldimage.c.oi_timestamp).where(t.oldimage.c.oi_name == name)).scalars(),
        *conn.execute(select(t.filearchive.c.fa_timestamp).where(t.filearchive.c.fa_name == name)).scalars(),
    ]
    stamps = [s for s in stamps if s and s <= before]
    return max(stamps) if stamps else None
