"""``gitaccess serve``: the app under gunicorn, as in production.

gunicorn's gthread worker gives a connection one of its threads as soon as
its first bytes arrive, and that thread then waits on the client for as long
as the client likes: a handful of clients sending a header line every few
seconds holds every thread, and the server stops answering. The worker class
here, :class:`GuardedWorker`, gathers each request head in the worker's event
loop instead, without a thread, and drops a client that has not sent its
whole head within a deadline; once a request has a thread, its body must keep
arriving at a minimum rate, and neither a read nor a write may wait on the
client longer than the idle timeout.
"""

from __future__ import annotations

import selectors
import socket
import struct
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import TConn, ThreadWorker

#: The most a request head may hold (request line and headers): git's are far smaller.
MAX_HEAD_BYTES = 64 * 1024
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class ServeSettings:
    """How ``gitaccess serve`` runs gunicorn; see the [server] configuration keys."""

    workers: int = 2
    threads: int = 8
    #: Seconds a worker may go without answering its master before it is restarted.
    worker_timeout: int = 600
    #: Seconds a client has to send a whole request head.
    head_timeout: float = 10.0
    #: Seconds a read of the request body or a write of the answer may wait on the client.
    idle_timeout: float = 30.0
    #: Bytes per second a request body must average, once the idle timeout's allowance is spent.
    min_upload_rate: int = 1024


class _PacedSocket:
    """The socket as gunicorn's parser reads a request body from it: each read waits at
    most the idle timeout, and the whole body may take no longer than its size at the
    minimum rate plus that allowance. A slow client's read raises TimeoutError, which
    the app reports as a body that came too slowly."""

    def __init__(self, sock: socket.socket, settings: ServeSettings) -> None:
        self._sock = sock
        self._settings = settings
        self.restart()

    def restart(self) -> None:
        """A new request begins: its body's allowance starts now."""
        self._since = time.monotonic()
        self._received = 0

    def recv(self, size: int) -> bytes:
        allowed = (self._since + self._settings.idle_timeout + self._received / self._settings.min_upload_rate
                   - time.monotonic())
        if allowed <= 0:
            raise TimeoutError(f"the request body arrived slower than {self._settings.min_upload_rate} bytes "
                               f"a second")
        self._sock.settimeout(min(allowed, self._settings.idle_timeout))
        try:
            data = self._sock.recv(size)
        finally:
            self._sock.settimeout(None)
        self._received += len(data)
        return data


class GuardedWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, but a connection gets a thread only once its request
    head has arrived whole (read by the event loop, within ``head_timeout``), and its
    body and answer are paced (:class:`_PacedSocket`, a send timeout).

    ``run`` names a subclass carrying the configured ``settings``.
    """

    settings = ServeSettings()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Connections whose head is still arriving -> the time by which it must be complete.
        self.heads: dict[TConn, float] = {}

    # Runs on the event loop's thread, like every caller of it in ThreadWorker.
    def enqueue_req(self, conn: TConn) -> None:
        pending = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.head = bytearray(pending)
        if _HEAD_END in conn.head:
            self._dispatch(conn)
            return
        conn.sock.setblocking(False)
        self.heads[conn] = time.monotonic() + self.settings.head_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn: TConn, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.head += data
        if _HEAD_END in conn.head:
            self.poller.unregister(conn.sock)
            del self.heads[conn]
            self._dispatch(conn)
        elif len(conn.head) > MAX_HEAD_BYTES:
            self._drop(conn, "431 Request Header Fields Too Large",
                       f"the request head is larger than {MAX_HEAD_BYTES} bytes")

    def _dispatch(self, conn: TConn) -> None:
        conn.data_ready = True  # what there was to wait for has arrived: no waiting in the thread
        super().enqueue_req(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn, deadline in self.heads.items() if deadline <= now]:
            self._drop(conn, "408 Request Timeout",
                       f"the request head did not arrive within {self.settings.head_timeout:g} seconds")

    def _drop(self, conn: TConn, status: str | None = None, reason: str = "") -> None:
        """Close a connection whose head never came whole, telling the client why when there is a why."""
        self.poller.unregister(conn.sock)
        del self.heads[conn]
        if status is not None:
            self.log.info("dropped %s: %s", conn.client, reason)
            answer = f"{reason}\n".encode()
            try:
                conn.sock.send(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode() + answer)
            except OSError:
                pass  # the client is gone or not reading: closing is all there is left to do
        self.nr_conns -= 1
        conn.close()

    # Runs on a pool thread.
    def handle(self, conn: TConn) -> Any:
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(bytes(conn.head))
        conn.head = bytearray()
        paced = conn.parser.unreader.sock
        if not isinstance(paced, _PacedSocket):
            paced = conn.parser.unreader.sock = _PacedSocket(conn.sock, self.settings)
            # A blocking send gives up after this long without progress (the socket's own timeout
            # would bound a whole answer instead, and gunicorn resets it).
            idle = self.settings.idle_timeout
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                 struct.pack("ll", int(idle), int(idle % 1 * 1_000_000)))
        paced.restart()
        return super().handle(conn)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app


def run(app: Flask, host: str, port: int, settings: ServeSettings) -> None:
    """Serve until interrupted. Threads per worker let slow clones not block others."""
    site = app.extensions["gitaccess"]

    def post_fork(_server: Any, _worker: Any) -> None:
        # Pooled connections opened by the master (first-run set-up) stay with it.
        site.db.engine.dispose(close=False)

    def post_worker_init(_worker: Any) -> None:
        app.extensions["gitaccess.worker_started"]()

    # The master forks every worker: it must hold no connection and run no thread of ours.
    site.db.engine.dispose()
    _Gunicorn(app, {
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "bind": f"{host}:{port}",
        "workers": settings.workers,
        "worker_class": type("ConfiguredWorker", (GuardedWorker,), {"settings": settings}),
        "threads": settings.threads,
        "timeout": settings.worker_timeout,
        "accesslog": "-",
    }).run()
