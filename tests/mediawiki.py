"""A real MediaWiki (1.43 LTS or 1.39 LTS) for interoperability tests, and a small Action API client.

:class:`MediaWikiPeer` runs ``shared/peers/mediawiki/mw-peer.sh`` (Debian's
MediaWiki package served by ``php -S``: bookworm's 1.39, or trixie's 1.43
unpacked into ``/opt/mw-peer`` on first use) in a private temporary directory
on free ports, for one version and one database backend (``sqlite``,
``mariadb``, ``postgres``), and stops and removes it afterwards.
:data:`PEERS` is every (version, backend) pair the interop tests run on. :class:`MediaWikiApi` speaks MediaWiki's
Action API with the standard library only (urllib, http.cookiejar).

When the peer cannot run here at all (no mw-peer.sh, not Linux, not root
with packages missing, ``MW_NO_APT=1`` with packages missing, no PHP),
:meth:`MediaWikiPeer.start` raises :class:`PeerUnavailable`, which tests turn
into a visible skip (``conftest.unavailable``). Any other failure raises
:class:`PeerError` with the tail of the peer's log.

Set ``GITACCESS_MW_KEEP=1`` to keep the peer's directory after the tests
(its path is in the peer's ``dir``).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from gitaccess.config import Config
from gitaccess.site import Site
from gitaccess.wiki.database import make_engine
from tests.conftest import SHARED, unavailable  # SHARED: <repo>/../shared

MW_PEER = SHARED / "peers" / "mediawiki" / "mw-peer.sh"
#: The MediaWiki versions mw-peer.sh serves, the default first; a test that needs one
#: version takes the default.
VERSIONS = ("1.43", "1.39")
DEFAULT_VERSION = VERSIONS[0]
BACKENDS = ("sqlite", "mariadb", "postgres")
#: Every (version, backend) the interop tests run on.
PEERS = tuple((version, backend) for version in VERSIONS for backend in BACKENDS)
#: Messages of mw-peer.sh that mean "cannot run here", not "broken".
_UNAVAILABLE_MARKERS = ("missing packages", "no 'postgres' system user", "initdb not found",
                        "(MW_NO_APT=1)", "cannot create")
START_TIMEOUT = 600  # the first start may install Debian packages or fetch MediaWiki 1.43


class PeerUnavailable(RuntimeError):
    """MediaWiki cannot run on this machine (a reason to skip, not a failure)."""


class PeerError(RuntimeError):
    """mw-peer.sh failed."""


class ApiError(RuntimeError):
    """MediaWiki's API answered with an error (or not with JSON)."""

    def __init__(self, code: str, info: str, result: Any = None) -> None:
        super().__init__(f"MediaWiki API error {code}: {info}")
        self.code = code
        self.info = info
        self.result = result


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (asked of the kernel); with pair, PORT+1 is free too."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and (not pair or _port_free(port + 1)):
            return port
    raise PeerError("found no free pair of TCP ports")


def wiki_timestamp_of(iso: str) -> str:
    """MediaWiki API timestamp (2026-11-21T08:43:18Z) -> database form (20261121084318)."""
    return iso.replace("-", "").replace(":", "").replace("T", "").replace("Z", "")


def mediawiki_home(version: str) -> Path:
    """Where mw-peer.sh keeps (or installs, as root) MediaWiki ``version``."""
    if version == "1.39":
        return Path("/usr/share/mediawiki")  # Debian's mediawiki package
    opt = Path(os.environ.get("MW_OPT_DIR", "/opt/mw-peer"))
    return opt / f"mediawiki-{version}" / "usr" / "share" / "mediawiki"


def peer_id(pair: tuple[str, str]) -> str:
    """A test id for a (version, backend) pair: ``1.43-sqlite``."""
    return "-".join(pair)


def unavailable_reason(backend: str = "sqlite", version: str = DEFAULT_VERSION) -> str | None:
    """Why mw-peer.sh cannot run here, when that is known before trying (else None)."""
    if backend not in BACKENDS:
        return f"unknown MediaWiki peer backend {backend!r}"
    if version not in VERSIONS:
        return f"mw-peer.sh serves no MediaWiki {version!r}"
    if not MW_PEER.is_file():
        return f"{MW_PEER} is missing"
    for tool in ("bash", "setsid", "flock", "dpkg-query"):
        if shutil.which(tool) is None:
            return f"mw-peer.sh needs {tool} (a Debian/Ubuntu system), not found"
    home = mediawiki_home(version)
    if os.geteuid() != 0 and not (home / "includes").is_dir():
        return f"MediaWiki {version} is not installed in {home} and installing it needs root"
    if os.environ.get("MW_NO_APT") == "1" and not (home / "includes").is_dir():
        return f"MediaWiki {version} is not installed in {home} and MW_NO_APT=1"
    if (home / "includes").is_dir() and shutil.which("php") is None and (
        os.geteuid() != 0 or os.environ.get("MW_NO_APT") == "1"
    ):
        return "php is not installed (and cannot be installed here)"
    return None


