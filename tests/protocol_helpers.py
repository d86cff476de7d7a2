"""Helpers for the protocol tests: histories made by real git, servers, a git client, raw HTTP.

The served repositories are written with ``git fast-import``: pages in
namespace directories that are edited, added, renamed, deleted and reverted
to old revisions, a binary file that changes now and then, an annotated tag
and one merged side branch. ``gunicorn_app`` is the WSGI entry point the
gunicorn tests start in a subprocess.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dulwich.object_format import SHA1
from dulwich.pack import PackData
from flask import Flask
from werkzeug.serving import make_server

from gitaccess.app import wiki_gate
from gitaccess.auth.accounts import Account, login_account_name
from gitaccess.config import Config
from gitaccess.errors import AuthError
from gitaccess.protocol.gate import Authenticate, Gate
from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.protocol.http import git_blueprint
from gitaccess.objects.source import ObjectSource
from gitaccess.protocol.repository import ObjectEntry, ServedRepository
from gitaccess.site import Site
from gitaccess.titles.codec import TitleCodec
from gitaccess.titles.namespaces import Namespaces
from gitaccess.wiki import migrate
from gitaccess.wiki.database import WikiDatabase
from gitaccess.wiki.throttle import LoginAttempts

GIT = "/usr/bin/git"
REPO_NAME = "wiki"
WORDS = ("wiki", "page", "edit", "history", "revision", "template", "link", "talk", "user", "file",
         "category", "redirect", "table", "image", "section", "note", "source", "draft")
NAMESPACES = ("(Main)", "(Main)", "(Main)", "Template", "User/Alice", "Help/Editing/Advanced", "Project")


# ---------------------------------------------------------------------------- histories
def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def _identity(kind: str, when: int) -> bytes:
    return f"{kind} Wiki Editor <editor@localhost> {when} +0000\n".encode()


@dataclass
class _Pages:
    """The files of the branch being written, with every content each path ever had."""

    rng: random.Random
    files: dict[str, bytes] = field(default_factory=dict)
    past: dict[str, list[bytes]] = field(default_factory=dict)

    def text(self, lines: int) -> bytes:
        return b"".join(
            (" ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(4, 12))) + "\n").encode()
            for _ in range(lines))

    def put(self, path: str, content: bytes) -> bytes:
        self.files[path] = content
        self.past.setdefault(path, []).append(content)
        return b"M 100644 inline %s\n%s" % (path.encode(), _data(content))

    def change(self) -> bytes:
        """One random change, as fast-import file commands."""
        roll = self.rng.random()
        pages = sorted(p for p in self.files if p.endswith(".wiki"))
        path = self.rng.choice(pages)
        if roll < 0.08 or len(pages) < 5:
            new = f"{self.rng.choice(NAMESPACES)}/Page_{len(self.past)}.wiki"
            return self.put(new, self.text(self.rng.randint(5, 40)))
        if roll < 0.12:
            target = f"{self.rng.choice(NAMESPACES)}/Moved_{len(self.past)}.wiki"
            self.files[target] = self.files.pop(path)
            self.past.setdefault(target, []).append(self.files[target])
            return f'R "{path}" "{target}"\n'.encode()
        if roll < 0.15:
            del self.files[path]
            return f'D "{path}"\n'.encode()
        older = [c for c in self.past[path] if c != self.files[path]]
        if roll < 0.22 and older:
            return self.put(path, self.rng.choice(older))  # a revert to an earlier revision
        lines = self.files[path].splitlines(keepends=True)
        at = self.rng.randrange(len(lines) + 1)
        lines[at:at + self.rng.randint(0, 2)] = [self.text(1)] * self.rng.randint(1, 3)
        return self.put(path, b"".join(lines))

    def binary_change(self) -> bytes:
        data = bytearray(self.files.get("Media/Logo.png") or self.rng.randbytes(150_000))
        at = self.rng.randrange(len(data) - 2000)
        data[at:at + 2000] = self.rng.randbytes(2000)
        return self.put("Media/Logo.png", bytes(data))


def fast_import_stream(commits: int, seed: int = 1) -> bytes:
    """A history of ``commits`` first-parent commits on master, with a tag and a merge."""
    pages = _Pages(random.Random(seed))
    out = [b"commit refs/heads/master\nmark :1\n", _identity("author", 1_600_000_000),
           _identity("committer", 1_600_000_000), _data(b"Initial import\n")]
    out.append(pages.binary_change())
    for n in range(30):
        out.append(pages.put(f"{NAMESPACES[n % len(NAMESPACES)]}/Start_{n}.wiki", pages.text(20)))
    fork, merge = commits // 2, commits * 2 // 3
    side_tip = 0
    for n in range(2, commits + 1):
        when = 1_600_000_000 + n * 3600
        if n == merge and side_tip:
            changes = [pages.change()]
        else:
            changes = [pages.change() for _ in range(random.Random(seed + n).randint(1, 3))]
        if n % 60 == 0:
            changes.append(pages.binary_change())
        out += [b"commit refs/heads/master\nmark :%d\n" % n, _identity("author", when),
                _identity("committer", when), _data(f"Edit {n}\n".encode())]
        if n == merge and side_tip:
            out.append(b"merge :%d\n" % side_tip)
        out += changes
        if n == fork:
            side = _Pages(random.Random(seed * 7), dict(pages.files), {k: list(v) for k, v in pages.past.items()})
            for k in range(3):
                side_tip = 100_000 + k
                out += [b"commit refs/heads/side\nmark :%d\n" % side_tip, _identity("author", when + k),
                        _identity("committer", when + k), _data(f"Side edit {k}\n".encode()),
                        b"from :%d\n" % (n if k == 0 else side_tip - 1), side.change()]
        if n == commits // 3:
            out += [b"tag v1\nfrom :%d\n" % n, _identity("tagger", when), _data(b"First release\n")]
    return b"".join(out)


def make_history(path: Path, commits: int, seed: int = 1) -> Path:
    """A bare repository with a generated history (see :func:`fast_import_stream`)."""
    run_git("init", "--bare", "-q", "-b", "master", str(path))
    run_git("fast-import", "--quiet", cwd=path, input=fast_import_stream(commits, seed))
    run_git("update-ref", "-d", "refs/heads/side", cwd=path)
    return path


def add_commit(path: Path, files: dict[str, bytes], message: str = "One more edit") -> str:
    """Append one commit changing ``files`` to master; its SHA-1."""
    when = int(time.time())
    stream = (b"commit refs/heads/master\n" + _identity("committer", when) + _data(message.encode())
              + b"from refs/heads/master^0\n"
              + b"".join(b"M 100644 inline %s\n%s" % (p.encode(), _data(c)) for p, c in files.items()))
    run_git("fast-import", "--quiet", cwd=path, input=stream)
    return rev_parse(path, "refs/heads/master")


def add_local_commits(clone: Path, count: int) -> None:
    """Commit ``count`` times to a clone's master, so that its next fetch sends many unknown haves."""
    stream = b"".join(
        b"commit refs/heads/master\n" + _identity("committer", 1_700_000_000 + n) + _data(b"Local %d\n" % n)
        + (b"from refs/heads/master^0\n" if n == 0 else b"")
        + b"M 100644 inline Local/Notes.wiki\n" + _data(b"note %d\n" % n)
        for n in range(count))
    run_git("fast-import", "--quiet", cwd=clone, input=stream)


