"""The HTTP surface: routes, headers, negotiation lines, and every kind of bad request."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.pack import OFS_DELTA, REF_DELTA
from flask import Flask, request
from flask.testing import FlaskClient

from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.protocol.http import ADVERTISEMENT, REQUEST, RESULT, git_blueprint
from gitaccess.protocol.pktline import DELIM_PKT, FLUSH_PKT, Marker, PktReader, text_line
from tests.protocol_helpers import (
    anonymous_gate,
    dev_server,
    make_app,
    make_history,
    pack_types_of,
    raw_request,
    rev_parse,
    run_git,
)

UPLOAD_PACK = "/wiki.git/git-upload-pack"
V2 = {"Git-Protocol": "version=2"}
CAPS = b" multi_ack_detailed no-done side-band-64k ofs-delta thin-pack"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_history(tmp_path_factory.mktemp("http") / "source.git", 60)


@pytest.fixture(scope="module")
def app(source: Path) -> Iterator[Flask]:
    repository = GitDirRepository(source)
    yield make_app(repository, anonymous_gate())
    repository.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test sends, the server logs a line, never a traceback."""
    yield
    assert not [r for r in caplog.records if r.exc_info], caplog.text


def tip(source: Path, rev: str = "master") -> bytes:
    return rev_parse(source, rev).encode()


def packets(data: bytes) -> list[bytes | Marker]:
    reader = PktReader(data)
    out = []
    while not reader.at_end:
        out.append(reader.read_line())
    return out


