"""The object cache: git objects made from the journal, on this server's disk.

Deleting the cache directory is always safe: the next request replays the
journal and rebuilds it byte for byte. So is any damage: a pack is on disk
(written, flushed, renamed into place) before the index names it, and
removed only once the index no longer does; a cache found inconsistent on
opening (a listed pack missing or cut short, an index that cannot be read)
is thrown away and rebuilt, and one that fails while in use raises
:class:`CacheDamaged`, for the caller to :meth:`ObjectCache.discard` it.
Several gitaccess processes on one machine share a cache directory (a file
lock serialises writers); servers on other machines sharing the database
keep caches of their own.

Layout of ``<data_directory>/cache/<repository>/``:
- ``objects.git/``: a bare git repository holding the objects in packs;
- ``index.sqlite``: journal position of each cached commit, the objects each
  commit introduced (what a fetch after it must send) with their delta base
  and chain depth, the packs in the order they were written, and the wiki
  state at the cached head (what the next commit is made from).

Each append writes one pack whose objects come in journal order, each stored
as a delta against the base the history named (a page's previous revision,
a directory's previous tree), within the pack or, by reference, in an
earlier one. So the packs, concatenated in order, are a complete pack of the
whole history: a clone streams them as they are (:meth:`ObjectCache.stream`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import struct
import zlib
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Mapping, NamedTuple, Protocol, Sequence, TypeVar

from dulwich.errors import ApplyDeltaError, ChecksumMismatch
from dulwich.object_format import SHA1
from dulwich.objects import ShaFile, Tree, hex_to_sha
from dulwich.pack import OFS_DELTA, REF_DELTA, PackIndex, load_pack_index, pack_object_header
from dulwich.repo import Repo
from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from gitaccess.objects.deltas import compose, make_delta
from gitaccess.objects.packfile import PackEntries, PackFile, write_index
from gitaccess.objects.packing import MAX_DELTA_DEPTH, RecentObjects, deflate
from gitaccess.engines import pooled_per_process
from gitaccess.errors import GitAccessError

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The shape of the cache's files; a cache of another shape is thrown away and rebuilt.
FORMAT = "3"
#: Bytes of objects each reader keeps whole after reading them.
READ_CACHE_BYTES = 16 * 1024 * 1024
#: Commits after which the wiki state is stored again (at most this many are replayed to
#: bring a stored state to the head).
STATE_INTERVAL = 500
#: Commits whose objects are checked and written together (one query each for what is known).
CHUNK_COMMITS = 256
#: Earlier versions of an object looked at for a shallower delta base when the previous
#: version's chain is full, and how deep that base may be (see _Append._delta).
BASE_WINDOW = 64
RESTART_DEPTH = MAX_DELTA_DEPTH // 2
#: A pack is joined with the newer ones unless it is this many times their size (each
#: serving-time catch-up writes a small pack; see ObjectCache._join_packs).
JOIN_FACTOR = 2

_metadata = MetaData()
_commits = Table(
    "commits", _metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("sha", String(40), nullable=False, unique=True),
)
_introduced = Table(
    "introduced", _metadata,
    Column("position", Integer, nullable=False, index=True),
    Column("sha", String(40), nullable=False, index=True),
    Column("type", Integer, nullable=False),
    Column("base", String(40), nullable=True),  # the likely delta base the history named
    Column("depth", Integer, nullable=False),  # delta chain length as stored (0: whole)
)
#: The introduced rows of an append, inserted by the driver (SQLite's qmark style): on a
#: first build's many objects, SQLAlchemy's work for each row's parameters cost more than
#: SQLite's inserting them.
_INSERT_INTRODUCED = (f"INSERT INTO {_introduced.name} ({', '.join(c.name for c in _introduced.columns)}) "
                      f"VALUES ({', '.join('?' for _ in _introduced.columns)})")
_packs = Table(
    "packs", _metadata,
    Column("seq", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("objects", Integer, nullable=False),
)
_state = Table(
    "state", _metadata,
    Column("id", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)


class CacheDamaged(GitAccessError):
    """The cache's files are not what its index says (deleted, cut short, unreadable): the
    cache must be discarded (:meth:`ObjectCache.discard`) and rebuilt from the journal."""


class CacheFull(GitAccessError):
    """The disk holding the cache is full: nothing was stored, nothing is lost."""


#: SQLite's answers that mean another connection is busy, not that the index is damaged.
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
#: What a full disk (or a used-up quota) answers, from the system and from SQLite.
_FULL = (errno.ENOSPC, errno.EDQUOT)


#: What reading a pack whose bytes are damaged raises, besides OSError.
_UNREADABLE = (zlib.error, ChecksumMismatch, ApplyDeltaError, ValueError, struct.error)


@contextmanager
def _damage_raised(what: str, unreadable: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Raise what a damaged cache's files cause (a file or directory gone, an index that cannot
    be read, and the ``unreadable`` errors) as CacheDamaged, and a full disk as CacheFull,
    saying what was being done."""
    full = (f"{what}: the disk is full; free space there (the journal keeps the history: the cache "
            f"catches up on the next request)")
    try:
        yield
    except DBAPIError as error:
        code = getattr(error.orig, "sqlite_errorcode", None)
        if code in _BUSY:
            raise
        if code == sqlite3.SQLITE_FULL:
            raise CacheFull(full) from error
        raise CacheDamaged(f"{what}: the index cannot be read ({error.orig})") from error
    except OSError as error:
        if error.errno in _FULL:
            raise CacheFull(full) from error
        raise CacheDamaged(f"{what}: {error}") from error
    except unreadable as error:
        raise CacheDamaged(f"{what}: {type(error).__name__}: {error}") from error


