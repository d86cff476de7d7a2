"""receive-pack with the real git client against the dev server, and with hand-made requests.

The served side is a bare repository made by real git (a GitDirRepository);
the test decider records what it was given and, unless told to refuse,
copies the objects in and moves the ref with a compare-and-swap, so that a
following clone shows the push.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dulwich.object_format import SHA1
from dulwich.pack import OFS_DELTA, pack_object_header
from dulwich.repo import Repo
from flask import Flask

from gitaccess.auth.accounts import Account
from gitaccess.config import Config
from gitaccess.errors import AuthError
from gitaccess.protocol.gate import Gate
from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.protocol.http import PUSH_REQUEST, git_blueprint
from gitaccess.protocol.quarantine import QuarantinedObjects
from gitaccess.protocol.receive_pack import PushResult, PushSettings, RefUpdate
from gitaccess.protocol.upload_pack import ZERO_ID
from tests.protocol_helpers import (
    REPO_NAME,
    GitClient,
    RequestRecorder,
    Served,
    dev_server,
    gate_for,
    make_history,
    raw_request,
    rev_parse,
    run_git,
)

ALICE = "credential.helper=!f() { echo username=Alice; echo password=alice-secret; }; f"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"Alice:alice-secret").decode()}
IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@example.org"]


# ---------------------------------------------------------------------------- the served side
@dataclass
class Call:
    account: str
    commands: list[RefUpdate]
    received: set[bytes]
    external_bases: frozenset[bytes]


@dataclass
class ApplyingDecider:
    """Records each push; applies it to the served repository unless ``refuse`` is set."""

    served: Path
    refuse: str | None = None
    fail: Exception | None = None
    messages: tuple[str, ...] = ()
    #: Set by the test to let a decision finish that waits after its messages.
    hold: threading.Event | None = None
    calls: list[Call] = field(default_factory=list)

    def __call__(self, account: Account, commands: list[RefUpdate], objects: QuarantinedObjects,
                 progress: Callable[[str], None]) -> PushResult:
        self.calls.append(Call(account.name, commands, set(objects.shas), objects.external_bases))
        for message in self.messages:
            progress(message)
        if self.hold:
            assert self.hold.wait(10), "the test never saw the progress"
        if self.fail:
            raise self.fail
        if self.refuse:
            return PushResult.refuse_all(commands, self.refuse)
        assert {obj.id for obj in objects.iterobjects()} == set(objects.shas)
        with Repo(str(self.served)) as repo:  # read one by one: thin-pack deltas resolve against the served objects
            repo.object_store.add_objects([(objects[sha], None) for sha in objects.shas])
        refs: dict[bytes, str | None] = {}
        for command in commands:
            old = "" if command.old == ZERO_ID else command.old.decode()
            moved = run_git("update-ref", command.ref.decode(), command.new.decode(), old, cwd=self.served, check=False)
            refs[command.ref] = None if moved.returncode == 0 else "stale: fetch, then push again"
        return PushResult(refs)


def pushers(login: str, password: str, address: str) -> Account:
    """Alice may push; anyone else is a wrong login."""
    if (login, password) == ("Alice", "alice-secret"):
        return Account(1, "Alice", frozenset({"sysop"}), None, False, True, True)
    raise AuthError("wrong user name or password")


@contextmanager
def push_app(served: Path, decide: ApplyingDecider | None, settings: PushSettings,
             gate: Gate | None = None) -> Iterator[Flask]:
    """The git endpoints serving ``served``; by default behind a gate where only Alice may push."""
    repository = GitDirRepository(served)
    gate = gate or gate_for(Config(repository=REPO_NAME), pushers, served.parent / "attempts")
    app = Flask("gitaccess_receive_tests")
    app.register_blueprint(git_blueprint(lambda: repository, gate, decide, settings))
    try:
        yield app
    finally:
        repository.close()


def leftovers(root: Path) -> list[Path]:
    """What the quarantine root still holds (it exists once a push has been received)."""
    return sorted(root.iterdir()) if root.exists() else []


@dataclass
class Stage:
    """A served repository, its quarantine, a decider, a running server and a clone to push from."""

    served: Path
    quarantine: Path
    decider: ApplyingDecider
    server: Served
    clone: Path
    git: GitClient
    recorder: RequestRecorder

    def commit(self, files: dict[str, bytes], message: str = "Pushed edit") -> str:
        for name, content in files.items():
            path = self.clone / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        run_git(*IDENTITY, "add", "-A", cwd=self.clone)
        run_git(*IDENTITY, "commit", "-q", "-m", message, cwd=self.clone)
        return rev_parse(self.clone, "HEAD")

    def push(self, *args: str, config: tuple[str, ...] = ()) -> tuple[int, str]:
        result = self.git("push", "origin", "master", *args, cwd=self.clone, check=False, config=[ALICE, *config])
        return result.returncode, result.stderr

    def served_master(self) -> str:
        return rev_parse(self.served, "master")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_history(tmp_path_factory.mktemp("receive") / "history.git", 150)


@contextmanager
def make_stage(history: Path, tmp_path: Path, **limits: int) -> Iterator[Stage]:
    served = tmp_path / "served.git"
    shutil.copytree(history, served)
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(served), str(clone))
    quarantine = tmp_path / "quarantine"
    decider = ApplyingDecider(served)
    with push_app(served, decider, PushSettings(quarantine, **limits)) as app:
        recorder = RequestRecorder(app)
        with dev_server(app) as server:
            run_git("remote", "set-url", "origin", server.url, cwd=clone)
            yield Stage(served, quarantine, decider, server, clone, GitClient(tmp_path / "home", 0), recorder)


@pytest.fixture
def stage(history: Path, tmp_path: Path) -> Iterator[Stage]:
    with make_stage(history, tmp_path) as running:
        yield running


def objects_between(repo: Path, new: str, old: str) -> set[bytes]:
    listing = run_git("rev-list", "--objects", new, f"^{old}", cwd=repo).stdout
    return {line.split(" ", 1)[0].encode() for line in listing.splitlines()}


# ---------------------------------------------------------------------------- pushing with git
@pytest.mark.parametrize("protocol", [0, 1, 2], ids=["v0", "v1", "v2"])
def test_push_reaches_the_decider_and_the_next_clone(stage: Stage, tmp_path: Path, protocol: int) -> None:
    stage.git = GitClient(tmp_path / "home", protocol)
    stage.decider.messages = ("Checking (Main)/New_page.wiki", "Saving 2 revisions")
    old = stage.served_master()
    stage.commit({"(Main)/New_page.wiki": b"A new page\n"})
    new = stage.commit({"(Main)/New_page.wiki": b"A new page, edited\n", "Template/Box.wiki": b"{{box}}\n"})
    status, output = stage.push("--progress")
    assert status == 0, output
    assert f"{old[:7]}..{new[:7]}  master -> master" in output
    assert "remote: Checking (Main)/New_page.wiki" in output and "remote: Saving 2 revisions" in output
    assert "remote: Checking objects: 100% (" in output
    [call] = stage.decider.calls
    assert call.account == "Alice"
    assert call.commands == [RefUpdate(old.encode(), new.encode(), b"refs/heads/master")]
    assert call.received == objects_between(stage.clone, new, old)
    assert stage.served_master() == new
    again = tmp_path / "again"
    stage.git("clone", "-q", stage.server.url, str(again), config=[ALICE])
    assert (again / "Template/Box.wiki").read_bytes() == b"{{box}}\n"
    assert leftovers(stage.quarantine) == []


def test_refused_push_changes_nothing(stage: Stage) -> None:
    stage.decider.refuse = "name it (Main)/Foo_bar.wiki"
    before = stage.served_master()
    stage.commit({"(Main)/foo bar.wiki": b"text\n"})
    status, output = stage.push()
    assert status == 1
    assert "! [remote rejected] master -> master (name it (Main)/Foo_bar.wiki)" in output
    assert "Checking objects" not in output  # git asks for quiet when its stderr is no terminal
    assert stage.served_master() == before
    assert len(stage.decider.calls) == 1 and leftovers(stage.quarantine) == []


def test_decider_errors_reach_the_client_as_one_line(stage: Stage, caplog: pytest.LogCaptureFixture) -> None:
    stage.decider.fail = RuntimeError("database is on fire")
    stage.commit({"(Main)/Page.wiki": b"text\n"})
    status, output = stage.push()
    assert status == 1 and "(internal server error (the server's log says more))" in output
    assert "Traceback" not in output and "database is on fire" in caplog.text
    assert leftovers(stage.quarantine) == []


def test_thin_pack_on_top_of_a_long_history(stage: Stage) -> None:
    logo = bytearray((stage.clone / "Media/Logo.png").read_bytes())
    logo[1000:1010] = b"0123456789"
    new = stage.commit({"Media/Logo.png": bytes(logo)})
    expected = objects_between(stage.clone, new, "origin/master")
    status, output = stage.push()
    assert status == 0, output
    [call] = stage.decider.calls
    assert call.external_bases  # the new logo came as a delta against the served one
    assert call.received == expected
    assert run_git("cat-file", "-s", "master:Media/Logo.png", cwd=stage.served).stdout.strip() == str(len(logo))


def test_chunked_push_after_the_probe(stage: Stage) -> None:
    new = stage.commit({f"(Main)/Bulk_{n}.wiki": os.urandom(3000).hex().encode() for n in range(20)})
    status, output = stage.push(config=("http.postBuffer=1024",))
    assert status == 0, output
    assert stage.served_master() == new
    assert ("chunked", "") in stage.recorder.posts  # the pack, after git's 4-byte probe


def test_push_to_an_empty_repository(tmp_path: Path) -> None:
    served = tmp_path / "empty.git"
    run_git("init", "--bare", "-q", "-b", "master", str(served))
    decider = ApplyingDecider(served)
    clone = tmp_path / "clone"
    run_git("init", "-q", "-b", "master", str(clone))
    (clone / "Main_Page.wiki").write_text("Welcome\n")
    run_git(*IDENTITY, "add", "-A", cwd=clone)
    run_git(*IDENTITY, "commit", "-q", "-m", "First", cwd=clone)
    with push_app(served, decider, PushSettings(tmp_path / "quarantine")) as app, dev_server(app) as server:
        advertisement = app.test_client().get("/wiki.git/info/refs?service=git-receive-pack", headers=AUTH)
        assert b"0000000000000000000000000000000000000000 capabilities^{}\0report-status" in advertisement.data
        GitClient(tmp_path / "home", 0)("push", server.url, "master", cwd=clone, config=[ALICE])
    assert decider.calls[0].commands[0].old == ZERO_ID
    assert rev_parse(served, "master") == rev_parse(clone, "master")


def test_deleting_and_tags_are_refused(stage: Stage) -> None:
    deletion = stage.git("push", "origin", ":master", cwd=stage.clone, check=False, config=[ALICE])
    assert deletion.returncode == 1
    assert "! [remote rejected] master (deleting refs is not supported: the wiki keeps its history)" in deletion.stderr
    run_git(*IDENTITY, "tag", "-a", "-m", "Release", "v9", cwd=stage.clone)
    tag = stage.git("push", "origin", "v9", cwd=stage.clone, check=False, config=[ALICE])
    assert tag.returncode == 1 and "tags cannot be pushed here" in tag.stderr
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []


@pytest.mark.parametrize(("limit", "files", "message"), [
    ({"max_pack_bytes": 200_000}, {"Media/Big.bin": os.urandom(600_000)}, "exceeds the limit of 200000 bytes"),
    ({"max_objects": 5}, {f"(Main)/P{n}.wiki": b"page %d\n" % n for n in range(8)},
     "holds 11 objects, more than the limit of 5"),
    ({"max_object_bytes": 100_000}, {"Media/Big.bin": b"x" * 150_000}, "is 150000 bytes, more than the limit of 100000"),
    ({"max_inflated_bytes": 200_000}, {"(Main)/Big.wiki": b"x" * 150_000, "(Main)/Bigger.wiki": b"y" * 150_000},
     "the pack's objects inflate to more than the limit of 200000 bytes for one push"),
    ({"max_tree_bytes": 20_000}, {f"(Main)/P{n}.wiki": b"page\n" for n in range(1000)},
     "more than the limit of 20000 bytes for one directory: put fewer files in one directory"),
    ({"max_memory": 1024 * 1024}, {"Media/Big.bin": os.urandom(5_000_000)},
     "this push takes the server past its memory limit of 1048576 bytes per worker"),
], ids=["pack-size", "object-count", "object-size", "inflated", "tree-size", "memory"])
def test_limits_with_git(history: Path, tmp_path: Path, limit: dict[str, int], files: dict[str, bytes],
                         message: str) -> None:
    with make_stage(history, tmp_path, **limit) as stage:
        before = stage.served_master()
        stage.commit(files)
        status, output = stage.push(config=("http.postBuffer=65536",))
        assert status == 1
        assert "error: remote unpack failed: " in output and message in output
        assert re.search(r"! \[remote rejected\] master -> master \(.*" + re.escape(message), output)
        assert stage.served_master() == before
        assert stage.decider.calls == [] and leftovers(stage.quarantine) == []


# ---------------------------------------------------------------------------- hand-made requests
def oid(kind: str, data: bytes) -> bytes:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest().encode()


def make_pack(objects: list[tuple[int, bytes]], count: int | None = None) -> bytes:
    """A pack of whole (undeltified) objects, exactly as given, with a correct trailer."""
    out = struct.pack(">4sLL", b"PACK", 2, len(objects) if count is None else count)
    for type_num, data in objects:
        out += bytes(pack_object_header(type_num, None, len(data), SHA1)) + zlib.compress(data)
    return out + hashlib.sha1(out).digest()


def push_body(old: bytes, new: bytes, pack: bytes, ref: bytes = b"refs/heads/master") -> bytes:
    line = old + b" " + new + b" " + ref + b"\0report-status agent=test\n"
    return b"%04x" % (len(line) + 4) + line + b"0000" + pack


def commit_on(parent: str, tree: bytes) -> bytes:
    return (b"tree " + tree + b"\nparent " + parent.encode() + b"\nauthor A <a@b> 1700000000 +0000\n"
            b"committer A <a@b> 1700000000 +0000\n\nHand-made\n")


def post(stage: Stage, body: bytes, extra: dict[str, str] | None = None) -> bytes:
    headers = {**AUTH, "Content-Type": PUSH_REQUEST, "Content-Length": str(len(body)), **(extra or {})}
    answer = raw_request(stage.server.base, "POST", "/wiki.git/git-receive-pack", headers, body)
    assert answer.status == 200
    return answer.body


def git_pack(clone: Path, new: str, old: str) -> bytes:
    """The pack git would push for ``old..new`` (not thin)."""
    return subprocess.run(["/usr/bin/git", "pack-objects", "--stdout", "--revs", "-q"], cwd=clone,
                          input=f"{new}\n^{old}\n".encode(), capture_output=True, check=True).stdout


def test_probe_and_empty_bodies(stage: Stage) -> None:
    assert post(stage, b"0000") == b""
    assert post(stage, b"") == b""


def test_v2_clients_get_a_v0_advertisement(stage: Stage) -> None:
    for version, first in (("version=2", b"# service=git-receive-pack\n"), ("version=1", b"version 1\n")):
        body = raw_request(stage.server.base, "GET", "/wiki.git/info/refs?service=git-receive-pack",
                           {**AUTH, "Git-Protocol": version}).body
        assert body.startswith(b"001f# service=git-receive-pack\n0000")
        assert (b"version 1\n" in body) == (version == "version=1") and b"version 2" not in body
        assert b"report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta agent=gitaccess/" in body
        assert b"push-options" not in body and b"no-thin" not in body and first in body


@pytest.mark.parametrize(("body", "answer"), [
    (b"zzzz", b"ERR bad pkt-line length b'zzzz'"),
    (b"0010not a command" + b"0000", b"ERR expected '<old> <new> <ref>'"),
    (b"0040" + b"0" * 40 + b" short", b"ERR the request ended in the middle of a pkt-line"),
    (push_body(b"0" * 40, b"1" * 40, b"")[:-4], b"ERR the request ended before the end of the ref commands"),
], ids=["length", "command", "cut-line", "no-flush"])
def test_bad_pkt_lines(stage: Stage, body: bytes, answer: bytes) -> None:
    assert answer in post(stage, body)
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []


def test_corrupt_packs(stage: Stage) -> None:
    old = stage.served_master()
    new = stage.commit({"(Main)/Page.wiki": b"some text\n" * 50})
    pack = git_pack(stage.clone, new, old)
    trailer = pack[:-1] + bytes([pack[-1] ^ 1])
    middle = bytearray(pack)
    middle[len(pack) // 2] ^= 0xFF
    for damaged in (trailer, bytes(middle)):
        answer = post(stage, push_body(old.encode(), new.encode(), damaged))
        assert b"unpack " in answer and b"unpack ok" not in answer and b"ng refs/heads/master " in answer
    assert b"checksum does not match" in post(stage, push_body(old.encode(), new.encode(), trailer))
    assert b"unexpected data after the end of the pack" in post(stage, push_body(old.encode(), new.encode(), pack + b"x"))
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []
    assert stage.served_master() == old


def test_malformed_and_dangling_objects(stage: Stage) -> None:
    master = stage.served_master()
    blob = b"page\n"
    unsorted = b"100644 b.wiki\0" + bytes.fromhex(oid("blob", blob).decode()) + \
        b"100644 a.wiki\0" + bytes.fromhex(oid("blob", blob).decode())
    commit = commit_on(master, oid("tree", unsorted))
    answer = post(stage, push_body(master.encode(), oid("commit", commit),
                                   make_pack([(3, blob), (2, unsorted), (1, commit)])))
    assert b"unpack the tree " + oid("tree", unsorted) + b" is malformed: entries not sorted" in answer
    missing_tree = b"1" * 40
    dangling = commit_on(master, missing_tree)
    answer = post(stage, push_body(master.encode(), oid("commit", dangling), make_pack([(1, dangling)])))
    assert b"refer to 1 objects that are neither in the pack nor on the server (" + missing_tree in answer
    answer = post(stage, push_body(master.encode(), b"2" * 40, make_pack([])))
    assert b"unpack ok" in answer and b"ng refs/heads/master missing necessary objects" in answer
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []


def test_atomic_push_refuses_all_when_one_ref_is_refused(stage: Stage) -> None:
    old = stage.served_master().encode()
    new = stage.commit({"(Main)/Atomic.wiki": b"all or nothing\n"}).encode()
    lines = [old + b" " + new + b" refs/heads/master\0report-status atomic\n",
             b"0" * 40 + b" " + new + b" refs/heads/bad..name\n"]
    body = b"".join(b"%04x" % (len(line) + 4) + line for line in lines) + b"0000"
    answer = post(stage, body + git_pack(stage.clone, new.decode(), old.decode()))
    assert b"ng refs/heads/bad..name funny refname" in answer
    assert b"ng refs/heads/master atomic push failed: refs/heads/bad..name: funny refname" in answer
    assert stage.decider.calls == [] and stage.served_master() == old.decode()


def test_gzip_body(stage: Stage) -> None:
    old = stage.served_master()
    new = stage.commit({"(Main)/Zipped.wiki": b"zipped\n"})
    body = zlib.compress(push_body(old.encode(), new.encode(), git_pack(stage.clone, new, old)), wbits=31)
    assert b"unpack ok" in post(stage, body, {"Content-Encoding": "gzip"})
    assert stage.served_master() == new
    assert b"ERR the request body is not valid gzip" in post(stage, b"not gzip", {"Content-Encoding": "gzip"})


class RawPush:
    """A push sent piece by piece over a socket, to show what the server answers before the body ends."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = socket.create_connection((host, int(port)), timeout=20)
        head = f"POST /wiki.git/git-receive-pack HTTP/1.1\r\nHost: {host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in {**AUTH, "Content-Type": PUSH_REQUEST, **headers}.items())
        self.conn.sendall(head.encode() + b"\r\n")
        self.chunked = headers.get("Transfer-Encoding") == "chunked"

    def send(self, data: bytes) -> None:
        self.conn.sendall(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def answer_containing(self, marker: bytes) -> bytes:
        received = b""
        while marker not in received:
            chunk = self.conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received

    def close(self) -> None:
        self.conn.close()


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def refusal_before_the_end(base: str, body: bytes, sent: int, chunked: bool) -> bytes:
    """Send the first ``sent`` bytes of ``body`` only, and read the answer: it must come without the rest."""
    headers = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(len(body))}
    raw = RawPush(base, headers)
    try:
        raw.send(body[:sent])
        return raw.answer_containing(b"ng refs/heads/master")
    finally:
        raw.close()


