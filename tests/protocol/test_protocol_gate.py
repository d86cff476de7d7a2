"""The gate: challenges, rights, plain-HTTP refusal, throttling and the credentials cache.

The throttling rule with a wiki's own accounts, behind a proxy and under
gunicorn is tested in test_protocol_throttle.py.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gitaccess.app import wiki_gate
from gitaccess.auth.accounts import Account
from gitaccess.config import Config
from gitaccess.errors import AuthError
from gitaccess.auth.passwords import hash_password
from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.writer import WikiWriter
from tests.protocol_helpers import REPO_NAME, GitClient, dev_server, gate_for, make_app, make_history, rev_parse

INFO_REFS = "/wiki.git/info/refs?service=git-upload-pack"
SITE_NAME = 'Example "Wiki"'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Accounts:
    """A stand-in for the wiki's accounts that counts password checks."""

    def __init__(self) -> None:
        self.checks = 0

    def __call__(self, login: str, password: str, address: str) -> Account:
        self.checks += 1
        if (login, password) == ("Alice", "right"):
            return Account(1, "Alice", frozenset({"sysop"}), None, False, True, True)
        if (login, password) == ("Bob", "right"):
            return Account(2, "Bob", frozenset({"user"}), None, False, False, False)
        raise AuthError("wrong user name or password")


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitDirRepository]:
    repo = GitDirRepository(make_history(tmp_path_factory.mktemp("gate") / "source.git", 20))
    yield repo
    repo.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


def client_for(repository: GitDirRepository, accounts: Accounts, clock: Clock, attempts: Path,
               **config: object) -> FlaskClient:
    settings = Config(site_name=SITE_NAME, repository=REPO_NAME, **config)  # type: ignore[arg-type]
    gate = gate_for(settings, accounts, attempts, clock=clock)
    return make_app(repository, gate).test_client()


@pytest.fixture
def client(repository: GitDirRepository, accounts: Accounts, clock: Clock, tmp_path: Path) -> FlaskClient:
    return client_for(repository, accounts, clock, tmp_path)


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def test_no_credentials_is_a_challenge_on_every_endpoint(client: FlaskClient) -> None:
    for response in (client.get(INFO_REFS), client.post("/wiki.git/git-upload-pack"),
                     client.get("/wiki.git/HEAD")):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Example \\"Wiki\\"", charset="UTF-8"'


def test_rights(client: FlaskClient) -> None:
    assert client.get(INFO_REFS, headers=basic("Alice", "right")).status_code == 200
    wrong = client.get(INFO_REFS, headers=basic("Alice", "wrong"))
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers
    refused = client.get(INFO_REFS, headers=basic("Bob", "right"))
    assert refused.status_code == 403 and "lacks the right" in refused.get_data(as_text=True)


def test_verified_credentials_are_cached_briefly(client: FlaskClient, accounts: Accounts, clock: Clock) -> None:
    for _ in range(3):
        assert client.get(INFO_REFS, headers=basic("Alice", "right")).status_code == 200
    assert accounts.checks == 1
    clock.now += 61
    client.get(INFO_REFS, headers=basic("Alice", "right"))
    assert accounts.checks == 2


def test_an_address_with_five_failures_is_refused_for_every_account(client: FlaskClient, accounts: Accounts,
                                                                     clock: Clock) -> None:
    for _ in range(5):
        assert client.get(INFO_REFS, headers=basic("Alice", "guess")).status_code == 401
        clock.now += 1
    throttled = client.get(INFO_REFS, headers=basic("Alice", "right"))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "55"  # when the first failure expires
    assert "from your address" in throttled.get_data(as_text=True)
    other_account = client.get(INFO_REFS, headers=basic("Carol", "x"))
    assert other_account.status_code == 429  # the address is refused for any account
    elsewhere = client.get(INFO_REFS, headers=basic("Alice", "right"), environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert elsewhere.status_code == 200  # one address's failures refuse no other address
    assert accounts.checks == 6
    clock.now += 55
    assert client.get(INFO_REFS, headers=basic("Alice", "right")).status_code == 200


def test_plain_http_credentials_are_refused_except_on_loopback(repository: GitDirRepository, accounts: Accounts,
                                                                 clock: Clock, tmp_path: Path) -> None:
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    client = client_for(repository, accounts, clock, tmp_path)
    refused = client.get(INFO_REFS, headers=basic("Alice", "right"), environ_base=remote)
    assert refused.status_code == 403 and "https://" in refused.get_data(as_text=True)
    assert client.get(INFO_REFS, environ_base=remote).status_code == 403  # no invitation to send them either
    secure = client.get(INFO_REFS, headers=basic("Alice", "right"), base_url="https://wiki.example",
                        environ_base=remote)
    assert secure.status_code == 200
    allowed = client_for(repository, accounts, clock, tmp_path, allow_insecure_http=True)
    assert allowed.get(INFO_REFS, headers=basic("Alice", "right"), environ_base=remote).status_code == 200
    assert accounts.checks == 2


def test_anonymous_read(repository: GitDirRepository, accounts: Accounts, clock: Clock, tmp_path: Path) -> None:
    client = client_for(repository, accounts, clock, tmp_path, anonymous_read=True)
    assert client.get(INFO_REFS).status_code == 200
    assert client.get(INFO_REFS, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert client.get(INFO_REFS, headers=basic("Alice", "wrong")).status_code == 401


# ---------------------------------------------------------------------------- with git and a wiki
def make_wiki(path: Path) -> Site:
    """A standalone SQLite wiki where Alice (sysop) may read and Bob may not."""
    site = Site(Config(database_url=f"sqlite:///{path / 'wiki.sqlite'}", data_directory=path / "data",
                       repository=REPO_NAME))
    standalone.create(site.db)
    with site.db.write() as conn:
        writer = WikiWriter(site.db, conn)
        writer.create_user("Alice", hash_password("alice-secret"), ("sysop",))
        writer.create_user("Bob", hash_password("bob-secret"))
    return site


def credential_helper(login: str, password: str) -> str:
    return f"credential.helper=!f() {{ echo username={login}; echo password={password}; }}; f"


@pytest.mark.parametrize("protocol", [0, 2], ids=["v0", "v2"])
def test_git_with_wiki_accounts(repository: GitDirRepository, tmp_path: Path, protocol: int) -> None:
    site = make_wiki(tmp_path)
    app = make_app(repository, wiki_gate(site))
    git = GitClient(tmp_path / "home", protocol)
    with dev_server(app) as server:
        anonymous = git("clone", server.url, str(tmp_path / "a"), check=False)
        assert anonymous.returncode != 0 and "terminal prompts disabled" in anonymous.stderr
        bob = git("clone", server.url, str(tmp_path / "b"), check=False,
                  config=[credential_helper("Bob", "bob-secret")])
        assert bob.returncode != 0 and "403" in bob.stderr
        git("clone", "-q", server.url, str(tmp_path / "c"), config=[credential_helper("Alice", "alice-secret")])
    site.db.dispose()
    assert rev_parse(tmp_path / "c", "HEAD") == repository.refs()[b"refs/heads/master"].decode()