class CachedObject(Protocol):
    """What the cache needs of an object: dulwich's objects and tree.trees.TreeObject fit."""

    id: bytes
    type_num: int

    def as_raw_string(self) -> bytes: ...


class NewCommit(Protocol):
    """A commit to cache: its objects (itself included), their likely delta bases, and any
    deltas against those bases already made."""

    commit: object
    objects: Sequence[CachedObject]
    bases: Mapping[bytes, bytes]
    deltas: Mapping[bytes, bytes]


class CachedHead(NamedTuple):
    """The newest cached commit: its position on the journal's line (from 0) and its id."""

    position: int
    sha: bytes


class ObjectCache:
    """A directory of cached objects for one repository."""

    def __init__(self, directory: Path, ref: bytes = b"refs/heads/master", *, lock_held: bool = False) -> None:
        """``lock_held``: the process that started this one holds the cache's lock for it (see
        gitaccess.cache.writer)."""
        self.directory = directory
        self.ref = ref
        self._recent = RecentObjects()
        self._checked: set[str] = set()  # packs streamed whole already, found matching their checksum
        if lock_held:
            self._open_locked()
        else:
            self._open()

    def _open(self) -> None:
        """Open (or make) the cache; threads and workers opening it at once take turns."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.locked():
            marker = self.directory / "format"
            if not marker.exists() or marker.read_text() != FORMAT:
                self._wipe()
            self._open_locked()

    def _open_locked(self) -> None:
        """Open the cache (the caller holds its lock); one found damaged is thrown away."""
        try:
            self._open_files()
            found = self._damage()
        except DBAPIError as error:
            found = f"its index cannot be read ({error.orig})"
        except CacheDamaged as error:
            found = str(error)
        if found is not None:
            log.warning("the object cache in %s is damaged (%s): it is thrown away and rebuilt from the journal",
                        self.directory, found)
            self.close()
            self._wipe()
            self._open_files()
        self._remove_unlisted()

    def _open_files(self) -> None:
        self.git_dir = self.directory / "objects.git"
        if not (self.git_dir / "HEAD").exists():  # new, or left half-made: any pack it had is missed
            shutil.rmtree(self.git_dir, ignore_errors=True)
            with Repo.init_bare(str(self.git_dir), mkdir=True) as repo:
                repo.refs.set_symbolic_ref(b"HEAD", self.ref)
        self.pack_dir = self.git_dir / "objects" / "pack"
        self.pack_dir.mkdir(parents=True, exist_ok=True)
        index = self.directory / "index.sqlite"
        self.engine = create_engine(f"sqlite:///{index}", max_overflow=-1)
        pooled_per_process(self.engine)
        # Readers (other threads and workers, and pack lookups during a long append) must not
        # wait for a writer: write-ahead logging lets them read the last committed state.
        event.listen(self.engine, "connect", lambda conn, _record: conn.execute("PRAGMA journal_mode=WAL"))
        self._objects = PackedObjects(self.pack_dir, self._pack_names)
        _metadata.create_all(self.engine)
        self._index_file = _identity(index)

    def _damage(self) -> str | None:
        """What makes the cache inconsistent, if anything: a pack the index lists that is
        missing or not whole (its index and its name must agree with its checksum), or a head
        commit in none of the packs."""
        for name in self._pack_names():
            pack, index = self.pack_dir / f"{name}.pack", self.pack_dir / f"{name}.idx"
            if not pack.exists() or not index.exists():
                return f"the pack {name} it lists is missing"
            if _trailer(pack, 0) != name.removeprefix("pack-") or _trailer(index, 20) != name.removeprefix("pack-"):
                return f"the pack {name} it lists is not whole"
        head = self.head()
        if head is not None and head.sha not in self._objects:
            return f"its head commit {head.sha.decode()} is in none of its packs"
        return None

    def _remove_unlisted(self) -> None:
        """Remove the pack files the index does not name: left by a process that died between
        finishing a pack and naming it, or after a join named its pack, before removing those
        it joined. Only the lock's holder writes packs, so none is being written."""
        listed = set(self._pack_names())
        for path in self.pack_dir.iterdir():
            if path.name.startswith("tmp-") or path.name.split(".")[0] not in listed:
                path.unlink(missing_ok=True)

    def _pack_names(self) -> list[str]:
        with self._index() as conn:
            return list(conn.execute(select(_packs.c.name).order_by(_packs.c.seq)).scalars())

    def vanished(self) -> bool:
        """Whether the cache's index is no longer the file this object opened (the directory
        was removed, or another process rebuilt the cache): :meth:`reopen` it."""
        return _identity(self.directory / "index.sqlite") != self._index_file

    def reopen(self) -> None:
        """Open the cache at its directory again, as made anew if it vanished."""
        self.close()
        self._open()

    def discard(self, found: str) -> None:
        """Throw the cache away, found damaged (``found`` says how), unless another process
        has rebuilt it since; either way, open it again. What it held is rebuilt from the
        journal by the next append."""
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.locked():
            if not self.vanished():
                log.warning("the object cache in %s is damaged (%s): it is thrown away and rebuilt from the "
                            "journal", self.directory, found)
                self._wipe()
            self._open_locked()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise writers among the processes of this machine."""
        with open(self.directory / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _index(self) -> Iterator[Connection]:
        """A connection to the index; a damaged index raises CacheDamaged."""
        with _damage_raised(f"reading the object cache in {self.directory}"), self.engine.connect() as conn:
            yield conn

    @property
    def object_store(self) -> PackedObjects:
        return self._objects

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """(type, contents) of a cached object (40 hex digits or 20 bytes); KeyError when the
        history does not have it, CacheDamaged when the index lists it and no pack holds it."""
        try:
            return self._objects.get_raw(sha)
        except KeyError:
            self._listed_yet_missing(sha)
            raise

    def __contains__(self, sha: object) -> bool:
        """Whether the history has the object; CacheDamaged as :meth:`get_raw`."""
        if not isinstance(sha, bytes):
            return False
        if sha in self._objects:
            return True
        self._listed_yet_missing(sha)
        return False

    def _listed_yet_missing(self, sha: bytes) -> None:
        """Raise CacheDamaged if the index lists an object that no pack has."""
        hex_sha = sha.decode("ascii") if len(sha) == 40 else sha.hex()
        with self._index() as conn:
            listed = conn.execute(select(_introduced.c.position).where(_introduced.c.sha == hex_sha).limit(1)).first()
        if listed is not None:
            raise CacheDamaged(f"the object cache in {self.directory} lists {hex_sha}, and none of its packs has it")

    def head(self) -> CachedHead | None:
        """The newest cached commit (None: the cache is empty)."""
        with self._index() as conn:
            row = conn.execute(select(_commits.c.position, _commits.c.sha)
                               .order_by(_commits.c.position.desc()).limit(1)).first()
        return CachedHead(row[0], row[1].encode("ascii")) if row else None

    def head_sha(self) -> bytes | None:
        """The newest cached commit's id (None: the cache is empty)."""
        head = self.head()
        return head.sha if head else None

    def state_commit(self) -> bytes | None:
        """The commit the stored wiki state belongs to, without reading the state (every
        page of the wiki, needed only when no process holds a newer one)."""
        with self._index() as conn:
            sha = conn.execute(select(_commits.c.sha)
                               .join(_state, _commits.c.position == _state.c.position)).scalar()
        return sha.encode("ascii") if sha else None

    def state(self) -> tuple[bytes, dict] | None:  # type: ignore[type-arg]
        """(commit, wiki state there) as :meth:`append` last stored it: at the head, or a few
        commits before it."""
        with self._index() as conn:
            row = conn.execute(select(_commits.c.sha, _state.c.data)
                               .join(_commits, _commits.c.position == _state.c.position)).first()
        return (row[0].encode("ascii"), json.loads(row[1])) if row else None

    def append(self, made: Iterable[NewCommit], state: Callable[[], dict]) -> int:  # type: ignore[type-arg]
        """Store new commits (each with the objects it made) in one pack, and the state after them.

        ``made`` may be lazy (a replay): commits are written as they come, a
        chunk at a time, and ``state`` is asked for once they are all in. The
        state (every page of the wiki) is stored only every STATE_INTERVAL
        commits: a process that does not hold it replays the commits since
        (see WikiRepository), so a small append costs what it adds, whatever
        the size of the wiki.
        An object counts as introduced by the first commit that made it: a
        blob or tree an earlier commit already had is not sent again.
        Returns how many commits were stored; raises CacheFull (nothing
        stored) or CacheDamaged (:meth:`discard` the cache).
        """
        head = self.head()
        first = position = head.position + 1 if head else 0
        writer = _PackWriter(self.pack_dir, self.object_store.get_raw)
        # Only the cache's own steps are looked at as damage: ``made`` and ``state`` read the
        # wiki, whose failures are the caller's, as they are.
        storing = f"storing commits in the object cache in {self.directory}"
        try:
            with _damage_raised(storing):
                conn = self.engine.connect()
                transaction = conn.begin()
            with conn:
                appending = _Append(conn, writer, self._recent, first=head is None)
                for chunk in in_chunks(made, CHUNK_COMMITS):
                    with _damage_raised(storing):
                        rows = appending.write_chunk(chunk, position)
                        if rows:
                            conn.exec_driver_sql(_INSERT_INTRODUCED, rows)
                        conn.execute(insert(_commits), [{"position": position + i,
                                                         "sha": m.commit.id.decode("ascii")}
                                                        for i, m in enumerate(chunk)])
                    position += len(chunk)
                    last = chunk[-1].commit.id
                if position == first:
                    writer.abort()
                    return 0
                with _damage_raised(storing):
                    stored = conn.execute(select(_state.c.position)).scalar()
                due = stored is None or position - 1 - stored >= STATE_INTERVAL
                data = json.dumps(state()).encode("utf-8") if due else None
                with _damage_raised(storing):
                    name = writer.finish()
                    if name is not None:
                        conn.execute(insert(_packs).values(name=name, objects=writer.count))
                    if data is not None:
                        conn.execute(delete(_state))
                        conn.execute(insert(_state).values(id=1, position=position - 1, data=data))
                    transaction.commit()
        except BaseException:
            writer.abort()
            raise
        self._set_ref(last)
        self._join_packs()
        return position - first

    def _set_ref(self, commit: bytes) -> None:
        """Point the branch at ``commit``, for git itself (git fsck); gitaccess reads the index.
        Written aside and renamed over it (the caller holds the cache's lock): a lock file of
        git's, left by a process killed while holding it, would fail every later append."""
        ref = self.git_dir / self.ref.decode("utf-8")
        ref.parent.mkdir(parents=True, exist_ok=True)
        aside = self.git_dir / "ref.new"
        aside.write_bytes(commit + b"\n")
        os.replace(aside, ref)

    def _join_packs(self) -> None:
        """Join the newest packs into one while the pack before them is not JOIN_FACTOR times
        their size, byte for byte (offsets move within the joined pack, deltas stay valid).

        Sizes then grow geometrically from the newest pack to the oldest: a
        long history is a dozen packs to look objects up in, and each byte is
        copied a few times over the cache's life, not at every join.
        The joined pack is on disk before the index names it, and the packs
        it joined are removed once the index no longer names them: a process
        killed at any point leaves the index naming whole packs. A join that
        cannot be written (a full disk) leaves the packs as they were.
        """
        with _damage_raised(f"joining the packs of the object cache in {self.directory}"), \
                self.engine.begin() as conn:
            packs = conn.execute(select(_packs.c.seq, _packs.c.name, _packs.c.objects).order_by(_packs.c.seq)).all()
            sizes = [(self.pack_dir / f"{name}.pack").stat().st_size for _seq, name, _count in packs]
            first = len(packs) - 1
            while first > 0 and sizes[first - 1] < JOIN_FACTOR * sum(sizes[first:]):
                first -= 1
            joining = packs[first:]
            if len(joining) < 2:
                return
            writer = _PackWriter(self.pack_dir, self.object_store.get_raw)
            try:
                for _seq, name, count in joining:
                    writer.copy(self.pack_dir / f"{name}.pack",
                                load_pack_index(str(self.pack_dir / f"{name}.idx"), SHA1), count)
                joined = writer.finish()
            except OSError as error:
                writer.abort()
                if error.errno not in _FULL:
                    raise
                log.warning("the packs of the object cache in %s were not joined (%s); they stay as they are",
                            self.directory, error)
                return
            conn.execute(delete(_packs).where(_packs.c.seq >= joining[0][0]))
            conn.execute(insert(_packs).values(name=joined, objects=writer.count))
        for _seq, name, _count in joining:
            for suffix in (".idx", ".pack"):
                (self.pack_dir / f"{name}{suffix}").unlink(missing_ok=True)
        self._objects.close()

    def stream(self) -> tuple[int, Iterator[bytes]] | None:
        """Every cached object as one pack: (object count, the pack's bytes); None if empty.

        The packs are opened at once, so a join running meanwhile (which
        deletes them) cannot take them away mid-stream. Their bytes go out
        as they are, unread: each is checked against its checksum the first
        time this object streams it, so that a pack damaged on the disk
        raises CacheDamaged before its first byte is sent, not a clone that
        git refuses.
        """
        with self._index() as conn:
            packs = conn.execute(select(_packs.c.name, _packs.c.objects).order_by(_packs.c.seq)).all()
        if not packs:
            return None
        try:
            files = [open(self.pack_dir / f"{name}.pack", "rb") for name, _ in packs]
        except FileNotFoundError:
            return None  # joined meanwhile: the caller builds the pack object by object
        for (name, _count), handle in zip(packs, files):
            if name not in self._checked and not _matches_checksum(handle, name):
                for opened in files:
                    opened.close()
                raise CacheDamaged(f"the pack {name} of the object cache in {self.directory} does not match "
                                   f"its checksum")
            self._checked.add(name)
        return sum(count for _, count in packs), _concatenated(files)

    def position(self, sha: bytes) -> int | None:
        with self._index() as conn:
            return conn.execute(select(_commits.c.position).where(_commits.c.sha == sha.decode("ascii"))).scalar()

    def any_known(self, shas: list[bytes]) -> bool:
        """Whether any of these commits is in the history (one query for many)."""
        if not shas:
            return False
        with self._index() as conn:
            for part in in_chunks(shas, 500):
                names = [sha.decode("ascii") for sha in part]
                if conn.execute(select(_commits.c.position).where(_commits.c.sha.in_(names)).limit(1)).first():
                    return True
        return False

    def commits_after(self, commit: bytes | None) -> list[bytes] | None:
        """The commits cached after ``commit`` (None: from the first), oldest first; None when
        ``commit`` is not cached."""
        position = -1 if commit is None else self.position(commit)
        return None if position is None else self.commits_since(position)

    def commits_since(self, position: int) -> list[bytes]:
        with self._index() as conn:
            rows = conn.execute(select(_commits.c.sha).where(_commits.c.position > position)
                                .order_by(_commits.c.position)).scalars().all()
        return [sha.encode("ascii") for sha in rows]

    def introduced(self, commit: bytes) -> list[tuple[bytes, int, bytes | None]]:
        """(sha, type, delta base) of the objects first introduced by a commit."""
        with self._index() as conn:
            position = self.position(commit)
            rows = conn.execute(select(_introduced.c.sha, _introduced.c.type, _introduced.c.base)
                                .where(_introduced.c.position == position)).all()
        return [(r[0].encode("ascii"), r[1], r[2].encode("ascii") if r[2] else None) for r in rows]

    def count(self) -> int:
        with self._index() as conn:
            return conn.execute(select(func.count()).select_from(_commits)).scalar_one()

    def reset(self) -> None:
        """Throw every cached object away (the caller holds :meth:`locked`)."""
        self.close()
        self._wipe()
        self._open_locked()

    def _wipe(self) -> None:
        """Empty the directory, the index first: a process killed midway leaves an index that
        names nothing, and files no index names, removed on opening."""
        for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
            (self.directory / name).unlink(missing_ok=True)
        for child in self.directory.iterdir():
            if child.name != "lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        (self.directory / "format").write_text(FORMAT)
        self._recent = RecentObjects()

    def close(self) -> None:
        self._objects.close()
        self.engine.dispose()


