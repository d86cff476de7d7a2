"""``gitaccess serve`` as an admin runs it: gunicorn's master forks workers from the built app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.config import Config
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from tests.conftest import SHARED

GITACCESS = Path(sys.executable).parent / "gitaccess"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        port = _free_port()
        log = tmp_path / f"serve-{restart}.log"
        with log.open("wb") as out:
            server = subprocess.Popen([str(GITACCESS), "serve", "--port", str(port), "--workers", "2"],
                                      cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(port, server, log)
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


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gitaccess serve did not start:\n{log.read_text()}")
            time.sleep(0.1)
