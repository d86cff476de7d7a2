"""The file rows (image, oldimage, filearchive) and the files on disk, as MediaWiki 1.39 keeps them.

An upload, a file deletion and a file undeletion each change these rows and
the upload directory together; the File page, its revisions and the log
entries around them are the actions' (:mod:`gitaccess.wiki.writer`). The rows
follow ``docs/reference/mediawiki-1.39-action-rows.txt`` (steps 7 to 10); the
files go where MediaWiki's local file repository puts them
(gitaccess.wiki.files). Files are written before the transaction commits
and put back as they were if it rolls back, so a failed push or import
leaves the upload directory as it found it. An OSError from the upload
directory passes through to the caller, who rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gitaccess.wiki import files
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.database import after_commit, on_rollback
from gitaccess.wiki.rows import WikiRows
from gitaccess.wiki.types import wiki_timestamp

#: FSFileBackend::htaccessPrivate(): MediaWiki denies web access to deleted files.
DELETED_HTACCESS = b"Require all denied\nSatisfy All\n"


def _put(conn: Connection, root: Path, path: Path, data: bytes) -> None:
    """Write a file, and restore what was there if the transaction rolls back."""
    previous = path.read_bytes() if path.exists() else None
    files.store(root, path, data)
    if previous is None:
        on_rollback(conn, lambda: path.unlink(missing_ok=True))
    else:
        on_rollback(conn, lambda: files.store(root, path, previous))


def _write_after_commit(conn: Connection, root: Path, path: Path, data: bytes) -> None:
    """A file readers would see (a new version, an archived one): staged now, shown once the
    transaction commits, so a failed or killed push never shows bytes the wiki does not record."""
    staged = files.stage(root, path, data)
    on_rollback(conn, lambda: staged.unlink(missing_ok=True))
    after_commit(conn, lambda: files.install(staged, path))


def _remove(conn: Connection, path: Path) -> bytes:
    """A file that goes away with the change: removed only once the transaction commits."""
    data = path.read_bytes()
    after_commit(conn, lambda: path.unlink(missing_ok=True))
    return data


def _ensure(conn: Connection, root: Path, path: Path, data: bytes) -> None:
    """Create a file MediaWiki expects beside deleted files, unless it is there."""
    if not path.exists():
        _put(conn, root, path, data)


def _deleted_file(root: Path, key: str) -> Path:
    """Where MediaWiki keeps a deleted file with this storage key (deleted/x/y/z/<key>)."""
    sha1, _, extension = key.partition(".")
    return files.deleted_path(root, sha1, extension)


def _next_second(timestamp: str) -> str:
    moment = datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    return wiki_timestamp(moment + timedelta(seconds=1))


def _extension(name: str) -> str:
    return name.rpartition(".")[2] if "." in name else ""


@dataclass(frozen=True)
class StoredFile:
    """What an upload did to the file rows: the log action it is (``upload`` for a new file,
    ``overwrite`` for a new version), the file's base-36 SHA-1, and the timestamp it got."""

    action: str
    sha1: str
    timestamp: str

    @property
    def replaced(self) -> bool:
        return self.action == "overwrite"


def store_file(rows: WikiRows, root: Path, name: str, data: bytes, *, actor: int, description: int,
               timestamp: str) -> StoredFile:
    """Record a new file or a new version of ``File:<name>`` (image and oldimage rows, the bytes on disk).

    The timestamp moves to the second after the current version's where it is not later, as
    LocalFile::recordUpload3 makes every new version newer than the one it replaces.
    """
    conn = rows.conn
    img = rows.t.image
    current = conn.execute(select(img).where(img.c.img_name == name)).first()
    if current is not None and timestamp <= current.img_timestamp:
        timestamp = _next_second(current.img_timestamp)
    kind = files.file_type(data, name)
    size = files.image_size(data)
    sha1 = sha1_base36(data)
    values = dict(
        img_size=len(data), img_width=size.width, img_height=size.height, img_metadata="",
        img_bits=size.bits, img_media_type=kind.media_type, img_major_mime=kind.major,
        img_minor_mime=kind.minor, img_description_id=description, img_actor=actor, img_timestamp=timestamp,
        img_sha1=sha1,
    )
    public = files.public_path(root, name)
    if current is None:
        _put(conn, root, public, data)
        conn.execute(insert(img).values(img_name=name, **values))
        rows.count(images=1)
        return StoredFile("upload", sha1, timestamp)
    _archive_current(rows, root, name, current._mapping, timestamp)
    _write_after_commit(conn, root, public, data)
    conn.execute(update(img).where(img.c.img_name == name).values(**values))
    return StoredFile("overwrite", sha1, timestamp)