def old_revision_missing_at_tip(path: Path) -> tuple[str, bytes]:
    """A page path and an old content of it that no file at the tip has: reverting to it revives a blob."""
    def blobs(rev: str) -> dict[str, str]:
        listing = run_git("ls-tree", "-r", rev, cwd=path).stdout.splitlines()
        return {line.split("\t", 1)[1]: line.split()[2] for line in listing}

    tip = blobs("master")
    at_tip = set(tip.values())
    for back in range(20, 200, 10):
        for page, blob in sorted(blobs(f"master~{back}").items()):
            if page.endswith(".wiki") and page in tip and blob not in at_tip:
                return page, run_git("cat-file", "blob", blob, cwd=path).stdout.encode()
    raise AssertionError("the generated history has no revert candidate")


def pack_types_of(pack: Path) -> Counter[int]:
    """How many objects of each pack type (6 = ofs-delta, 7 = ref-delta) a pack file holds."""
    with PackData(str(pack), object_format=SHA1) as data:
        return Counter(unpacked.pack_type_num for unpacked in data.iter_unpacked())


def pack_types(clone: Path) -> Counter[int]:
    """The pack types in the one pack a fresh clone holds."""
    [pack] = (clone / ".git" / "objects" / "pack").glob("*.pack")
    return pack_types_of(pack)


