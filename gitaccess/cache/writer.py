"""Storing a long run of new commits on a second core: a process that writes them into the
object cache while this one makes them.

A first build of a large wiki's history costs about as much to make (read
the wiki, apply it to the state, make trees and commits, journal them) as to
store (deltas, compression, the cache's index). :func:`append_beside` starts
``python -m gitaccess.cache.writer``, hands it each commit's objects through
a pipe as they are made, and the two halves run at once.

The writer stores nothing until it has the wiki state, sent once the
commits are exhausted: a catch-up's transaction has committed by then. If
this side fails first, its end of the pipe closes and the writer throws its
pack away, as a failed append in this process would. If the writer fails
while commits are still being made, the catch-up is rolled back; if it
fails after, the journal has commits the cache lacks, and the next refresh
stores them from the journal, as after a crash. Nothing journaled is lost
and nothing half-written is served.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

from dulwich.objects import Tree
from dulwich.pack import apply_delta

from gitaccess.cache.objectcache import NewCommit, ObjectCache, in_chunks, unfinished_prefix
from gitaccess.objects.deltas import make_delta
from gitaccess.errors import GitAccessError

log = logging.getLogger(__name__)

#: Commits sent at once: few enough that a message stays small on a large wiki.
SEND_COMMITS = 16
#: How long the writer may take to start, and to finish once everything is sent.
START_SECONDS = 60
FINISH_SECONDS = 600
READY = "ready"
#: Bytes the pipe to the writer holds (the system may allow less), and messages the writer
#: takes off it ahead of its work (see _receive).
PIPE_BYTES = 8 << 20
AHEAD_MESSAGES = 32


class CacheWriteError(GitAccessError):
    """The process writing the object cache failed: what it was to store was either rolled back
    or is in the journal, for the next refresh to store."""


def append_beside(cache: ObjectCache, made: Iterable[NewCommit],
                  state: Callable[[], dict]) -> int:  # type: ignore[type-arg]
    """:meth:`ObjectCache.append`, done by a writing process (this one holds the cache's lock).

    Where no writer can be started (an interpreter that cannot run
    ``python -m``, as under some embedded WSGI servers), the append is
    done here instead. Raises CacheWriteError when the writer fails or stops
    answering; ``made`` is closed first if the writer stopped while it ran.
    """
    ours, theirs = _pipe()
    package_root = str(Path(__file__).resolve().parent.parent)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                                            os.environ.get("PYTHONPATH")]))}
    try:
        writer = subprocess.Popen(
            [sys.executable, "-m", "gitaccess.cache.writer", str(cache.directory), cache.ref.decode("utf-8"),
             str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=environment)
    except OSError as error:
        log.warning("no process could be started to write the object cache (%s); writing it here", error)
        return cache.append(made, state)
    finally:
        theirs.close()
    try:
        answer = _reply(ours, START_SECONDS)
        if answer != READY:
            log.warning("the process started to write the object cache %s; writing it here",
                        f"failed: {answer}" if answer else "did not answer")
            return cache.append(made, state)
        directories = _Directories()
        try:
            for chunk in in_chunks(made, SEND_COMMITS):
                ours.send([directories.outgoing(m) for m in chunk])
            ours.send(state())
        except (BrokenPipeError, ConnectionResetError):
            # The writer stopped (its reply says why). A catch-up making the commits rolls
            # back now, not whenever its generator is collected.
            close = getattr(made, "close", None)
            if close is not None:
                close()
        reply = _reply(ours, FINISH_SECONDS)
    finally:
        ours.close()
        try:
            writer.wait(FINISH_SECONDS)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait()
        if writer.returncode:  # a writer killed midway left its unfinished pack behind
            for unfinished in cache.pack_dir.glob(f"{unfinished_prefix(writer.pid)}*"):
                unfinished.unlink(missing_ok=True)
    if not isinstance(reply, int):
        raise CacheWriteError(f"the process writing the object cache in {cache.directory} failed: "
                              f"{reply or f'it exited with status {writer.returncode}'}")
    return reply


def _pipe() -> tuple[Connection, Connection]:
    """Two ends of a socket pair with room for a few messages in flight (the default buffer
    holds a fraction of one, so each side waited for the other at every message)."""
    ends = socket.socketpair()
    for end in ends:
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BYTES)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BYTES)
    return Connection(ends[0].detach()), Connection(ends[1].detach())


def _reply(pipe: Connection, seconds: float) -> object:
    """What the writer said next; None if it said nothing in time or closed the pipe."""
    try:
        return pipe.recv() if pipe.poll(seconds) else None
    except (EOFError, OSError):  # closed, or reset by the writer's death
        return None


class _Sent:
    """An object as the writer receives it (what :class:`gitaccess.cache.objectcache.CachedObject` asks)."""

    __slots__ = ("id", "type_num", "data")

    def __init__(self, sha: bytes, type_num: int, data: bytes) -> None:
        self.id, self.type_num, self.data = sha, type_num, data

    def as_raw_string(self) -> bytes:
        return self.data


class _Received(NamedTuple):
    """A commit as the writer receives it (a :class:`gitaccess.cache.objectcache.NewCommit`)."""

    commit: _Sent
    objects: list[_Sent]
    bases: dict[bytes, bytes]
    deltas: dict[bytes, bytes]


#: What goes through the pipe for a commit: its id, its objects (id, type, contents or None
#: when sent as a delta), their bases, and the deltas sent instead of contents.
Message = tuple[bytes, list[tuple[bytes, int, "bytes | None"]], dict[bytes, bytes], dict[bytes, bytes]]


class _Directories:
    """The newest version of each directory's tree, kept alike on both sides of the pipe.

    A large directory's tree is large and rewritten by most commits of a
    large wiki's history: sent whole, trees were most of what went through
    the pipe (docs/history.md, "Measurements behind the design"). Each side knows the version before, so the
    delta against it goes instead (three instructions, usually), and the
    writer stores that delta as it is.
    """

    def __init__(self) -> None:
        self.newest: dict[bytes, bytes] = {}

    def _previous(self, base: bytes | None) -> bytes | None:
        return self.newest.pop(base, None) if base is not None else None

    def outgoing(self, made: NewCommit) -> Message:
        """What to send for a commit."""
        objects: list[tuple[bytes, int, bytes | None]] = []
        deltas: dict[bytes, bytes] = {}
        for obj in made.objects:
            sha, data = obj.id, obj.as_raw_string()
            if obj.type_num == Tree.type_num:
                previous = self._previous(made.bases.get(sha))
                self.newest[sha] = data
                # A tree twice in one commit (two directories alike) goes whole the second time.
                if previous is not None and sha not in deltas:
                    delta = make_delta(previous, data, tree=True)
                    if delta is not None:
                        deltas[sha] = delta
                        objects.append((sha, obj.type_num, None))
                        continue
            objects.append((sha, obj.type_num, data))
        return made.commit.id, objects, dict(made.bases), deltas  # type: ignore[attr-defined]

    def incoming(self, message: Message) -> _Received:
        """The commit a message stands for, its trees made whole again."""
        commit, objects, bases, deltas = message
        received = []
        for sha, type_num, data in objects:
            if type_num == Tree.type_num:
                previous = self._previous(bases.get(sha))
                if data is None:
                    assert previous is not None, "both sides keep the same versions"
                    data = b"".join(apply_delta(previous, deltas[sha]))
                self.newest[sha] = data
            received.append(_Sent(sha, type_num, data))  # type: ignore[arg-type]
        return _Received(next(o for o in reversed(received) if o.id == commit), received, bases, deltas)


def write(directory: Path, ref: bytes, pipe: Connection) -> int:
    """The writer's side: append what the pipe brings; reply with how many commits were
    stored, or with why not. Returns the process's exit status."""
    received: list[dict] = []  # type: ignore[type-arg]
    directories = _Directories()
    messages: queue.Queue[object] = queue.Queue(AHEAD_MESSAGES)
    threading.Thread(target=_receive, args=(pipe, messages), daemon=True).start()

    def made() -> Iterator[_Received]:
        while not received:
            message = messages.get()
            if message is None:
                raise EOFError("the process making the commits gave up: nothing is stored")
            if isinstance(message, dict):
                received.append(message)
                return
            for commit in message:  # type: ignore[attr-defined]
                yield directories.incoming(commit)

    try:
        cache = ObjectCache(directory, ref, lock_held=True)
        pipe.send(READY)
        count = cache.append(made(), received.pop)
        cache.close()
    except Exception as error:  # told to the other side, which raises it
        with suppress(OSError):
            pipe.send(f"{type(error).__name__}: {error}")
        return 1
    except EOFError:
        return 1
    pipe.send(count)
    return 0


def _receive(pipe: Connection, messages: queue.Queue[object]) -> None:
    """Take messages off the pipe as they come, ending with the state, or None if the pipe
    closed first. The writer works on a few hundred commits at a time, more than the pipe
    holds: read only between those, the maker of the commits would wait for each batch."""
    try:
        while not isinstance(message := pipe.recv(), dict):
            messages.put(message)
        messages.put(message)
    except (EOFError, OSError):
        messages.put(None)


if __name__ == "__main__":
    sys.exit(write(Path(sys.argv[1]), sys.argv[2].encode("utf-8"), Connection(int(sys.argv[3]))))
