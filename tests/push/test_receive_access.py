"""Who may push: wiki accounts with the right and no block; never anonymous; only when pushing is enabled."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import insert, select

from gitaccess.auth.accounts import Authenticator
from gitaccess.config import Config
from gitaccess.auth.passwords import hash_password
from gitaccess.protocol.http import PUSH_REQUEST
from gitaccess.protocol.receive_pack import PushSettings
from gitaccess.site import Site
from gitaccess.wiki.types import wiki_timestamp
from gitaccess.wiki.writer import WikiWriter
from tests.protocol_helpers import REPO_NAME, GitClient, dev_server, gate_for, make_history, run_git
from tests.protocol.test_receive_pack import ApplyingDecider, pushers, push_app

ADVERTISEMENT = "/wiki.git/info/refs?service=git-receive-pack"
PUSH = "/wiki.git/git-receive-pack"


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def block(site: Site, writer: WikiWriter, user_id: int, name: str, by: str) -> None:
    """A sitewide, indefinite block of the account, as Special:Block writes it (MediaWiki 1.39 schema)."""
    t = site.db.tables
    by_actor = writer.conn.execute(select(t.actor.c.actor_id).where(t.actor.c.actor_name == by)).scalar_one()
    writer.conn.execute(insert(t.ipblocks).values(
        ipb_address=name, ipb_user=user_id, ipb_by_actor=by_actor, ipb_reason_id=writer.rows.comment_id("vandalism"),
        ipb_timestamp=wiki_timestamp(), ipb_expiry="infinity", ipb_range_start="", ipb_range_end=""))


def attempts(client: FlaskClient, headers: dict[str, str], **environ: str) -> list[tuple[int, str]]:
    """(status, text) of the push advertisement and of a push request (git's probe)."""
    answers = (client.get(ADVERTISEMENT, headers=headers, environ_base=environ),
               client.post(PUSH, headers={**headers, "Content-Type": PUSH_REQUEST}, data=b"0000",
                           environ_base=environ))
    return [(answer.status_code, answer.get_data(as_text=True)) for answer in answers]


def test_who_may_push(wiki: Site, tmp_path: Path) -> None:
    with wiki.db.write() as conn:
        writer = WikiWriter(wiki.db, conn)
        writer.create_user("Alice", hash_password("alice-secret"), ("sysop",))
        writer.create_user("Bob", hash_password("bob-secret"))
        carol = writer.create_user("Carol", hash_password("carol-secret"), ("sysop",))
        block(wiki, writer, carol, "Carol", by="Alice")
    served = make_history(tmp_path / "served.git", 5)
    gate = gate_for(dataclasses.replace(wiki.config, repository=REPO_NAME, anonymous_read=True),
                    Authenticator(wiki).authenticate, tmp_path / "attempts")
    with push_app(served, ApplyingDecider(served), PushSettings(tmp_path / "quarantine"), gate) as app:
        client = app.test_client()
        for status, text in attempts(client, {}):
            assert status == 401 and "authentication required to push" in text  # anonymous reading is not pushing
        assert client.get(ADVERTISEMENT).headers["WWW-Authenticate"].startswith("Basic realm=")
        for status, text in attempts(client, basic("Bob", "bob-secret")):
            assert status == 403 and "'Bob' lacks the right to push" in text
        for status, text in attempts(client, basic("Carol", "carol-secret")):
            assert status == 403 and "'Carol' is blocked on the wiki, so it cannot push" in text
        fetch = client.get("/wiki.git/info/refs?service=git-upload-pack", headers=basic("Carol", "carol-secret"))
        assert fetch.status_code == 200  # a block stops pushing, not reading
        assert [status for status, _ in attempts(client, basic("Alice", "alice-secret"))] == [200, 200]
        assert attempts(client, basic("Alice", "wrong"))[0][0] == 401
    wiki.db.dispose()


def test_plain_http_and_disabled_pushing(tmp_path: Path) -> None:
    served = make_history(tmp_path / "served.git", 5)
    with push_app(served, ApplyingDecider(served), PushSettings(tmp_path / "quarantine")) as app:
        for status, text in attempts(app.test_client(), basic("Alice", "alice-secret"), REMOTE_ADDR="203.0.113.9"):
            assert status == 403 and "use https://" in text
    gate = gate_for(Config(repository=REPO_NAME, anonymous_read=True), pushers, tmp_path / "attempts")
    with push_app(served, None, PushSettings(tmp_path / "quarantine"), gate) as app:
        for status, text in attempts(app.test_client(), basic("Alice", "alice-secret")):
            assert status == 403 and text.endswith("pushing is not enabled on this server\n")
        assert app.test_client().get("/wiki.git/info/refs?service=git-upload-pack").status_code == 200


def test_git_without_credentials(tmp_path: Path) -> None:
    served = make_history(tmp_path / "served.git", 5)
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(served), str(clone))
    run_git("-c", "user.name=A", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "x", cwd=clone)
    decider = ApplyingDecider(served)
    with push_app(served, decider, PushSettings(tmp_path / "quarantine")) as app, dev_server(app) as server:
        result = GitClient(tmp_path / "home", 0)("push", server.url, "master", cwd=clone, check=False)
    assert result.returncode != 0 and "terminal prompts disabled" in result.stderr
    assert decider.calls == []