class PackedObjects:
    """The cached objects, read from the packs the index lists.

    Unlike a plain git object store, a pack here may hold deltas against
    objects of earlier packs (see the module's docstring): each pack
    resolves those through this store. The list of packs is read again when
    an object is not found (another process appended or joined packs).
    Packs that cannot be read raise CacheDamaged.
    """

    def __init__(self, pack_dir: Path, names: Callable[[], list[str]]) -> None:
        self._pack_dir = pack_dir
        self._names = names
        self._packs: dict[str, PackFile] = {}
        #: Objects read last, whole: a pack resolves a delta chain (up to 50 deltas) at every
        #: read, and a push reads a page's previous text twice (its pack's base, then the cache's).
        self._read = RecentObjects(READ_CACHE_BYTES)

    def _reload(self) -> None:
        """Open the packs the index lists now (an open pack stays readable once deleted)."""
        for _attempt in range(3):
            names = self._names()
            for name in set(self._packs) - set(names):
                self._packs.pop(name).close()
            try:
                for name in names:
                    if name not in self._packs:
                        self._packs[name] = PackFile(self._pack_dir / name, self.get_raw)
                return
            except FileNotFoundError as error:
                missing = error  # joined away since the list was read: read it again
        raise CacheDamaged(f"a pack the object cache's index lists is missing: {missing.filename}")

    def _find(self, sha: bytes) -> PackFile | None:
        binary = hex_to_sha(sha) if len(sha) == 40 else sha
        for attempt in range(2):
            for pack in reversed(self._packs.values()):
                if binary in pack:
                    return pack
            if attempt == 0:
                self._reload()  # another process appended or joined packs
        return None

    def __contains__(self, sha: object) -> bool:
        return isinstance(sha, bytes) and self._find(sha) is not None

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """(type, contents) of an object (40 hex digits or 20 bytes); KeyError when missing."""
        binary = hex_to_sha(sha) if len(sha) == 40 else sha
        found = self._read.get(binary)
        if found is not None:
            return found
        pack = self._find(binary)
        if pack is None:
            raise KeyError(sha)
        with _damage_raised(f"reading {binary.hex()} from the object cache in {self._pack_dir}", _UNREADABLE):
            found = pack.get_raw(binary)
        self._read.put(binary, found)
        return found

    def __getitem__(self, sha: bytes) -> ShaFile:
        type_num, data = self.get_raw(sha)
        return ShaFile.from_raw_string(type_num, data, sha if len(sha) == 40 else None)

    def close(self) -> None:
        for pack in self._packs.values():
            pack.close()
        self._packs.clear()


