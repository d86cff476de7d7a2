"""The MediaWiki peers the interop tests share: one per (version, backend), for the whole session.

A peer is started the first time a test asks for its (version, backend)
and stopped when the tests move on to the next pair (pytest groups the
tests by a session fixture's parameter), so the whole matrix costs each
peer started once and only one runs at a time. The modules share its wiki:
each writes pages, files and accounts of its own names, and none assumes
the wiki holds only what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mediawiki import PEERS, MediaWikiPeer, peer_id, running_peer


@pytest.fixture(scope="session", params=PEERS, ids=peer_id)
def peer(request: pytest.FixtureRequest) -> Iterator[MediaWikiPeer]:
    """A fresh MediaWiki of one version on one backend, with the tables its installer made
    (``installed_tables``) noted before any test touches it."""
    version, backend = request.param
    with running_peer(backend, version) as started:
        started.installed_tables = started.table_snapshot()
        yield started
