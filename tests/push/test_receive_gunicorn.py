"""receive-pack under gunicorn's gthread workers, which de-chunk request bodies themselves."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from gitaccess.auth.accounts import Account
from gitaccess.config import Config
from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.protocol.http import git_blueprint
from gitaccess.protocol.quarantine import QuarantinedObjects
from gitaccess.protocol.receive_pack import PushResult, PushSettings, RefUpdate
from tests.protocol_helpers import (REPO_NAME, GitClient, Served, gate_for, gunicorn_process, make_history,
                                    rev_parse, run_git)
from tests.protocol.test_receive_pack import (
    ALICE,
    IDENTITY,
    ApplyingDecider,
    RawPush,
    git_pack,
    leftovers,
    push_body,
    pushers,
    refusal_before_the_end,
    wait_for,
)

MAX_PACK_BYTES = 200_000


class JournalingDecider(ApplyingDecider):
    """Notes each call in a file, for the test process to read."""

    def __call__(self, account: Account, commands: list[RefUpdate], objects: QuarantinedObjects,
                 progress: object) -> PushResult:
        with open(os.environ["GITACCESS_TEST_CALLS"], "a") as journal:
            journal.write(json.dumps([c.ref.decode() for c in commands]) + "\n")
        return super().__call__(account, commands, objects, progress)  # type: ignore[arg-type]


def gunicorn_push_app() -> Flask:
    """What the gunicorn tests serve, as named by environment variables."""
    served = Path(os.environ["GITACCESS_TEST_REPOSITORY"])
    repository = GitDirRepository(served)
    settings = PushSettings(Path(os.environ["GITACCESS_TEST_QUARANTINE"]), max_pack_bytes=MAX_PACK_BYTES)
    gate = gate_for(Config(repository=REPO_NAME), pushers, served.parent / "attempts")
    app = Flask("gitaccess_receive_gunicorn")
    app.register_blueprint(git_blueprint(lambda: repository, gate,
                                         JournalingDecider(served, messages=("Saving under gunicorn",)), settings))
    return app


@contextmanager
def gunicorn(env: dict[str, str], log_file: Path) -> Iterator[Served]:
    with gunicorn_process("tests.push.test_receive_gunicorn:gunicorn_push_app()", log_file, env) as base:
        yield Served(f"{base}/{REPO_NAME}.git", base)


class Place:
    def __init__(self, root: Path) -> None:
        self.served = make_history(root / "served.git", 100)
        self.quarantine = root / "quarantine"
        self.calls = root / "calls"
        self.log = root / "gunicorn.log"

    def call_count(self) -> int:
        return len(self.calls.read_text().splitlines()) if self.calls.exists() else 0


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    return Place(tmp_path_factory.mktemp("receive-gunicorn"))


@pytest.fixture(scope="module")
def server(place: Place) -> Iterator[Served]:
    env = {"GITACCESS_TEST_REPOSITORY": str(place.served), "GITACCESS_TEST_QUARANTINE": str(place.quarantine),
           "GITACCESS_TEST_CALLS": str(place.calls)}
    with gunicorn(env, place.log) as running:
        yield running
    log = place.log.read_text()
    assert "Traceback" not in log, log


@pytest.fixture
def clone(place: Place, server: Served, tmp_path: Path) -> Path:
    path = tmp_path / "clone"
    run_git("clone", "-q", str(place.served), str(path))
    run_git("remote", "set-url", "origin", server.url, cwd=path)
    return path


def commit(clone: Path, name: str, content: bytes) -> str:
    (clone / name).parent.mkdir(parents=True, exist_ok=True)
    (clone / name).write_bytes(content)
    run_git(*IDENTITY, "add", "-A", cwd=clone)
    run_git(*IDENTITY, "commit", "-q", "-m", f"Edit {name}", cwd=clone)
    return rev_parse(clone, "HEAD")


def test_chunked_push(place: Place, server: Served, clone: Path, tmp_path: Path) -> None:
    new = commit(clone, "(Main)/Chunked.wiki", os.urandom(20_000).hex().encode())
    result = GitClient(tmp_path / "home", 0)("push", "origin", "master", cwd=clone,
                                             config=[ALICE, "http.postBuffer=1024"])
    assert "remote: Saving under gunicorn" in result.stderr
    assert rev_parse(place.served, "master") == new
    assert "POST /wiki.git/git-receive-pack 200 framing=chunked" in place.log.read_text()
    assert leftovers(place.quarantine) == []


def test_too_large_push(place: Place, server: Served, clone: Path, tmp_path: Path) -> None:
    before, calls = rev_parse(place.served, "master"), place.call_count()
    new = commit(clone, "Media/Huge.bin", os.urandom(3 * MAX_PACK_BYTES))
    result = GitClient(tmp_path / "home", 0)("push", "origin", "master", cwd=clone, check=False,
                                             config=[ALICE, "http.postBuffer=65536"])
    assert result.returncode == 1
    assert f"! [remote rejected] master -> master (the pack exceeds the limit of {MAX_PACK_BYTES} bytes" in result.stderr
    body = push_body(before.encode(), new.encode(), git_pack(clone, new, before))
    answer = refusal_before_the_end(server.base, body, len(body) // 2, chunked=True)
    assert b"ng refs/heads/master the pack exceeds the limit" in answer
    assert rev_parse(place.served, "master") == before and place.call_count() == calls
    assert leftovers(place.quarantine) == []


def test_dropped_connection(place: Place, server: Served, clone: Path) -> None:
    before, calls = rev_parse(place.served, "master"), place.call_count()
    new = commit(clone, "(Main)/Dropped.wiki", os.urandom(50_000).hex().encode())
    body = push_body(before.encode(), new.encode(), git_pack(clone, new, before))
    for headers in ({"Content-Length": str(len(body))}, {"Transfer-Encoding": "chunked"}):
        raw = RawPush(server.base, headers)
        raw.send(body[: len(body) // 2])
        raw.close()
    wait_for(lambda: place.log.read_text().count("abandoned, nothing kept") == 2)
    assert rev_parse(place.served, "master") == before and place.call_count() == calls
    assert leftovers(place.quarantine) == []

