"""The object cache: git objects made from the journal, on this server's disk.

Deleting the cache directory is always safe: the next request replays the
journal and rebuilds it byte for byte. Several gitaccess processes on one
machine share a cache directory (a file lock serialises writers); servers on
other machines sharing the database keep caches of their own.

Layout of ``<data_directory>/cache/<repository>/``:
- ``objects.git/``: a bare git repository holding the objects in packs;
- ``index.sqlite``: journal position of each cached commit, the objects each
  commit introduced (what a fetch after it must send), and the wiki state at
  the cached head (what the next commit is made from).
"""

from __future__ import annotations

import fcntl
import json
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from dulwich.objects import ShaFile
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
    func,
    insert,
    select,
)
from sqlalchemy.pool import NullPool

_metadata = MetaData()
_commits = Table(
    "commits", _metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("sha", String(40), nullable=False, unique=True),
)
_introduced = Table(
    "introduced", _metadata,
    Column("position", Integer, nullable=False, index=True),
    Column("sha", String(40), nullable=False),
    Column("type", Integer, nullable=False),
    Column("base", String(40), nullable=True),
)
_state = Table(
    "state", _metadata,
    Column("id", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)


class ObjectCache:
    """A directory of cached objects for one repository."""

    def __init__(self, directory: Path, ref: bytes = b"refs/heads/master") -> None:
        self.directory = directory
        self.ref = ref
        self._open()

    def _open(self) -> None:
        """Open (or make) the cache; threads and workers opening it at once take turns."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.locked():
            self._open_locked()

    def _open_locked(self) -> None:
        git_dir = self.directory / "objects.git"
        if (git_dir / "objects").exists():
            self.repo = Repo(str(git_dir))
        else:
            self.repo = Repo.init_bare(str(git_dir), mkdir=True)
            self.repo.refs.set_symbolic_ref(b"HEAD", self.ref)
        self.engine = create_engine(f"sqlite:///{self.directory / 'index.sqlite'}", poolclass=NullPool)
        _metadata.create_all(self.engine)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise writers among the processes of this machine."""
        with open(self.directory / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def object_store(self):  # type: ignore[no-untyped-def]
        return self.repo.object_store

    def head(self) -> tuple[int, bytes] | None:
        """(position, sha) of the newest cached commit."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_commits.c.position, _commits.c.sha)
                               .order_by(_commits.c.position.desc()).limit(1)).first()
        return (row[0], row[1].encode("ascii")) if row else None

    def state(self) -> dict | None:  # type: ignore[type-arg]
        """The wiki state at the cached head, as stored by :meth:`append`."""
        with self.engine.connect() as conn:
            raw = conn.execute(select(_state.c.data).where(_state.c.id == 1)).scalar()
        return json.loads(raw) if raw else None

    def append(self, commits: Sequence[tuple[bytes, list[ShaFile]]], state: dict) -> None:  # type: ignore[type-arg]
        """Store new commits (each with the objects it made, itself included) and the new state.

        An object counts as introduced by the first commit that made it: a
        blob or tree an earlier commit already had is not sent again.
        """
        store = self.repo.object_store
        new: dict[bytes, ShaFile] = {}
        rows = []
        head = self.head()
        position = head[0] + 1 if head else 0
        for sha, made in commits:
            for obj in made:
                if obj.id not in new and obj.id not in store:
                    new[obj.id] = obj
                    rows.append({"position": position, "sha": obj.id.decode("ascii"), "type": obj.type_num,
                                 "base": None})
            position += 1
        if new:
            store.add_objects([(obj, None) for obj in new.values()])
        position = head[0] + 1 if head else 0
        with self.engine.begin() as conn:
            conn.execute(insert(_commits), [{"position": position + i, "sha": sha.decode("ascii")}
                                            for i, (sha, _) in enumerate(commits)])
            if rows:
                conn.execute(insert(_introduced), rows)
            self.repo.refs[self.ref] = commits[-1][0]
            conn.execute(delete(_state))
            conn.execute(insert(_state).values(id=1, position=position + len(commits) - 1,
                                               data=json.dumps(state).encode("utf-8")))

    def position(self, sha: bytes) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(_commits.c.position).where(_commits.c.sha == sha.decode("ascii"))).scalar()

    def commits_since(self, position: int) -> list[bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_commits.c.sha).where(_commits.c.position > position)
                                .order_by(_commits.c.position)).scalars().all()
        return [sha.encode("ascii") for sha in rows]

    def introduced(self, commit: bytes) -> list[tuple[bytes, int, bytes | None]]:
        """(sha, type, delta base) of the objects first introduced by a commit."""
        with self.engine.connect() as conn:
            position = self.position(commit)
            rows = conn.execute(select(_introduced.c.sha, _introduced.c.type, _introduced.c.base)
                                .where(_introduced.c.position == position)).all()
        return [(r[0].encode("ascii"), r[1], r[2].encode("ascii") if r[2] else None) for r in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(_commits)).scalar_one()

    def reset(self) -> None:
        """Throw every cached object away (the caller holds :meth:`locked`)."""
        self.close()
        for child in self.directory.iterdir():
            if child.name != "lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        self._open_locked()

    def close(self) -> None:
        self.engine.dispose()
        self.repo.close()