def post(client: FlaskClient, body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post(UPLOAD_PACK, data=body, headers={"Content-Type": REQUEST, **(headers or {})})


def negotiation_lines(data: bytes) -> list[bytes | Marker]:
    """The pkt-lines before the first side-band packet."""
    lines = []
    for packet in packets(data):
        if isinstance(packet, bytes) and packet[:1] in (b"\1", b"\2"):
            break
        lines.append(packet)
    return lines


# ---------------------------------------------------------------------------- advertisement and routes
def test_v0_advertisement(client: FlaskClient, source: Path) -> None:
    response = client.get("/wiki.git/info/refs?service=git-upload-pack")
    assert response.status_code == 200
    assert response.content_type == ADVERTISEMENT
    assert response.headers["Cache-Control"] == "no-cache, max-age=0, must-revalidate"
    assert response.headers["Pragma"] == "no-cache" and "1980" in response.headers["Expires"]
    lines = packets(response.data)
    assert lines[:2] == [b"# service=git-upload-pack", Marker.FLUSH]
    head, capabilities = lines[2].split(b"\0")
    assert head == tip(source) + b" HEAD"
    for capability in (b"multi_ack_detailed", b"no-done", b"side-band-64k", b"thin-pack", b"ofs-delta",
                       b"shallow", b"deepen-since", b"deepen-relative", b"no-progress", b"include-tag",
                       b"symref=HEAD:refs/heads/master", b"object-format=sha1"):
        assert capability in capabilities.split()
    assert b"agent=gitaccess/" in capabilities
    assert lines[3:] == [tip(source) + b" refs/heads/master", tip(source, "v1") + b" refs/tags/v1",
                         tip(source, "v1^{}") + b" refs/tags/v1^{}", Marker.FLUSH]


def test_v2_advertisement_and_ls_refs(client: FlaskClient, source: Path) -> None:
    response = client.get("/wiki/info/refs?service=git-upload-pack", headers=V2)
    lines = packets(response.data)
    assert lines[0] == b"version 2" and b"fetch=shallow" in lines and b"ls-refs=unborn" in lines
    body = (text_line("command=ls-refs") + text_line("object-format=sha1") + DELIM_PKT + text_line("peel")
            + text_line("symrefs") + text_line("ref-prefix HEAD") + text_line("ref-prefix refs/tags/") + FLUSH_PKT)
    response = post(client, body, V2)
    assert response.content_type == RESULT
    assert packets(response.data) == [
        tip(source) + b" HEAD symref-target:refs/heads/master",
        tip(source, "v1") + b" refs/tags/v1 peeled:" + tip(source, "v1^{}"),
        Marker.FLUSH,
    ]


def test_v2_advertisement_does_not_bring_the_history_up_to_date(source: Path) -> None:
    """Only the requests that read refs or objects ask for the repository (which journals new
    wiki edits first): the v2 capability list would only do it twice per fetch."""
    repository = GitDirRepository(source)
    asked: list[str] = []

    def get_repository() -> GitDirRepository:
        asked.append(request.path)
        return repository

    app = Flask("gitaccess_protocol_tests")
    app.register_blueprint(git_blueprint(get_repository, anonymous_gate()))
    client = app.test_client()
    try:
        assert packets(client.get("/wiki/info/refs?service=git-upload-pack", headers=V2).data)[0] == b"version 2"
        assert asked == []
        ls_refs = text_line("command=ls-refs") + text_line("object-format=sha1") + DELIM_PKT + FLUSH_PKT
        assert tip(source) + b" refs/heads/master" in packets(post(client, ls_refs, V2).data)
        assert asked == [UPLOAD_PACK]
        assert b"refs/heads/master" in client.get("/wiki/info/refs?service=git-upload-pack").data  # v0: refs
        assert asked == [UPLOAD_PACK, "/wiki/info/refs"]
    finally:
        repository.close()


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/wiki.git/info/refs", 403, "smart HTTP only"),
    ("/wiki.git/info/refs?service=git-receive-pack", 403, "not offered"),
    ("/wiki.git/info/refs?service=git-frobnicate", 403, "not offered"),
    ("/wiki.git/objects/info/packs", 404, "smart HTTP only"),
    ("/wiki.git/HEAD", 404, "smart HTTP only"),
    ("/wiki/objects/12/3456", 404, "smart HTTP only"),
    ("/other.git/info/refs?service=git-upload-pack", 404, ""),
])
def test_only_smart_http_for_the_configured_name(client: FlaskClient, path: str, status: int, message: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_request_content_type_is_checked(client: FlaskClient) -> None:
    response = client.post(UPLOAD_PACK, data=FLUSH_PKT, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and REQUEST in response.get_data(as_text=True)


# ---------------------------------------------------------------------------- negotiation
def test_v0_multi_ack_detailed_with_no_done(client: FlaskClient, source: Path) -> None:
    wants = text_line(b"want " + tip(source) + CAPS) + FLUSH_PKT
    unknown = b"1" * 40
    response = post(client, wants + text_line(b"have " + unknown) + FLUSH_PKT)
    assert packets(response.data) == [b"NAK"]  # nothing in common yet: the round ends
    common = tip(source, "master~5")
    response = post(client, wants + text_line(b"have " + common) + FLUSH_PKT)
    assert negotiation_lines(response.data) == [
        b"ACK " + common + b" common", b"ACK " + common + b" ready", b"NAK", b"ACK " + common]
    assert b"PACK" in response.data and response.data.endswith(FLUSH_PKT)


def test_v0_clone_request_and_probe(client: FlaskClient, source: Path) -> None:
    assert post(client, FLUSH_PKT).data == b""  # git's probe before a chunked request
    response = post(client, text_line(b"want " + tip(source) + CAPS) + FLUSH_PKT + text_line("done"))
    assert negotiation_lines(response.data) == [b"NAK"]
    assert b"PACK" in response.data


def test_v0_deepen_answers_shallow_lines_first(client: FlaskClient, source: Path) -> None:
    body = text_line(b"want " + tip(source) + CAPS) + text_line("deepen 2") + FLUSH_PKT
    assert packets(post(client, body).data) == [b"shallow " + tip(source, "master~1"), Marker.FLUSH]


def test_v2_acknowledgments(client: FlaskClient, source: Path) -> None:
    head = text_line("command=fetch") + DELIM_PKT + text_line(b"want " + tip(source)) + text_line("ofs-delta")
    response = post(client, head + text_line(b"have " + b"2" * 40) + FLUSH_PKT, V2)
    assert packets(response.data) == [b"acknowledgments", b"NAK", Marker.FLUSH]
    common = tip(source, "master~3")
    response = post(client, head + text_line(b"have " + common) + FLUSH_PKT, V2)
    assert negotiation_lines(response.data) == [
        b"acknowledgments", b"ACK " + common, b"ready", Marker.DELIM, b"packfile"]


def test_gzip_request_body(client: FlaskClient, source: Path) -> None:
    body = gzip.compress(text_line(b"want " + tip(source) + CAPS) + FLUSH_PKT + text_line("done"))
    response = post(client, body, {"Content-Encoding": "gzip"})
    assert response.status_code == 200 and b"PACK" in response.data


# ---------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(("body", "message"), [
    (b"zzzz", "bad pkt-line length b'zzzz'"),
    (b"fff5" + b"x" * 100, "exceeds the maximum of 65520"),
    (b"0100want", "truncated pkt-line"),
    (text_line(b"want " + b"x" * 40) + FLUSH_PKT, "expected a 40-digit object name"),
    (text_line(b"want " + b"a" * 40) + FLUSH_PKT + text_line("done"), "not our ref " + "a" * 40),
    (text_line(b"have " + b"a" * 40) + FLUSH_PKT, "expected want, shallow or deepen"),
    (text_line(b"want " + b"a" * 40), "no flush-pkt"),
])
def test_malformed_v0_requests_get_an_err_line(client: FlaskClient, source: Path, body: bytes, message: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    body = body.replace(b"a" * 40, tip(source)) if b"not our" not in message.encode() else body
    with caplog.at_level(logging.WARNING):
        response = post(client, body)
    assert response.status_code == 200 and response.content_type == RESULT
    [line] = packets(response.data)
    assert isinstance(line, bytes) and line.startswith(b"ERR ") and message.encode() in line, line
    assert message in caplog.text


@pytest.mark.parametrize(("argument", "message"), [
    ("filter blob:none", "filter is not supported"),
    ("deepen-not refs/heads/master", "deepen-not is not supported"),
    ("frobnicate", "unexpected fetch argument"),
])
def test_malformed_v2_requests_get_an_err_line(client: FlaskClient, source: Path, argument: str, message: str) -> None:
    body = (text_line("command=fetch") + DELIM_PKT + text_line(b"want " + tip(source)) + text_line(argument)
            + FLUSH_PKT)
    [line] = packets(post(client, body, V2).data)
    assert isinstance(line, bytes) and message.encode() in line
    [line] = packets(post(client, text_line("command=frobnicate") + FLUSH_PKT, V2).data)
    assert isinstance(line, bytes) and b"unknown command" in line


def test_bad_gzip_bodies(client: FlaskClient) -> None:
    response = post(client, b"not gzip at all", {"Content-Encoding": "gzip"})
    assert response.status_code == 400 and "not valid gzip" in response.get_data(as_text=True)
    bomb = gzip.compress(b"0" * (33 * 1024 * 1024), compresslevel=9)
    response = post(client, bomb, {"Content-Encoding": "gzip"})
    assert response.status_code == 413 and "limit" in response.get_data(as_text=True)
    response = post(client, FLUSH_PKT, {"Content-Encoding": "br"})
    assert response.status_code == 415


def test_lying_and_huge_content_lengths(app: Flask) -> None:
    """Bodies shorter than announced, and absurd announcements, are refused with a reason."""
    with dev_server(app) as server:
        headers = {"Content-Type": REQUEST, "Content-Length": "1000"}
        short = raw_request(server.base, "POST", UPLOAD_PACK, headers, b"0032want " + b"a" * 41)
        assert short.status == 400 and b"ended after 50 of 1000 bytes" in short.body
        headers["Content-Length"] = str(100 * 1024 * 1024)
        huge = raw_request(server.base, "POST", UPLOAD_PACK, headers, b"0000")
        assert huge.status == 413 and b"larger than the limit" in huge.body


def test_missing_object_aborts_the_pack_with_a_message(tmp_path: Path, source: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A repository that lost an object fails the fetch with a side-band error, not a broken pack."""
    broken = tmp_path / "broken.git"
    run_git("init", "-q", "--bare", "-b", "master", str(broken))
    for pack in (source / "objects" / "pack").glob("*.pack"):
        run_git("unpack-objects", "-q", cwd=broken, input=pack.read_bytes())
    run_git("update-ref", "refs/heads/master", tip(source).decode(), cwd=broken)
    blob = run_git("rev-parse", "master:Media/Logo.png", cwd=broken).stdout.strip()
    (broken / "objects" / blob[:2] / blob[2:]).unlink()
    repository = GitDirRepository(broken)
    client = make_app(repository, anonymous_gate()).test_client()
    with caplog.at_level(logging.WARNING):
        response = post(client, text_line(b"want " + tip(source) + CAPS) + FLUSH_PKT + text_line("done"))
    repository.close()
    assert b"\3error: object " + blob.encode() + b" is missing" in response.data
    assert "cannot finish the pack" in caplog.text


def test_pack_without_side_band_or_ofs_delta(client: FlaskClient, source: Path, tmp_path: Path) -> None:
    """Old clients: the raw pack follows the NAK, and deltas name their base by SHA-1."""
    response = post(client, text_line(b"want " + tip(source) + b" multi_ack_detailed") + FLUSH_PKT + text_line("done"))
    reader = PktReader(response.data)
    assert reader.read_line() == b"NAK"
    pack = response.data[len(text_line("NAK")):]
    assert pack.startswith(b"PACK")
    (tmp_path / "received.pack").write_bytes(pack)
    run_git("init", "-q", "--bare", str(tmp_path / "check.git"))
    run_git("index-pack", "--strict", str(tmp_path / "received.pack"), cwd=tmp_path / "check.git")
    types = pack_types_of(tmp_path / "received.pack")
    assert types[REF_DELTA] > 0 and types[OFS_DELTA] == 0