def rev_parse(path: Path, rev: str) -> str:
    return run_git("rev-parse", rev, cwd=path).stdout.strip()


def all_objects(path: Path) -> set[str]:
    """Every object reachable from any ref."""
    listing = run_git("rev-list", "--objects", "--all", cwd=path).stdout
    return {line.split(" ", 1)[0] for line in listing.splitlines()}


# ---------------------------------------------------------------------------- git client
def git_env(home: Path) -> dict[str, str]:
    """An environment that isolates git from the user's configuration and never prompts."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


def run_git(*args: str, cwd: Path | None = None, input: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real git; on failure the assertion shows its output."""
    result = subprocess.run([GIT, *args], cwd=cwd, input=input, capture_output=True, timeout=timeout,
                            env=env or {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    text = subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode("utf-8", "replace"),
                                       result.stderr.decode("utf-8", "replace"))
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{text.stderr}{text.stdout}")
    return text


class GitClient:
    """The git command line with one protocol version and an isolated HOME."""

    def __init__(self, home: Path, protocol: int) -> None:
        self.env = git_env(home)
        self.protocol = protocol

    def __call__(self, *args: str, cwd: Path | None = None, check: bool = True,
                 config: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        options = ["-c", f"protocol.version={self.protocol}"]
        for item in config:
            options += ["-c", item]
        return run_git(*options, *args, cwd=cwd, check=check, env=self.env)


# ---------------------------------------------------------------------------- servers
class CountingStore:
    """An object store that counts reads."""

    def __init__(self, inner: ObjectSource, counts: dict[str, int]) -> None:
        self._inner = inner
        self._counts = counts

    def __contains__(self, sha: object) -> bool:
        self._counts["lookups"] += 1
        return sha in self._inner

    def get_raw(self, sha: bytes) -> tuple[int, bytes]:
        self._counts["reads"] += 1
        return self._inner.get_raw(sha)


class CountingRepository:
    """Counts what upload-pack asks of the served repository: the measure of its work."""

    def __init__(self, inner: ServedRepository) -> None:
        self.inner = inner
        self.counts: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self.counts.update(introduced_calls=0, objects_enumerated=0, reads=0, lookups=0, positions=0)

    def refs(self) -> dict[bytes, bytes]:
        return self.inner.refs()

    def head(self) -> bytes:
        return self.inner.head()

    def object_store(self) -> ObjectSource:
        return CountingStore(self.inner.object_store(), self.counts)

    def position(self, commit: bytes) -> int | None:
        self.counts["positions"] += 1
        return self.inner.position(commit)

    def commits_since(self, position: int) -> Sequence[bytes]:
        return self.inner.commits_since(position)

    def introduced(self, commit: bytes) -> Sequence[ObjectEntry]:
        entries = self.inner.introduced(commit)
        self.counts["introduced_calls"] += 1
        self.counts["objects_enumerated"] += len(entries)
        return entries


class RequestRecorder:
    """WSGI middleware noting how each POST body was framed and encoded."""

    def __init__(self, app: Flask) -> None:
        self.posts: list[tuple[str, str]] = []
        self._wsgi = app.wsgi_app
        app.wsgi_app = self  # type: ignore[method-assign]

    def __call__(self, environ: dict[str, object], start_response: object) -> object:
        if environ["REQUEST_METHOD"] == "POST":
            self.posts.append((str(environ.get("HTTP_TRANSFER_ENCODING", "")),
                               str(environ.get("HTTP_CONTENT_ENCODING", ""))))
        return self._wsgi(environ, start_response)  # type: ignore[arg-type]


def refuse_everyone(login: str, password: str, address: str) -> Account:
    raise AuthError("wrong user name or password")


def make_app(repository: ServedRepository, gate: Gate) -> Flask:
    app = Flask("gitaccess_protocol_tests")
    app.register_blueprint(git_blueprint(lambda: repository, gate))
    return app


#: The title rules of a wiki configured as by default, for gates without a wiki.
TITLES = TitleCodec(Namespaces.standard())


def login_attempts(directory: Path) -> LoginAttempts:
    """Login attempts counted in a new SQLite database in ``directory`` that holds gitaccess's tables."""
    directory.mkdir(parents=True, exist_ok=True)
    db = WikiDatabase(f"sqlite:///{directory / 'attempts.sqlite'}")
    migrate.upgrade(db)
    return LoginAttempts(db)


def gate_for(config: Config, authenticate: Authenticate, directory: Path, **options: object) -> Gate:
    """A gate with MediaWiki's user-name rules, counting login attempts in ``directory``."""
    return Gate(config, authenticate, lambda login: login_account_name(TITLES, login), login_attempts(directory),
                **options)  # type: ignore[arg-type]


@cache
def _scratch() -> tempfile.TemporaryDirectory[str]:
    """A directory for the login attempts of the gates that are not about logins, removed at exit."""
    return tempfile.TemporaryDirectory(prefix="gitaccess-attempts-")


def anonymous_gate() -> Gate:
    """A gate that lets everyone read, for the tests that are not about authentication."""
    return gate_for(Config(anonymous_read=True, repository=REPO_NAME), refuse_everyone, Path(_scratch().name))


@dataclass
class Served:
    url: str  # the clone URL
    base: str  # scheme, host and port


@contextmanager
def dev_server(app: Flask) -> Iterator[Served]:
    """The app under Werkzeug's development server, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        yield Served(f"{base}/{REPO_NAME}.git", base)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def gunicorn_app() -> Flask:
    """The app the gunicorn tests serve: a repository and a wiki's accounts, named by environment variables."""
    repository = GitDirRepository(os.environ["GITACCESS_TEST_REPOSITORY"])
    site = Site(Config(database_url=os.environ["GITACCESS_TEST_WIKI_DB"], repository=REPO_NAME))
    return make_app(repository, wiki_gate(site))


#: Access log lines that show how each request body was framed and encoded, and which worker answered.
GUNICORN_ACCESS_LOG = ("%(m)s %(U)s %(s)s framing=%({transfer-encoding}i)s encoding=%({content-encoding}i)s "
                       "worker=%(p)s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], log_file: Path, timeout: float = 30) -> None:
    """Return once ``process`` accepts connections on ``port``; fail with its log if it exits
    or does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log_file.read_text()}") from None
            time.sleep(0.1)


@contextmanager
def gunicorn_process(app: str, log_file: Path, env: dict[str, str], *, workers: int = 1,
                     access_log: bool = True) -> Iterator[str]:
    """The WSGI app ``app`` ("module:factory()") under gunicorn's gthread workers, run from the
    repository's root with ``env`` added to the environment; yields its base URL."""
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    logging_options = ["--access-logfile", "-", "--access-logformat", GUNICORN_ACCESS_LOG] if access_log else []
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
             "--worker-class", "gthread", "--threads", "4", "--workers", str(workers), "--timeout", "120",
             "--no-control-socket", *logging_options, app],
            cwd=root, env={**os.environ, "PYTHONPATH": str(root), **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, log_file)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)


@contextmanager
def gunicorn_server(repository: Path, log_file: Path, wiki_db: str, workers: int = 1) -> Iterator[Served]:
    """``gunicorn_app`` under gunicorn's gthread workers, as ``gitaccess serve`` runs it."""
    env = {"GITACCESS_TEST_REPOSITORY": str(repository), "GITACCESS_TEST_WIKI_DB": wiki_db}
    with gunicorn_process("tests.protocol_helpers:gunicorn_app()", log_file, env, workers=workers) as base:
        yield Served(f"{base}/{REPO_NAME}.git", base)


# ---------------------------------------------------------------------------- raw HTTP
@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(base: str, method: str, path: str, headers: dict[str, str], body: bytes = b"",
                half_close: bool = True) -> RawResponse:
    """Send exactly these bytes (a lying Content-Length, a truncated body) and read the answer."""
    host, port = base.removeprefix("http://").split(":")
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(head.encode() + body)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if parsed.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    return RawResponse(int(status_line.split()[1]), parsed, payload)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out