class _Append:
    """One append's objects on their way into its pack: which base each gets, at what depth."""

    def __init__(self, conn, writer: _PackWriter, recent: RecentObjects, *,  # type: ignore[no-untyped-def]
                 first: bool) -> None:
        self.conn = conn
        self.writer = writer
        self.recent = recent
        self.first = first  # nothing cached before this append (a first build): no index lookups
        self.depths: dict[bytes, int] = {}  # this append's objects: their chain depth
        self.named: dict[bytes, bytes | None] = {}  # this append's objects: the base the history named
        #: this append's trees: the delta from the version the history named (see _composed)
        self.steps: dict[bytes, bytes] = {}

    def write_chunk(self, chunk: list[NewCommit], position: int) -> list[tuple[object, ...]]:
        """Write a chunk's new objects; returns their ``introduced`` rows (see _INSERT_INTRODUCED)."""
        ids = {obj.id for m in chunk for obj in m.objects}
        bases = {base for m in chunk for base in m.bases.values()}
        known = self._depths((ids | bases) - self.depths.keys())
        rows = []
        for m in chunk:
            for obj in m.objects:
                sha = obj.id  # a property that formats the digest on every call
                if sha in self.depths or sha in known:
                    continue
                base = m.bases.get(sha)
                data = obj.as_raw_string()
                depth = self.writer.add(sha, obj.type_num, data,
                                        self._delta(sha, obj.type_num, data, base, m.deltas.get(sha), known))
                self.depths[sha] = depth
                self.named[sha] = base
                self.recent.put(sha, (obj.type_num, data))
                rows.append((position, sha.decode("ascii"), obj.type_num, base.decode("ascii") if base else None,
                             depth))
            position += 1
        return rows

    def _delta(self, sha: bytes, type_num: int, data: bytes, base: bytes | None, made: bytes | None,
               known: dict[bytes, int]) -> tuple[bytes, int, bytes] | None:
        """(base id, its stored depth, delta) to store an object as, or None to store it whole.
        ``made``: the delta against ``base`` if one was made already.

        The base is the previous version the history named, unless its chain
        is full: then the shallowest of the BASE_WINDOW versions before it,
        if that is less than RESTART_DEPTH deep. Restarting every full chain
        with a whole copy would store a large directory whole every
        MAX_DELTA_DEPTH versions; a delta across a few dozen versions costs
        what they changed. Each restart lands one level deeper than the one
        before, so whole copies come every few hundred versions instead,
        and the packs are much smaller (bench/README.md).
        The recent objects kept in memory are each lineage's newest version:
        a base is taken out as its successor is written, so they hold the
        current text of most pages, not the last few hundred commits' large
        directories. A base no longer there is read back, from the pack being
        written if it is there: a page edited again thousands of commits
        later is still a delta against its previous text, not stored whole
        (bench/README.md, "Where the pack's bytes are").
        """
        if base is None:
            return None
        depth = self.depths.get(base, known.get(base))
        if depth is None:
            return None
        previous = self.recent.pop(base)  # superseded: the object being written is the newest version
        tree = type_num == Tree.type_num
        # At a restart, the delta against the named base is only of use composed with the steps
        # before it, which only this append's versions have (a fetch's append reads nothing for it).
        step = None
        if depth < MAX_DELTA_DEPTH or (tree and base in self.depths):
            step = made if made is not None else self._delta_from(base, previous, type_num, data)
        if tree and step is not None:
            self.steps[sha] = step
        if depth < MAX_DELTA_DEPTH:
            return (base, depth, step) if step is not None else None
        earlier, depth = self._shallowest_before(base, depth)
        if depth >= RESTART_DEPTH:
            return None
        delta = self._composed(earlier, base, step) if tree and step is not None else None
        if delta is None:
            delta = self._delta_from(earlier, self.recent.get(earlier), type_num, data)
        return (earlier, depth, delta) if delta is not None and len(delta) < len(data) else None

    def _delta_from(self, base: bytes, item: tuple[int, bytes] | None, type_num: int, data: bytes) -> bytes | None:
        """make_delta against ``base`` (``item``: its type and contents, when in memory)."""
        if item is None:
            try:
                item = self.writer.get_raw(base)
            except KeyError:
                return None
        return make_delta(item[1], data, tree=type_num == Tree.type_num) if item[0] == type_num else None

    def _composed(self, earlier: bytes, base: bytes, step: bytes) -> bytes | None:
        """The delta from ``earlier`` to the version after ``base`` (``step`` away from it),
        composed of the steps between them; None where one is not known (not this append's,
        or stored whole).

        A later restart of the same lineage picks ``earlier`` or a newer version
        (nothing older in its window is shallower), so the steps up to
        ``earlier`` are forgotten.
        """
        chain = [step]
        at: bytes | None = base
        while at != earlier:
            known_step = self.steps.get(at) if at is not None else None
            if known_step is None:
                return None
            chain.append(known_step)
            at = self.named.get(at)
        while at is not None and self.steps.pop(at, None) is not None:
            at = self.named.get(at)
        chain.reverse()
        return compose(chain)

    def _shallowest_before(self, sha: bytes, depth: int) -> tuple[bytes, int]:
        """(id, depth) of the shallowest of ``sha`` and the BASE_WINDOW versions before it, the
        newest of those on a tie."""
        best = (sha, depth)
        for _step in range(BASE_WINDOW):
            earlier = self._previous_version(sha)
            if earlier is None:
                break
            sha, depth = earlier
            if depth < best[1]:
                best = earlier
        return best

    def _previous_version(self, sha: bytes) -> tuple[bytes, int] | None:
        """(id, stored depth) of the version the history named before a cached object: this
        append's objects are looked up in memory, earlier ones in the index."""
        earlier = self.named[sha] if sha in self.named else _hex_or_none(self.conn.execute(
            select(_introduced.c.base).where(_introduced.c.sha == sha.decode("ascii")).limit(1)).scalar())
        if earlier is None:
            return None
        if earlier in self.depths:
            return earlier, self.depths[earlier]
        depth = self.conn.execute(select(_introduced.c.depth).where(_introduced.c.sha == earlier.decode("ascii"))
                                  .limit(1)).scalar()
        return None if depth is None else (earlier, depth)

    def _depths(self, ids: set[bytes]) -> dict[bytes, int]:
        """Stored chain depth of those of ``ids`` cached by earlier appends."""
        found: dict[bytes, int] = {}
        if self.first:
            return found
        listed = [sha.decode("ascii") for sha in ids]
        for start in range(0, len(listed), 500):
            for sha, depth in self.conn.execute(select(_introduced.c.sha, _introduced.c.depth)
                                                .where(_introduced.c.sha.in_(listed[start:start + 500]))):
                found[sha.encode("ascii")] = depth
        return found


