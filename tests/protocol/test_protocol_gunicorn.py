"""The same endpoints under gunicorn's gthread workers, as production runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitaccess.protocol.http import REQUEST
from gitaccess.protocol.pktline import FLUSH_PKT, text_line
from tests.protocol_helpers import (
    GitClient,
    Served,
    add_commit,
    add_local_commits,
    all_objects,
    gunicorn_server,
    make_history,
    raw_request,
    rev_parse,
)
from tests.protocol.test_protocol_gate import credential_helper, make_wiki

ALICE = credential_helper("Alice", "alice-secret")


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gunicorn")


@pytest.fixture(scope="module")
def source(place: Path) -> Path:
    return make_history(place / "source.git", 200)


@pytest.fixture(scope="module")
def server(place: Path, source: Path) -> Iterator[Served]:
    site = make_wiki(place)
    site.db.dispose()
    with gunicorn_server(source, place / "gunicorn.log", site.config.database_url) as running:
        yield running
    log = (place / "gunicorn.log").read_text()
    assert "Traceback" not in log, log


@pytest.mark.parametrize("protocol", [0, 2], ids=["v0", "v2"])
def test_clone_and_chunked_fetch(server: Served, place: Path, source: Path, tmp_path: Path, protocol: int) -> None:
    git = GitClient(tmp_path / "home", protocol)
    clone = tmp_path / "clone"
    git("clone", "-q", server.url, str(clone), config=[ALICE])
    assert all_objects(clone) == all_objects(source)
    git("fsck", "--strict", cwd=clone)
    add_local_commits(clone, 100 if protocol == 0 else 3000)
    add_commit(source, {"(Main)/Under_gunicorn.wiki": f"protocol {protocol}\n".encode()})
    post_buffer = "1024" if protocol == 0 else "65536"  # v2 needs more than one pkt-line (see the fetch tests)
    chunked = "POST /wiki.git/git-upload-pack 200 framing=chunked"
    before = (place / "gunicorn.log").read_text().count(chunked)
    result = git("fetch", cwd=clone, config=[ALICE, f"http.postBuffer={post_buffer}"])
    assert rev_parse(clone, "origin/master") == rev_parse(source, "master"), result.stderr
    assert (place / "gunicorn.log").read_text().count(chunked) > before


def test_bad_requests_get_clear_answers(server: Served, source: Path) -> None:
    auth = {"Authorization": "Basic QWxpY2U6YWxpY2Utc2VjcmV0"}  # Alice:alice-secret
    headers = {**auth, "Content-Type": REQUEST}
    short = raw_request(server.base, "POST", "/wiki.git/git-upload-pack", {**headers, "Content-Length": "1000"},
                        b"0032want " + b"a" * 41)
    assert short.status == 400 and b"ended after 50 of 1000 bytes" in short.body
    huge = raw_request(server.base, "POST", "/wiki.git/git-upload-pack",
                       {**headers, "Content-Length": str(100 * 1024 * 1024)}, b"0000")
    assert huge.status == 413
    garbage = raw_request(server.base, "POST", "/wiki.git/git-upload-pack",
                          {**headers, "Content-Length": "8"}, b"zzzz0000")
    assert garbage.status == 200 and b"ERR bad pkt-line length" in garbage.body
    unknown = text_line(b"want " + b"b" * 40 + b" side-band-64k") + FLUSH_PKT + text_line("done")
    answer = raw_request(server.base, "POST", "/wiki.git/git-upload-pack",
                         {**headers, "Content-Length": str(len(unknown))}, unknown)
    assert b"ERR upload-pack: not our ref " + b"b" * 40 in answer.body
    chunked = raw_request(server.base, "POST", "/wiki.git/git-upload-pack",
                          {**headers, "Transfer-Encoding": "chunked"}, b"zz\r\nnot a chunk\r\n")
    assert chunked.status == 400
    assert raw_request(server.base, "GET", "/wiki.git/info/refs", {}).status == 401
