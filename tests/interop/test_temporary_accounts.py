"""Temporary accounts (MediaWiki 1.43's $wgAutoCreateTempUser): an edit without an account
is made by a temporary user such as ``~2026-1``; its commit carries that name like any
editor's, and no IP address of a temporary user appears in the history."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.journal.history import History
from tests.interop.test_mediawiki_clone import credentials, run_cli
from tests.mediawiki import MediaWikiApi, MediaWikiPeer, running_peer, site_on
from tests.protocol_helpers import GitClient, dev_server

pytestmark = pytest.mark.mediawiki


@pytest.fixture(scope="module")
def peer() -> Iterator[MediaWikiPeer]:
    """A MediaWiki 1.43 of its own: temporary accounts change every anonymous edit."""
    with running_peer("sqlite", "1.43") as started:
        with (Path(started.env["MW_DIR"]) / "LocalSettings.php").open("a") as settings:
            settings.write("\n$wgAutoCreateTempUser['enabled'] = true;\n")
        yield started


def test_temporary_users_edit_under_their_names_and_no_address_is_published(
        peer: MediaWikiPeer, tmp_path: Path) -> None:
    anonymous = MediaWikiApi(peer.api_url)
    made = anonymous.post(action="edit", title="Temp page", text="from a temporary user\n",
                          summary="no account", token=anonymous.token())["edit"]
    assert made["tempusercreated"]
    temporary = anonymous.revisions("Temp page")[0]["user"]
    assert temporary.startswith("~") and anonymous.revisions("Temp page")[0]["temp"]
    peer.api(peer.admin).edit("Temp page", "and an admin after it\n", summary="reviewed")

    upgraded = run_cli(peer, tmp_path, "db", "upgrade")  # gitaccess's own tables
    assert upgraded.returncode == 0, upgraded.stderr
    with site_on(peer, tmp_path / "data", server_name="wiki.test") as site, \
            dev_server(create_app(site.config)) as served:
        git = GitClient(tmp_path / "home", protocol=2)
        git("clone", "--quiet", served.url, str(tmp_path / "clone"), config=credentials(*peer.admin))
        log = git("log", "--format=%an <%ae>|%cn <%ce>|%B", cwd=tmp_path / "clone").stdout
        assert History(site).verify() > 0
    assert f"{temporary} <{temporary}@wiki.test>|{temporary} <{temporary}@wiki.test>" in log
    words = log.replace("<", " ").replace(">", " ").replace("|", " ").replace("@", " ").split()
    addresses = [word for word in words if _is_address(word)]
    assert addresses == [], addresses


def _is_address(word: str) -> bool:
    try:
        ipaddress.ip_address(word)
    except ValueError:
        return False
    return True
