"""A wiki gitaccess serves, upgraded in place from MediaWiki 1.39 to 1.43 LTS (shared/peers/mediawiki/mw-peer.sh).

On each backend: a 1.39 wiki is written through MediaWiki's API, cloned,
pushed to and edited again; ``MW_VERSION=1.43 mw-peer.sh upgrade`` runs
1.43's update.php on the same database (it drops ``revision_comment_temp``
and ``ipblocks``, adds ``block``/``block_target`` ...), and 1.43 serves it.
Then every commit gitaccess published must keep its SHA-1 (a clone from a
new data directory, so a cache rebuilt from the database, has the same
history), ``gitaccess verify`` must pass, and a push and a fetch must go on
working, the pushed edit seen by 1.43's API with the ``gitaccess`` tag.

Each backend's wiki is the test's own (an upgrade changes it for good), not
the peers the other interop modules share.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.wiki.writer import TAG
from tests.interop.test_mediawiki_clone import (
    cli_config, credentials, log_of, namespace_prefixes, populate, run_cli,
)
from tests.interop.test_mediawiki_push import commit, git_client, push
from tests.mediawiki import BACKENDS, MediaWikiApi, MediaWikiPeer, running_peer, site_on
from tests.protocol_helpers import GitClient, dev_server

pytestmark = pytest.mark.mediawiki

PAGE = "(Main)/Upgraded_page.wiki"


def push_edit(git: GitClient, clone: Path, login: list[str], text: str) -> str:
    """Write the page, commit and push it; returns the pushed commit."""
    (clone / PAGE).write_text(text, "utf-8")
    pushed = commit(git, clone, f"push: {text}")
    push(git, clone, login)
    return pushed


def history(git: GitClient, repo: Path, rev: str = "origin/master") -> list[str]:
    return git("rev-list", "--topo-order", rev, cwd=repo).stdout.split()


def settings(api: MediaWikiApi) -> dict[str, str]:
    """What names the wiki in commits: the same on either side of the upgrade."""
    return dict(server_name="wiki.example.org", site_name=api.siteinfo()["general"]["sitename"],
                meta_namespace=namespace_prefixes(api)[4].replace(" ", "_"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_to_1_43_keeps_every_sha1_and_pushes_and_fetches_go_on(backend: str, tmp_path: Path) -> None:
    git = git_client(tmp_path / "home")
    clone = tmp_path / "clone"
    with running_peer(backend, "1.39") as peer:
        login = credentials(*peer.admin)
        api = peer.api(login=peer.bot)
        populate(peer, api)
        upgraded = run_cli(peer, tmp_path, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        named = settings(api)
        with site_on(peer, tmp_path / "data-1.39", **named) as site, \
                dev_server(create_app(site.config)) as served:
            git("clone", "-q", served.url, str(clone), config=login)
            push_edit(git, clone, login, "Pushed to MediaWiki 1.39.")
            api.edit("Upgraded page", "Edited in MediaWiki 1.39.", summary="1.39 edit", nocreate=True)
            git("fetch", "-q", cwd=clone, config=login)
        published = history(git, clone)

        upgrade_and_check(peer, tmp_path)

        api = peer.api(login=peer.bot)
        with site_on(peer, tmp_path / "data-1.43", **named) as site:
            verified = run_cli(peer, tmp_path, "--config",
                               str(cli_config(site.config, tmp_path / "gitaccess.toml", tmp_path / "cli-data")),
                               "verify")
            assert verified.returncode == 0, verified.stderr
            assert verified.stdout.strip() == f"all {len(published)} commits of the journal rebuild identically"
            with dev_server(create_app(site.config)) as served:
                fresh = tmp_path / "fresh"
                git("clone", "-q", served.url, str(fresh), config=login)
                assert history(git, fresh) == published

                git("remote", "set-url", "origin", served.url, cwd=clone)
                git("merge", "-q", "--ff-only", "origin/master", cwd=clone)
                pushed = push_edit(git, clone, login, "Pushed to MediaWiki 1.43.")
                latest = api.revisions("Upgraded page", rvprop="ids|content|tags")[-1]
                assert latest["content"] == "Pushed to MediaWiki 1.43." and TAG in latest["tags"]

                edit = api.edit("Upgraded page", "Edited in MediaWiki 1.43.", summary="1.43 edit", nocreate=True)
                git("fetch", "-q", cwd=clone, config=login)
                assert history(git, clone, pushed)[1:] == published
                [fetched] = log_of(git, clone, f"{pushed}..origin/master")
                assert fetched.parents == [pushed] and fetched.subject == "1.43 edit"
                assert fetched.values("Revision") == [str(edit["newrevid"])]


def upgrade_and_check(peer: MediaWikiPeer, cwd: Path) -> None:
    """Upgrade the peer to 1.43; MediaWiki and ``gitaccess db status`` must both say 1.43."""
    assert peer.api().siteinfo()["general"]["generator"].startswith("MediaWiki 1.39.")
    peer.upgrade("1.43")
    assert peer.api().siteinfo()["general"]["generator"].startswith("MediaWiki 1.43.")
    status = run_cli(peer, cwd, "db", "status")
    assert status.returncode == 0, status.stderr
    assert "schema: MediaWiki 1.43:" in status.stdout and "pushes: accepted (read/write)" in status.stdout