class _PackWriter:
    """One new pack file in the cache, written as objects come, indexed when finished."""

    def __init__(self, pack_dir: Path, outside: Callable[[bytes], tuple[int, bytes]]) -> None:
        self.pack_dir = pack_dir
        self.path = pack_dir / f"{unfinished_prefix(os.getpid())}{id(self)}.pack"
        self._outside = outside
        self._file: BinaryIO | None = None
        self._written: PackEntries | None = None
        self._entries: list[tuple[bytes, int, int]] = []
        self._offsets: dict[bytes, int] = {}
        self.offset = 12
        self.count = 0
        self.finished: str | None = None  # the pack's name once finished

    def _open(self) -> BinaryIO:
        if self._file is None:
            self._file = open(self.path, "w+b")
            self._file.write(b"PACK" + struct.pack(">II", 2, 0))  # the count is filled in by finish()
            self._written = PackEntries(self._file.fileno(), self._outside)
        return self._file

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        """(type, contents) of an object (40 hex digits) for a delta base no longer in memory (a
        page edited again thousands of commits later): read back from this pack's file if it is
        written there, else from the cache's other packs."""
        offset = self._offsets.get(sha)
        if offset is None:
            return self._outside(sha)
        assert self._file is not None and self._written is not None
        self._file.flush()
        return self._written.object_at(offset)

    def add(self, sha: bytes, type_num: int, data: bytes, delta: tuple[bytes, int, bytes] | None) -> int:
        """Write an object, as ``delta`` (base id, the base's depth, delta) if given, else whole;
        returns its chain depth."""
        kind, base_ref, body, depth = type_num, None, data, 0
        if delta is not None:
            base_id, base_depth, body = delta
            written = self._offsets.get(base_id)
            kind, base_ref = (OFS_DELTA, self.offset - written) if written is not None else (REF_DELTA,
                                                                                             hex_to_sha(base_id))
            depth = base_depth + 1
        entry = bytes(pack_object_header(kind, base_ref, len(body), SHA1)) + deflate(body)
        self._open().write(entry)
        self._entries.append((hex_to_sha(sha), self.offset, zlib.crc32(entry)))
        self._offsets[sha] = self.offset
        self.offset += len(entry)
        self.count += 1
        return depth

    def copy(self, pack: Path, index: PackIndex, count: int) -> None:
        """Append every entry of an existing pack unchanged."""
        shift = self.offset - 12
        out = self._open()
        with open(pack, "rb") as source:
            source.seek(12)
            remaining = pack.stat().st_size - 32
            while remaining > 0:
                block = source.read(min(remaining, 1 << 20))
                out.write(block)
                remaining -= len(block)
        self._entries.extend((sha, offset + shift, crc) for sha, offset, crc in index.iterentries())
        self.offset += pack.stat().st_size - 32
        self.count += count

    def finish(self) -> str | None:
        """Fill in the count, write the checksum and the index; returns the pack's name.

        Both files are flushed to the disk before they are renamed into place: a pack is whole
        before the index can name it, whatever happens to the process or the machine."""
        if self._file is None:
            return None
        out = self._file
        out.seek(8)
        out.write(struct.pack(">I", self.count))
        out.close()
        self._file = None
        digest = hashlib.sha1()
        with open(self.path, "rb") as source:
            while block := source.read(1 << 20):
                digest.update(block)
        checksum = digest.digest()
        with open(self.path, "ab") as out:
            out.write(checksum)
            os.fsync(out.fileno())
        name = f"pack-{checksum.hex()}"
        index_path = self.path.with_suffix(".idx")
        with open(index_path, "wb") as index:
            write_index(index, sorted(self._entries), checksum)
            index.flush()
            os.fsync(index.fileno())
        self.finished = name
        os.rename(self.path, self.pack_dir / f"{name}.pack")
        os.rename(index_path, self.pack_dir / f"{name}.idx")
        directory = os.open(self.pack_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return name

    def abort(self) -> None:
        """Remove the pack, finished or not: the index will not name it."""
        if self._file is not None:
            with suppress(OSError):  # flushing onto a full disk fails; the file is closed all the same
                self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".idx").unlink(missing_ok=True)
        if self.finished is not None:
            for suffix in (".idx", ".pack"):
                (self.pack_dir / f"{self.finished}{suffix}").unlink(missing_ok=True)


