"""Every importable fixture dump, imported into a standalone wiki, clones as a clean git repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitaccess.app import create_app
from gitaccess.config import Config
from gitaccess.dumps.importer import import_dump
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.wiki import events, standalone
from gitaccess.wiki.writer import WikiWriter
from tests.conftest import SHARED
from tests.protocol_helpers import GitClient, dev_server

DUMPS = sorted(p for p in (SHARED / "fixtures" / "dumps").glob("*.xml") if "Slots" not in p.name)


@pytest.mark.parametrize("dump", DUMPS, ids=[p.stem for p in DUMPS])
def test_imported_dump_clones(dump: Path, tmp_path: Path) -> None:
    site = Site(Config(database_url=f"sqlite:///{tmp_path}/wiki.sqlite", data_directory=tmp_path / "data",
                       upload_directory=tmp_path / "images"))
    standalone.create(site.db)
    import_dump(site, dump)
    with site.db.write() as conn:
        WikiWriter(site.db, conn).create_user("Cloner", hash_password("pw-cloner-1"), ("sysop",))
    git = GitClient(tmp_path / "home", protocol=2)
    helper = "!f() { echo username=Cloner; echo password=pw-cloner-1; }; f"
    with dev_server(create_app(site.config)) as server:
            git("clone", server.url, str(tmp_path / "clone"), config=[f"credential.helper={helper}"])
    clone = tmp_path / "clone"
    with site.db.read() as conn:
        visible = [e for e in events.revisions_after(site.db, conn, 0)
                   if site.layout.is_included(e.namespace) and not e.null]
    files = [p for p in clone.rglob("*") if p.is_file() and ".git" not in p.parts]
    if not visible:  # a dump of log entries only: an empty wiki, an empty repository
        assert not files
        return
    git("-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "fsck", "--strict", cwd=clone)
    assert int(git("rev-list", "--count", "HEAD", cwd=clone).stdout) >= len(visible)
    assert files, "the checkout holds the imported pages"