@pytest.mark.parametrize(("limit", "files", "message"), [
    ({"max_pack_bytes": 200_000}, {"Media/Big.bin": os.urandom(600_000)}, b"exceeds the limit of 200000 bytes"),
    ({"max_objects": 5}, {f"(Main)/P{n}.wiki": os.urandom(20_000) for n in range(8)}, b"more than the limit of 5"),
    ({"max_object_bytes": 100_000}, {"Media/Big.bin": os.urandom(150_000)}, b"more than the limit of 100000"),
], ids=["pack-size", "object-count", "object-size"])
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_limits_refuse_while_reading(history: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                     limit: dict[str, int], files: dict[str, bytes], message: bytes,
                                     chunked: bool) -> None:
    caplog.set_level(logging.INFO)
    with make_stage(history, tmp_path, **limit) as stage:
        old = stage.served_master()
        new = stage.commit(files)
        body = push_body(old.encode(), new.encode(), git_pack(stage.clone, new, old))
        sent = len(body) // 2  # the server reads in pieces of 64 KiB: this is more than one of them
        answer = refusal_before_the_end(stage.server.base, body, sent, chunked)
        assert b"unpack the " in answer and message in answer
        wait_for(lambda: "refused while unpacking" in caplog.text)
        consumed = int(re.search(r"after reading (\d+) bytes", caplog.text).group(1))  # type: ignore[union-attr]
        assert consumed < sent
        assert stage.decider.calls == [] and leftovers(stage.quarantine) == []