def unfinished_prefix(pid: int) -> str:
    """How the names of the packs a process has not finished begin."""
    return f"tmp-{pid}-"


def _hex_or_none(value: str | None) -> bytes | None:
    return value.encode("ascii") if value else None


def in_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last may be shorter), taken from ``items`` as they come."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _concatenated(files: list[BinaryIO]) -> Iterator[bytes]:
    """The entries of packs (each without its header and checksum) as the body of one pack."""
    try:
        for handle in files:
            handle.seek(0, os.SEEK_END)
            remaining = handle.tell() - 32
            handle.seek(12)
            while remaining > 0:
                block = handle.read(min(remaining, 1 << 20))
                if not block:
                    raise OSError(f"{handle.name} ended early")
                yield block
                remaining -= len(block)
    finally:
        for handle in files:
            handle.close()


def _trailer(path: Path, before: int) -> str:
    """The 20 bytes (in hex) that end ``before`` bytes from a file's end: a pack's checksum
    ends a pack, and its index repeats it before its own."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size < 20 + before:
            return ""
        handle.seek(size - 20 - before)
        return handle.read(20).hex()


def _matches_checksum(handle: BinaryIO, name: str) -> bool:
    """Whether an open pack's bytes hash to the checksum that ends it and names it."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    digest, remaining = hashlib.sha1(), size - 20
    while remaining > 0 and (block := handle.read(min(remaining, 1 << 20))):
        digest.update(block)
        remaining -= len(block)
    return remaining == 0 and handle.read(20).hex() == digest.hexdigest() == name.removeprefix("pack-")


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at ``path`` now (device, inode), None if none."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino
