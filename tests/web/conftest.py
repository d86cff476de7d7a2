"""A real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium) and a
served wiki with a history to look at.

Without the browser's packages the tests skip with the reason shown, or fail under
GITACCESS_REQUIRE_ALL=1 (.ci/run installs them).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from sqlalchemy import update

from gitaccess.app import create_app
from gitaccess.auth.passwords import hash_password
from gitaccess.repository import WikiRepository
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.events import DELETED_COMMENT, DELETED_TEXT, DELETED_USER
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.conftest import unavailable
from tests.protocol_helpers import dev_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
PAGE = "(Main)/Main_Page.wiki"
VERSIONS = [  # (text, summary) of the Main Page's revisions, oldest first
    ("alpha\nbeta\ngamma\n", "First words"),
    ("alpha\nBETA\ngamma\ndelta\n", "Second words"),
    ("alpha\nsecret password hunter2\n", "Leaked the secret"),
    ("alpha\nfinal\n", "Fourth words"),
]
HIDDEN_SUMMARY = "Leaked the secret"
HIDDEN_TEXT = "hunter2"
HIDDEN_USER = "Mallory"


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session, with a fresh profile."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        unavailable(f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(1200, 900)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium: webdriver.Chrome) -> webdriver.Chrome:
    """The session's browser, without the cookies of an earlier test."""
    chromium.delete_all_cookies()
    chromium.set_window_size(1200, 900)
    return chromium


@dataclass
class Served:
    site: Site
    base: str
    #: The Main Page's revision ids, oldest first.
    revisions: list[int]


@pytest.fixture
def served_wiki(make_site, tmp_path: Path,  # type: ignore[no-untyped-def]
                request: pytest.FixtureRequest) -> Iterator[Served]:
    """A wiki served over HTTP: Alice (sysop, who may push), Bob (no right to read), the Main Page's
    four versions, the third by Mallory; after the history was served, the wiki hid that
    revision's text, summary and user name. Parametrized indirectly, more configuration."""
    site = make_site(f"sqlite:///{tmp_path / 'wiki.sqlite'}", server="https://wiki.example",
                     **getattr(request, "param", {}))
    standalone.create(site.db)
    with site.db.write() as conn:
        writer = WikiWriter(site.db, conn, titles=site.titles)
        alice = writer.create_user("Alice", hash_password("alice-secret"), ("sysop",))
        writer.create_user("Bob", hash_password("bob-secret"))
        mallory = writer.create_user(HIDDEN_USER, hash_password("mallory-secret"))
        revisions = []
        for number, (text, summary) in enumerate(VERSIONS):
            editor = Editor(HIDDEN_USER, mallory) if number == 2 else Editor("Alice", alice, frozenset({"sysop"}))
            saved = writer.save(0, "Main_Page", text, editor=editor, summary=summary,
                                timestamp=f"2026010{number + 1}120000")
            assert saved.rev_id is not None
            revisions.append(saved.rev_id)
    repository = WikiRepository(site)
    repository.refresh()  # published: the third version's commit holds what is hidden next
    repository.close()
    t = site.db.tables
    with site.db.write() as conn:
        conn.execute(update(t.revision).where(t.revision.c.rev_id == revisions[2])
                     .values(rev_deleted=DELETED_TEXT | DELETED_COMMENT | DELETED_USER))
    with dev_server(create_app(site.config)) as server:
        yield Served(site, server.base, revisions)