def test_progress_streams_while_the_decider_works(stage: Stage) -> None:
    stage.decider.messages, stage.decider.hold = ("Saving page 1 of 2",), threading.Event()
    old = stage.served_master()
    new = stage.commit({"(Main)/Slow.wiki": b"takes a while\n"})
    line = old.encode() + b" " + new.encode() + b" refs/heads/master\0report-status side-band-64k\n"
    body = b"%04x" % (len(line) + 4) + line + b"0000" + git_pack(stage.clone, new, old)
    raw = RawPush(stage.server.base, {"Content-Length": str(len(body))})
    try:
        raw.send(body)
        assert b"\x02Saving page 1 of 2\n" in raw.answer_containing(b"Saving page 1 of 2")  # band 2, mid-decision
        stage.decider.hold.set()
        assert b"ok refs/heads/master" in raw.answer_containing(b"ok refs/heads/master")
    finally:
        raw.close()
    assert stage.served_master() == new


def test_dropped_connection_mid_pack(stage: Stage, caplog: pytest.LogCaptureFixture) -> None:
    old = stage.served_master()
    new = stage.commit({"Media/Big.bin": os.urandom(300_000)})
    body = push_body(old.encode(), new.encode(), git_pack(stage.clone, new, old))
    for headers in ({"Content-Length": str(len(body))}, {"Transfer-Encoding": "chunked"}):
        raw = RawPush(stage.server.base, headers)
        raw.send(body[: len(body) // 2])
        raw.close()
    wait_for(lambda: caplog.text.count("abandoned") == 2)
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []
    assert stage.served_master() == old


def delta_bomb(base: bytes, count: int, result_size: int) -> bytes:
    """A pack of ``base`` and ``count`` ofs-deltas of it, each ``result_size`` bytes of copies of
    the base's first 64 KiB: one byte of delta per 64 KiB of result, so the pack stays tiny."""
    out = struct.pack(">4sLL", b"PACK", 2, 1 + count)
    out += bytes(pack_object_header(3, None, len(base), SHA1)) + zlib.compress(base)

    def varint(value: int) -> bytes:
        encoded = b""
        while value >= 0x80:
            encoded += bytes([value & 0x7F | 0x80])
            value >>= 7
        return encoded + bytes([value])

    copies, rest = divmod(result_size, 0x10000)
    assert rest == 0 and len(base) >= 0x10000
    delta = varint(len(base)) + varint(result_size) + b"\x80" * copies  # copy 64 KiB from offset 0
    for _ in range(count):
        offset = len(out)
        out += bytes(pack_object_header(OFS_DELTA, offset - 12, len(delta), SHA1)) + zlib.compress(delta)
    return out + hashlib.sha1(out).digest()


def test_deltas_that_inflate_beyond_the_limit_are_refused_before_any_is_applied(stage: Stage) -> None:
    """Twenty deltas of 99 MiB each from a pack of a few KiB: each within the object limit, together
    far beyond what a push may inflate to, and refused on the default limits at once."""
    old = stage.served_master()
    pack = delta_bomb(b"x" * 0x10000, 20, 99 * 1024 * 1024)
    assert len(pack) < 8192
    started = time.monotonic()
    answer = post(stage, push_body(old.encode(), b"1" * 40, pack))
    assert b"the pack's objects inflate to more than the limit of 1073741824 bytes for one push" in answer
    assert time.monotonic() - started < 5
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []
    assert stage.served_master() == old


def test_a_huge_tree_is_refused_from_its_entry_header(stage: Stage) -> None:
    """A tree of 52 MB (the size that took a worker to gigabytes as deltas of it were parsed) is refused
    on the default limits from the size its entry declares, before any of it is inflated."""
    old = stage.served_master()
    header = struct.pack(">4sLL", b"PACK", 2, 17) + bytes(pack_object_header(2, None, 52_000_000, SHA1))
    answer = post(stage, push_body(old.encode(), b"1" * 40, header + b"\x78\x9c" + b"\0" * 4096))
    assert b"the object at pack offset 12 is a tree of 52000000 bytes, more than the limit of 16777216 bytes" in answer
    assert stage.decider.calls == [] and leftovers(stage.quarantine) == []
    assert stage.served_master() == old
