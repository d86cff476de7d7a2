"""Throttling failed logins with a wiki's own accounts: what an attacker can and cannot do.

The gate counts attempts in the wiki's database (git_throttle) under the
canonical user name and the client's address; these tests play the attacks
of a security report against the app's own wiring (gitaccess.app.wiki_gate),
with the test client, behind a proxy, and under gunicorn with two workers.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gitaccess.app import wiki_gate
from gitaccess.auth.passwords import hash_password
from gitaccess.config import Config
from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.writer import WikiWriter
from tests.protocol_helpers import REPO_NAME, gunicorn_server, make_app, make_history, raw_request

INFO_REFS = "/wiki.git/info/refs?service=git-upload-pack"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDirRepository]:
    repo = GitDirRepository(make_history(tmp_path_factory.mktemp("throttle") / "source.git", 3))
    yield repo
    repo.close()


def add_admin(site: Site) -> Site:
    """The wiki with the account Admin (password admin-secret), who may fetch."""
    with site.db.write() as conn:
        WikiWriter(site.db, conn).create_user("Admin", hash_password("admin-secret"), ("sysop",))
    return site


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


Fetch = Callable[..., int]


def fetcher(client: FlaskClient) -> Fetch:
    """Ask for the refs over https as ``login`` from ``address`` (forwarding for ``forwarded``); the status."""

    def fetch(login: str, password: str, address: str, forwarded: str | None = None) -> int:
        headers = basic(login, password) | ({"X-Forwarded-For": forwarded} if forwarded else {})
        response = client.get(INFO_REFS, headers=headers,
                              base_url="https://wiki.example", environ_base={"REMOTE_ADDR": address})
        return response.status_code

    return fetch


@pytest.fixture
def fetch(wiki: Site, repository: GitDirRepository) -> Fetch:
    return fetcher(make_app(repository, wiki_gate(add_admin(wiki))).test_client())


def test_twelve_wrong_passwords_from_one_address_lock_out_that_address_only(fetch: Fetch) -> None:
    """The report's attack: twelve guesses for Admin; the owner elsewhere logs in, the attacker cannot."""
    statuses = [fetch("Admin", f"guess-{n}", ATTACKER) for n in range(12)]
    assert statuses == [401] * 5 + [429] * 7
    assert fetch("Admin", "admin-secret", OWNER) == 200
    assert fetch("Admin", "admin-secret", ATTACKER) == 429


def test_name_variants_count_as_one_account(fetch: Fetch) -> None:
    """``Admin_``, ``__Admin``, ``Admin`` + U+200E and ``admin@bot`` are all Admin: failures from three
    addresses refuse Admin to a fourth, new address, while the owner's known address keeps working."""
    assert fetch("Admin", "admin-secret", OWNER) == 200  # the owner's address is now known
    variants = ["Admin_", "__Admin", "Admin\u200e", "admin@bot"]
    statuses = [fetch(login, "guess", f"203.0.113.{n}") for n, login in enumerate(variants, 1)]
    assert statuses == [401, 401, 401, 429]
    assert fetch("Admin", "admin-secret", "192.0.2.1") == 429  # a new address, though the password is right
    for login in variants[:3]:
        assert fetch(login, "admin-secret", OWNER) == 200  # each variant logs in as Admin


def test_an_ipv6_client_is_counted_by_its_network(fetch: Fetch) -> None:
    """A host holds a whole /64: changing the address inside it is no way around the count."""
    for n in range(1, 6):
        assert fetch("Admin", "guess", f"2001:db8::{n}") == 401
    assert fetch("Admin", "admin-secret", "2001:db8::99") == 429
    assert fetch("Admin", "admin-secret", "2001:db8:0:1::1") == 200


def proxied_wiki(tmp_path: Path, **config: object) -> Site:
    site = Site(Config(database_url=f"sqlite:///{tmp_path / 'wiki.sqlite'}", data_directory=tmp_path / "data",
                       repository=REPO_NAME, **config))  # type: ignore[arg-type]
    standalone.create(site.db)
    return add_admin(site)


def test_forwarded_addresses_are_believed_from_a_trusted_proxy_only(repository: GitDirRepository,
                                                                    tmp_path: Path) -> None:
    site = proxied_wiki(tmp_path, trusted_proxies=("127.0.0.1",))
    fetch = fetcher(make_app(repository, wiki_gate(site)).test_client())
    proxy = "127.0.0.1"

    def via_proxy(password: str, forwarded: str) -> int:
        return fetch("Admin", password, proxy, forwarded)

    for _ in range(5):
        assert via_proxy("guess", ATTACKER) == 401
    assert via_proxy("admin-secret", ATTACKER) == 429
    assert via_proxy("admin-secret", f"{ATTACKER}, {OWNER}") == 200  # the address the proxy saw is the last
    assert via_proxy("admin-secret", f"{OWNER}, {ATTACKER}") == 429  # what the client put before it is not
    assert fetch("Admin", "admin-secret", proxy) == 200  # the proxy's own address was never counted
    assert via_proxy("admin-secret", "unknown") == 400  # a proxy that reports no address is a broken set-up

    # A client that is no trusted proxy cannot pick its address by saying it was forwarded.
    for n in range(5):
        assert fetch("Admin", "guess", "192.0.2.9", forwarded=f"192.0.2.{100 + n}") == 401
    assert fetch("Admin", "admin-secret", "192.0.2.9", forwarded="192.0.2.200") == 429
    # Nor can one on the proxy's host when no proxy is trusted.
    untrusting = fetcher(make_app(repository, wiki_gate(proxied_wiki(tmp_path / "untrusting"))).test_client())
    for n in range(5):
        assert untrusting("Admin", "guess", proxy, forwarded=f"192.0.2.{n}") == 401
    assert untrusting("Admin", "admin-secret", proxy, forwarded="192.0.2.200") == 429


def answers(log: Path) -> list[tuple[int, int]]:
    """(status, worker's pid) of each request to the refs the gunicorn log shows, in order."""
    found = re.findall(r"GET /wiki\.git/info/refs (\d+) .* worker=<(\d+)>", log.read_text())
    return [(int(status), int(pid)) for status, pid in found]


def test_gunicorn_workers_share_the_count(tmp_path: Path) -> None:
    """A worker that checked none of the five failures refuses the address too: its processes
    are replaced, and the right password still gets 429 from one that never answered before."""
    site = proxied_wiki(tmp_path)
    site.db.dispose()
    source = make_history(tmp_path / "source.git", 3)
    log = tmp_path / "gunicorn.log"
    with gunicorn_server(source, log, str(site.config.database_url), workers=2) as server:
        def ask(password: str) -> tuple[int, int]:
            before = len(answers(log))
            raw_request(server.base, "GET", INFO_REFS, basic("Admin", password))
            deadline = time.monotonic() + 10
            while len(answers(log)) == before and time.monotonic() < deadline:
                time.sleep(0.05)  # the access log line follows the answer
            return answers(log)[-1]

        assert [ask(f"guess-{n}")[0] for n in range(6)] == [401] * 5 + [429]
        seen = {pid for _, pid in answers(log)}
        for pid in seen:
            os.kill(pid, signal.SIGTERM)  # gunicorn's master starts a new worker for each
        deadline = time.monotonic() + 60
        status, pid = ask("admin-secret")
        while pid in seen and time.monotonic() < deadline:
            status, pid = ask("admin-secret")
    assert pid not in seen, log.read_text()
    assert status == 429