class MediaWikiApi:
    """A minimal client of MediaWiki's Action API (JSON, formatversion 2), with cookies."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        self.url = url
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self._csrf: str | None = None
        self._uploaded: dict[str, float] = {}  # file name -> when it was last uploaded

    # ------------------------------------------------------------------ transport
    def call(self, method: str = "GET", **params: Any) -> dict[str, Any]:
        """One API request; raises :class:`ApiError` for an error answer."""
        fields: dict[str, str] = {"format": "json", "formatversion": "2"}
        for key, value in params.items():
            if value is None or value is False:
                continue
            if value is True:
                value = "1"
            elif isinstance(value, (list, tuple, set, frozenset)):
                value = "|".join(str(v) for v in value)
            fields[key] = str(value)
        data = urllib.parse.urlencode(fields)
        if method == "GET":
            request = urllib.request.Request(self.url + "?" + data)
        else:
            request = urllib.request.Request(self.url, data=data.encode("utf-8"), method="POST")
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(f"http-{exc.code}", exc.read()[:2000].decode("utf-8", "replace")) from None
        try:
            result = json.loads(body)
        except ValueError:
            raise ApiError("not-json", body[:2000].decode("utf-8", "replace")) from None
        if "error" in result:
            error = result["error"]
            raise ApiError(error.get("code", "?"), error.get("info", ""), result)
        return result

    def get(self, **params: Any) -> dict[str, Any]:
        return self.call("GET", **params)

    def post(self, **params: Any) -> dict[str, Any]:
        return self.call("POST", **params)

    def query_all(self, list_name: str, **params: Any) -> list[dict[str, Any]]:
        """All items of ``query[list_name]`` across continuations."""
        items: list[dict[str, Any]] = []
        cont: dict[str, Any] = {}
        while True:
            result = self.get(action="query", **params, **cont)
            items.extend(result.get("query", {}).get(list_name, []))
            if "continue" not in result:
                return items
            cont = result["continue"]

    # ------------------------------------------------------------------ session
    def token(self, kind: str = "csrf") -> str:
        return self.get(action="query", meta="tokens", type=kind)["query"]["tokens"][kind + "token"]

    def login(self, user: str, password: str) -> None:
        """action=login (meant for BotPasswords ``User@app``; a main password works, deprecated)."""
        result = self.post(action="login", lgname=user, lgpassword=password, lgtoken=self.token("login"))
        login = result.get("login", {})
        if login.get("result") != "Success":
            raise ApiError("login-" + str(login.get("result")), str(login.get("reason", login)), result)
        self._csrf = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = self.token("csrf")
        return self._csrf

    # ------------------------------------------------------------------ actions
    def edit(self, title: str, text: str, *, summary: str = "", minor: bool = False,
             baserevid: int | None = None, createonly: bool = False, nocreate: bool = False,
             **extra: Any) -> dict[str, Any]:
        """action=edit; returns the ``edit`` part of the answer (result must be Success)."""
        result = self.post(
            action="edit", title=title, text=text, summary=summary, minor=minor, notminor=not minor,
            baserevid=baserevid, createonly=createonly, nocreate=nocreate, token=self.csrf, **extra,
        )["edit"]
        if result.get("result") != "Success":
            raise ApiError("edit-" + str(result.get("result")), json.dumps(result), result)
        return result

    def delete(self, title: str, reason: str = "") -> dict[str, Any]:
        return self.post(action="delete", title=title, reason=reason, token=self.csrf)["delete"]

    def undelete(self, title: str, reason: str = "") -> dict[str, Any]:
        return self.post(action="undelete", title=title, reason=reason, token=self.csrf)["undelete"]

    def move(self, old: str, new: str, reason: str = "", *, noredirect: bool = False) -> dict[str, Any]:
        return self.post(action="move", **{"from": old}, to=new, reason=reason, noredirect=noredirect,
                         token=self.csrf)["move"]

    # ------------------------------------------------------------------ queries
    def page(self, title: str, prop: str = "info", **params: Any) -> dict[str, Any]:
        """The one page of ``action=query&titles=title`` (``missing`` set when it does not exist)."""
        result = self.get(action="query", titles=title, prop=prop, **params)
        return result["query"]["pages"][0]

    def revisions(self, title: str,
                  rvprop: str = "ids|timestamp|user|comment|content|tags|size|sha1|flags",
                  **params: Any) -> list[dict[str, Any]]:
        """A page's revisions, oldest first, with the main slot's text as ``content``."""
        revs: list[dict[str, Any]] = []
        cont: dict[str, Any] = {}
        while True:
            result = self.get(action="query", titles=title, prop="revisions", rvprop=rvprop,
                              rvslots="main", rvdir="newer", rvlimit="max", **params, **cont)
            page = result["query"]["pages"][0]
            if page.get("missing") or page.get("invalid"):
                raise ApiError("missingtitle", f"{title!r} does not exist", result)
            for rev in page.get("revisions", []):
                main = rev.get("slots", {}).get("main", {})
                if "content" in main:
                    rev["content"] = main["content"]
                revs.append(rev)
            if "continue" not in result:
                return revs
            cont = result["continue"]

    def deleted_revisions(self, title: str,
                          drvprop: str = "ids|timestamp|user|comment|content|tags|size|sha1|flags"
                          ) -> list[dict[str, Any]]:
        """Archived revisions of a deleted title (Special:Undelete's data), oldest first."""
        result = self.get(action="query", titles=title, prop="deletedrevisions", drvprop=drvprop,
                          drvslots="main", drvdir="newer", drvlimit="max")
        revs = result["query"]["pages"][0].get("deletedrevisions", [])
        for rev in revs:
            main = rev.get("slots", {}).get("main", {})
            if "content" in main:
                rev["content"] = main["content"]
        return revs

    def log_events(self, *, type: str | None = None, title: str | None = None,
                   **params: Any) -> list[dict[str, Any]]:
        """list=logevents, newest first, with every property."""
        query: dict[str, Any] = dict(list="logevents", letype=type, letitle=title, lelimit="max",
                                     leprop="ids|title|type|user|userid|timestamp|comment|details|tags")
        return self.query_all("logevents", **{**query, **params})

    def recent_changes(self, *, tag: str | None = None, title: str | None = None,
                       **params: Any) -> list[dict[str, Any]]:
        """list=recentchanges, newest first."""
        query: dict[str, Any] = dict(list="recentchanges", rctag=tag, rctitle=title, rclimit="max",
                                     rcprop="ids|title|user|comment|timestamp|sizes|flags|loginfo|tags|sha1|redirect")
        return self.query_all("recentchanges", **{**query, **params})

    def siteinfo(self, siprop: str = "general") -> dict[str, Any]:
        return self.get(action="query", meta="siteinfo", siprop=siprop)["query"]

    def links(self, title: str) -> list[str]:
        """Titles the page links to, from MediaWiki's pagelinks table (prop=links)."""
        return sorted(link["title"] for page in self.query_all(
            "pages", prop="links", titles=title, pllimit="max") for link in page.get("links", []))

    def categories(self, title: str) -> list[str]:
        return sorted(c["title"] for page in self.query_all(
            "pages", prop="categories", titles=title, cllimit="max") for c in page.get("categories", []))

    def user(self, name: str) -> dict[str, Any]:
        return self.get(action="query", list="users", ususers=name,
                        usprop="groups|editcount|rights")["query"]["users"][0]

    # ------------------------------------------------------------------ files
    def upload(self, filename: str, data: bytes, *, comment: str = "", text: str | None = None,
               ignorewarnings: bool = True) -> dict[str, Any]:
        """action=upload with the file as multipart/form-data; returns the ``upload`` part (Success).

        Versions of one file are at least a second apart: MediaWiki names an archived
        version by the second of the new upload, and two in one second collide. The
        second counts from the previous upload's answer, not its start: a slow request
        may take its timestamp just before it answers.
        """
        wait = self._uploaded.get(filename, 0.0) + 1.1 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        fields: dict[str, str] = {"action": "upload", "format": "json", "formatversion": "2",
                                  "filename": filename, "comment": comment, "token": self.csrf}
        if text is not None:
            fields["text"] = text
        if ignorewarnings:
            fields["ignorewarnings"] = "1"
        boundary = "gitaccess-" + os.urandom(12).hex()
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                result = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(f"http-{exc.code}", exc.read()[:2000].decode("utf-8", "replace")) from None
        finally:
            self._uploaded[filename] = time.monotonic()
        if "error" in result:
            raise ApiError(result["error"].get("code", "?"), result["error"].get("info", ""), result)
        upload = result["upload"]
        if upload.get("result") != "Success":
            raise ApiError("upload-" + str(upload.get("result")), json.dumps(upload), result)
        return upload

    def image_info(self, title: str, iiprop: str = "url|size|sha1|mime|timestamp|user|comment",
                   **params: Any) -> list[dict[str, Any]]:
        """prop=imageinfo of a file, newest version first (every version)."""
        page = self.page(title, prop="imageinfo", iiprop=iiprop, iilimit="max", **params)
        return page.get("imageinfo", [])

    def file_archive(self, name: str) -> list[dict[str, Any]]:
        """list=filearchive entries of one file name (deleted versions)."""
        return [fa for fa in self.query_all(
            "filearchive", list="filearchive", fafrom=name, fato=name, falimit="max",
            faprop="sha1|timestamp|user|size|dimensions|description|mime|mediatype|archivename")
            if fa["name"] == name.replace(" ", "_")]

    def fetch(self, url: str) -> bytes:
        """The bytes at a URL of this wiki (a file's URL from imageinfo)."""
        with self.opener.open(url, timeout=self.timeout) as response:
            return response.read()


#: {(schema, table): column names} of a database's tables (schema None but on PostgreSQL).
TableSnapshot = dict[tuple[str | None, str], tuple[str, ...]]


class MediaWikiPeer:
    """A running MediaWiki of mw-peer.sh in its own temporary directory."""

    def __init__(self, version: str, backend: str, directory: Path, env: dict[str, str]) -> None:
        self.version = version
        self.backend = backend
        self.dir = directory
        self.env = env
        #: The tables as MediaWiki's installer made them, when the one who started the peer noted them.
        self.installed_tables: TableSnapshot | None = None

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def start(cls, backend: str = "sqlite", version: str = DEFAULT_VERSION, *,
              attempts: int = 3) -> "MediaWikiPeer":
        """Install and serve a fresh wiki; raises PeerUnavailable or PeerError."""
        reason = unavailable_reason(backend, version)
        if reason:
            raise PeerUnavailable(reason)
        # Under /tmp with mode 0755: PostgreSQL runs as the postgres user, which must reach it.
        directory = Path(tempfile.mkdtemp(prefix=f"gitaccess-mw{version}-{backend}-", dir="/tmp"))
        directory.chmod(0o755)
        what = f"MediaWiki {version} on {backend}"
        last = ""
        for _ in range(attempts):
            port = free_port(pair=backend != "sqlite")
            try:
                proc = cls._run("start", directory, str(port), backend, version=version, timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                cls._stop_dir(directory, version)
                raise PeerError(f"mw-peer.sh start ({what}) took over {START_TIMEOUT} s") from None
            if proc.returncode == 0:
                return cls(version, backend, directory, _printed_env(proc))
            last = proc.stderr.strip()
            if any(marker in last for marker in _UNAVAILABLE_MARKERS):
                cls._stop_dir(directory, version, remove=True)
                raise PeerUnavailable(f"{what} cannot run here: {last.splitlines()[-1]}")
            if "already in use" not in last:
                break
            # Someone took the port between our probe and the start: reset and try other ports.
            cls._run("reset", directory, version=version)
        cls._stop_dir(directory, version, remove=os.environ.get("GITACCESS_MW_KEEP") != "1")
        tail = "\n".join(last.splitlines()[-25:])
        raise PeerError(f"mw-peer.sh start {directory} ({what}) failed:\n{tail}")

    def upgrade(self, version: str) -> None:
        """Upgrade the wiki in place to MediaWiki ``version`` (its update.php on the same
        database) and serve it again on the same port; raises PeerError."""
        proc = self._run("upgrade", self.dir, version=version, timeout=START_TIMEOUT)
        if proc.returncode != 0:
            raise PeerError(f"mw-peer.sh upgrade to {version} failed:\n{proc.stderr[-3000:]}")
        port = self.env["MW_SERVER"].rsplit(":", 1)[1]
        proc = self._run("start", self.dir, port, version=version, timeout=START_TIMEOUT)
        if proc.returncode != 0:
            raise PeerError(f"mw-peer.sh start after the upgrade to {version} failed:\n{proc.stderr[-3000:]}")
        self.version = version
        self.env = _printed_env(proc)

    @staticmethod
    def _run(command: str, directory: Path, *args: str, version: str,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """mw-peer.sh COMMAND DIR ARGS for MediaWiki ``version`` (the one DIR holds, or the one
        to create or upgrade to), whatever MW_VERSION or MW_DB_PORT the caller's shell set."""
        env = {k: v for k, v in os.environ.items() if k != "MW_DB_PORT"}
        env["MW_VERSION"] = version
        return subprocess.run(["bash", str(MW_PEER), command, str(directory), *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    @classmethod
    def _stop_dir(cls, directory: Path, version: str, remove: bool = False) -> None:
        try:
            cls._run("stop", directory, version=version, timeout=120)
        finally:
            if remove:
                shutil.rmtree(directory, ignore_errors=True)

    def stop(self) -> None:
        """Stop php -S and the private database server; remove the directory (unless kept)."""
        self._stop_dir(self.dir, self.version, remove=os.environ.get("GITACCESS_MW_KEEP") != "1")

    def __enter__(self) -> "MediaWikiPeer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ facts
    @property
    def api_url(self) -> str:
        return self.env["MW_API_URL"]

    @property
    def sqlalchemy_url(self) -> str:
        return self.env["MW_SQLALCHEMY_URL"]

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema of MediaWiki's tables (None on other databases)."""
        return self.env.get("MW_DB_SCHEMA") or None

    @property
    def admin(self) -> tuple[str, str]:
        return self.env["MW_ADMIN_USER"], self.env["MW_ADMIN_PASS"]

    @property
    def bot(self) -> tuple[str, str]:
        return self.env["MW_BOT_USER"], self.env["MW_BOT_PASS"]

    def api(self, login: tuple[str, str] | None = None) -> MediaWikiApi:
        """A new API client, logged in when credentials are given."""
        client = MediaWikiApi(self.api_url)
        if login:
            client.login(*login)
        return client

    def table_snapshot(self) -> TableSnapshot:
        """Every table's columns now (PostgreSQL: MediaWiki's schema and public)."""
        engine = make_engine(self.sqlalchemy_url, self.schema or "mediawiki")
        try:
            inspector = inspect(engine)
            snapshot: TableSnapshot = {}
            for schema in ([self.schema, "public"] if self.schema else [None]):
                for (_schema, name), columns in inspector.get_multi_columns(schema=schema).items():
                    snapshot[(schema, name)] = tuple(c["name"] for c in columns)
            return snapshot
        finally:
            engine.dispose()

    # ------------------------------------------------------------------ maintenance
    def maint(self, script: str, *args: str, timeout: float = 300) -> str:
        """Run a maintenance script (``runJobs.php``, ``createAndPromote.php`` ...); returns stdout."""
        proc = self._run("maint", self.dir, script, *args, version=self.version, timeout=timeout)
        if proc.returncode != 0:
            raise PeerError(f"maintenance script {script} {' '.join(args)} failed ({proc.returncode}):\n"
                            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return proc.stdout

    def run_jobs(self) -> str:
        return self.maint("runJobs.php")

    def wait_for(self, check: Any, timeout: float = 10, interval: float = 0.2) -> Any:
        """Poll ``check()`` until it returns something true."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(interval)



def _printed_env(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The KEY=VALUE lines mw-peer.sh start printed; raises PeerError without the API's URL."""
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    if "MW_API_URL" not in values:
        raise PeerError(f"mw-peer.sh printed no MW_API_URL:\n{proc.stdout}")
    return values


@contextmanager
def running_peer(backend: str, version: str = DEFAULT_VERSION) -> Iterator[MediaWikiPeer]:
    """A started MediaWiki, stopped afterwards; skips (or fails, under GITACCESS_REQUIRE_ALL)
    with the reason when MediaWiki cannot run here."""
    try:
        started = MediaWikiPeer.start(backend, version)
    except PeerUnavailable as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() skips or fails
    try:
        yield started
    finally:
        started.stop()


@contextmanager
def site_on(peer: MediaWikiPeer, data: Path, **config: Any) -> Iterator[Site]:
    """gitaccess pointed at the peer's database and upload directory."""
    settings: dict[str, Any] = dict(database_url=peer.sqlalchemy_url, database_schema=peer.schema or "mediawiki",
                                    data_directory=data, upload_directory=Path(peer.env["MW_DIR"]) / "images",
                                    site_name="TestWiki", server=peer.env["MW_SERVER"])
    the_site = Site(Config(**(settings | config)))
    try:
        yield the_site
    finally:
        if "db" in the_site.__dict__:
            the_site.db.dispose()
