"""``gitaccess serve`` as an admin runs it: gunicorn's master forks workers from the built app."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.config import Config
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from tests.conftest import SHARED
from tests.protocol_helpers import free_port, wait_until_listening

GITACCESS = Path(sys.executable).parent / "gitaccess"


def test_building_the_app_starts_no_thread_and_holds_no_connection(tmp_path: Path) -> None:
    """gunicorn may fork its workers from the process that built the app: a thread running
    there then (or a connection it holds) is inherited mid-use by every worker."""
    config = Config(database_url=f"sqlite:///{tmp_path}/wiki.sqlite", data_directory=tmp_path / "data")
    site = Site(config)
    standalone.create(site.db)
    WikiRepository(site).refresh()  # a cache to warm from
    assert WikiRepository.cache_directory(site).exists()
    site.db.engine.dispose()
    threads = set(threading.enumerate())
    app = create_app(config)
    assert set(threading.enumerate()) == threads
    assert app.extensions["gitaccess"].db.engine.pool.checkedout() == 0


def test_every_worker_answers_after_each_of_twenty_restarts_with_a_cache(tmp_path: Path) -> None:
    (tmp_path / "gitaccess.toml").write_text('[access]\nanonymous_read = true\n')
    env = {**os.environ, "GITACCESS_CONFIG": str(tmp_path / "gitaccess.toml")}
    env.pop("GITACCESS_DB", None)
    # A wiki with a history, and the cache it is served from.
    for command in (["init"], ["import-dump", str(SHARED / "fixtures" / "dumps" / "mw1.39-docs-export-demo.xml")],
                    ["refresh"]):
        subprocess.run([str(GITACCESS), *command], cwd=tmp_path, env=env, check=True, capture_output=True,
                       timeout=120)
    assert (tmp_path / "gitaccess-data" / "cache").is_dir()
    for restart in range(20):
        port = free_port()
        log = tmp_path / f"serve-{restart}.log"
        with log.open("wb") as out:
            server = subprocess.Popen([str(GITACCESS), "serve", "--port", str(port), "--workers", "2"],
                                      cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_listening(port, server, log)
            for attempt in range(12):  # enough to reach both workers
                listed = subprocess.run(["git", "ls-remote", f"http://127.0.0.1:{port}/wiki.git", "HEAD"],
                                        capture_output=True, text=True, timeout=30,
                                        env={**os.environ, "GIT_HTTP_LOW_SPEED_LIMIT": "1",
                                             "GIT_HTTP_LOW_SPEED_TIME": "5", "GIT_TERMINAL_PROMPT": "0"})
                assert listed.returncode == 0 and "HEAD" in listed.stdout, (
                    f"restart {restart}, request {attempt}: {listed.stderr}\n{log.read_text()}")
        finally:
            server.terminate()
            server.wait(20)




@contextmanager
def _serving(place: Path, *options: str, settings: str = "") -> Iterator[tuple[int, Path]]:
    """``gitaccess serve`` with ``options`` on a fresh wiki anyone may read (``settings``: more of the
    configuration file): its port and log."""
    (place / "gitaccess.toml").write_text('[access]\nanonymous_read = true\n' + settings)
    env = {**os.environ, "GITACCESS_CONFIG": str(place / "gitaccess.toml")}
    env.pop("GITACCESS_DB", None)
    port = free_port()
    log = place / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(GITACCESS), "serve", "--port", str(port), *options], cwd=place, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, server, log)
        yield port, log
    finally:
        server.terminate()
        server.wait(20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """``gitaccess serve`` with its defaults (two workers)."""
    with _serving(tmp_path_factory.mktemp("serve")) as running:
        yield running


class _Slowloris:
    """Connections that send a request head one header line at a time, a line a second."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(b"GET /wiki.git/info/refs?service=git-upload-pack HTTP/1.1\r\n")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        for _ in range(60):
            if self.stop.wait(1):
                return
            for sock in self.sockets:
                try:
                    sock.sendall(b"X-Slow: y\r\n")
                except OSError:
                    pass  # dropped by the server: what it should do

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


def _git(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})


def test_thirty_two_slow_clients_leave_clones_answering(served: tuple[int, Path], tmp_path: Path) -> None:
    port, log = served
    slow = _Slowloris(port, 32)
    try:
        time.sleep(1.5)  # every slow connection has been accepted and is dripping its head
        for attempt in range(6):  # enough to reach both workers
            started = time.monotonic()
            listed = _git("ls-remote", f"http://127.0.0.1:{port}/wiki.git", "HEAD")
            assert listed.returncode == 0 and "HEAD" in listed.stdout, f"{listed.stderr}\n{log.read_text()}"
            assert time.monotonic() - started < 3, f"ls-remote {attempt} took {time.monotonic() - started:.1f} s"
        started = time.monotonic()
        cloned = _git("clone", "-q", f"http://127.0.0.1:{port}/wiki.git", str(tmp_path / "clone"))
        assert cloned.returncode == 0, f"{cloned.stderr}\n{log.read_text()}"
        assert time.monotonic() - started < 5
    finally:
        slow.close()


def _unfinished_head(port: int) -> tuple[bytes, float]:
    """Send a request head without its end; the answer, and how long it took to come."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"GET /wiki.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
            if time.monotonic() - started > 15:
                break
    return answer, time.monotonic() - started


def test_a_client_whose_head_never_ends_is_told_and_dropped(served: tuple[int, Path]) -> None:
    answer, waited = _unfinished_head(served[0])
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request head did not arrive within 10 seconds" in answer
    assert 9 < waited < 13


def test_the_server_section_of_the_configuration_sets_the_timeouts(tmp_path: Path) -> None:
    with _serving(tmp_path, settings="[server]\nworkers = 1\nthreads = 2\nhead_timeout = 2\n") as (port, _log):
        answer, waited = _unfinished_head(port)
    assert b"the request head did not arrive within 2 seconds" in answer
    assert 1 < waited < 5


def test_a_request_body_that_trickles_in_is_cut_off(tmp_path: Path) -> None:
    with _serving(tmp_path, "--idle-timeout", "2", "--workers", "1") as (port, _log):
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST /wiki.git/git-upload-pack HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 100000\r\n\r\n")
            started = time.monotonic()
            waiting = selectors.DefaultSelector()  # not select(): a test run holds many descriptors
            waiting.register(sock, selectors.EVENT_READ)
            for _ in range(40):  # ten bytes each half second, far below the minimum rate, until answered
                if waiting.select(0.5):
                    break
                sock.sendall(b"0" * 10)
            waiting.close()
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"the request body came too slowly (" in answer
    assert time.monotonic() - started < 6
