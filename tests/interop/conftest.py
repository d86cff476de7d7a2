"""The MediaWiki peers the interop tests share: one per (version, backend), for the whole session.

A peer is started the first time a test asks for its (version, backend)
and stopped when the tests move on to the next pair (pytest groups the
tests by a session fixture's parameter), so the whole matrix costs each
peer started once and only one runs at a time. The modules share its wiki:
each writes pages, files and accounts of its own names. The clone module
checks the whole history against what it wrote, so its tests run first on
each peer, whatever order the modules were given in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mediawiki import PEERS, MediaWikiPeer, peer_id, running_peer

#: The module whose tests see each shared wiki before the others write to it.
FIRST = "test_mediawiki_clone.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The clone module's tests first; pytest then groups every test by peer, keeping this order."""
    items.sort(key=lambda item: item.path.name != FIRST)


@pytest.fixture(scope="session", params=PEERS, ids=peer_id)
def peer(request: pytest.FixtureRequest) -> Iterator[MediaWikiPeer]:
    """A fresh MediaWiki of one version on one backend, with the tables its installer made
    (``installed_tables``) noted before any test touches it."""
    version, backend = request.param
    with running_peer(backend, version) as started:
        started.installed_tables = started.table_snapshot()
        yield started