def _archive_current(rows: WikiRows, root: Path, name: str, row: Any, timestamp: str) -> None:
    """The current version becomes an old version (oldimage, archive/ directory)."""
    archived = files.archive_name(timestamp, name)
    public = files.public_path(root, name)
    if public.exists():
        _write_after_commit(rows.conn, root, files.archive_path(root, name, archived), public.read_bytes())
    rows.conn.execute(insert(rows.t.oldimage).values(
        oi_name=name, oi_archive_name=archived, oi_size=row["img_size"], oi_width=row["img_width"],
        oi_height=row["img_height"], oi_bits=row["img_bits"], oi_description_id=row["img_description_id"],
        oi_actor=row["img_actor"], oi_timestamp=row["img_timestamp"], oi_metadata=row["img_metadata"],
        oi_media_type=row["img_media_type"], oi_major_mime=row["img_major_mime"],
        oi_minor_mime=row["img_minor_mime"], oi_deleted=0, oi_sha1=row["img_sha1"],
    ))


def delete_files(rows: WikiRows, root: Path, name: str, *, user_id: int, reason: int, timestamp: str) -> int:
    """Move every version of a file to the deleted zone (filearchive); returns how many."""
    t = rows.t
    conn = rows.conn
    versions: list[tuple[str | None, dict[str, Any]]] = []
    current = conn.execute(select(t.image).where(t.image.c.img_name == name)).first()
    if current is not None:
        row = current._mapping
        versions.append((None, {k[4:]: v for k, v in row.items()}))
    for old in conn.execute(select(t.oldimage).where(t.oldimage.c.oi_name == name)).all():
        row = old._mapping
        versions.append((row["oi_archive_name"], {k[3:]: v for k, v in row.items()}))
    for archived, v in versions:
        key = files.deleted_path(root, v["sha1"], _extension(name))
        source = files.public_path(root, name) if archived is None else files.archive_path(root, name, archived)
        if source.exists():
            _put(conn, root, key, _remove(conn, source))
            _ensure(conn, root, root / "deleted" / ".htaccess", DELETED_HTACCESS)
            _ensure(conn, root, key.parent / "index.html", b"")
        conn.execute(insert(t.filearchive).values(
            fa_name=name, fa_archive_name=archived, fa_storage_group="deleted", fa_storage_key=key.name,
            fa_deleted_user=user_id, fa_deleted_timestamp=timestamp, fa_deleted_reason_id=reason,
            fa_size=v["size"], fa_width=v["width"], fa_height=v["height"], fa_metadata=v["metadata"],
            fa_bits=v["bits"], fa_media_type=v["media_type"], fa_major_mime=v["major_mime"],
            fa_minor_mime=v["minor_mime"], fa_description_id=v["description_id"], fa_actor=v["actor"],
            fa_timestamp=v["timestamp"], fa_deleted=0, fa_sha1=v["sha1"],
        ))
    conn.execute(t.image.delete().where(t.image.c.img_name == name))
    conn.execute(t.oldimage.delete().where(t.oldimage.c.oi_name == name))
    if current is not None:
        rows.count(images=-1)
    return len(versions)


def restore_files(rows: WikiRows, root: Path, name: str) -> int:
    """Bring every deleted version of a file back (image, oldimage); returns how many."""
    t = rows.t
    conn = rows.conn
    fa = t.filearchive
    deleted = conn.execute(select(fa).where(fa.c.fa_name == name).order_by(fa.c.fa_timestamp)).all()
    for found in deleted:
        row = found._mapping
        v = {k[3:]: row[k] for k in row.keys()}
        archived = v["archive_name"]
        target = files.public_path(root, name) if archived is None else files.archive_path(root, name, archived)
        stored = _deleted_file(root, v["storage_key"])
        if stored.exists():
            _put(conn, root, target, _remove(conn, stored))
        common = dict(size=v["size"], width=v["width"], height=v["height"], metadata=v["metadata"], bits=v["bits"],
                      media_type=v["media_type"], major_mime=v["major_mime"], minor_mime=v["minor_mime"],
                      description_id=v["description_id"], actor=v["actor"], timestamp=v["timestamp"], sha1=v["sha1"])
        if archived is None:
            conn.execute(insert(t.image).values(img_name=name, **{"img_" + k: x for k, x in common.items()}))
            rows.count(images=1)
        else:
            conn.execute(insert(t.oldimage).values(oi_name=name, oi_archive_name=archived, oi_deleted=0,
                                                   **{"oi_" + k: x for k, x in common.items()}))
    conn.execute(fa.delete().where(fa.c.fa_name == name))
    return len(deleted)
