"""Property-based tests of every parser that sees network or user input: pkt-lines,
fetch negotiation, receive-pack requests and packs, trees, commits, Aliases.xml and dumps.

Whatever arrives, the answer is a clear error of the parser's own kind (or an
HTTP answer with a git error line), never a traceback, and nothing is changed.
The default run tries a few hundred inputs per parser; a longer, coverage-guided
run is ``pip install hypofuzz==25.11.1 && hypothesis fuzz -- tests/test_fuzz.py``
(HypoFuzz drives these same tests), or more examples with
``GITACCESS_FUZZ=long pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.errors import ObjectFormatException
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitaccess.auth.accounts import Account
from gitaccess.config import DEFAULT_EXCLUDED, Config
from gitaccess.dumps.importer import import_dump
from gitaccess.dumps.reader import DumpError, read_dump
from gitaccess.errors import DumpImportError
from gitaccess.objects.entries import parse
from gitaccess.objects.fsck import commit_problem, gitmodules_problem
from gitaccess.protocol.gitdir import GitDirRepository
from gitaccess.protocol.http import git_blueprint
from gitaccess.protocol.pktline import FLUSH_PKT, PktReader, ProtocolError, pkt_line
from gitaccess.protocol.receive_pack import PushResult, PushSettings
from gitaccess.site import Site
from gitaccess.titles.codec import TitleCodec
from gitaccess.titles.namespaces import TALK, Namespaces
from gitaccess.tree.aliases import AliasesError, AliasRegistry
from gitaccess.tree.layout import Layout, included_namespaces
from tests.dumps.test_importer import counts
from tests.protocol_helpers import REPO_NAME, gate_for, make_history, rev_parse

settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile("long" if os.environ.get("GITACCESS_FUZZ") == "long" else "default")

HEX = st.text("0123456789abcdef", min_size=40, max_size=40).map(str.encode)
WORDS = st.sampled_from([b"want", b"have", b"done", b"shallow", b"deepen", b"deepen-since", b"deepen-not",
                         b"filter", b"command=fetch", b"command=ls-refs", b"object-format=sha1", b"agent=x",
                         b"thin-pack", b"ofs-delta", b"no-progress", b"include-tag", b"ref-prefix",
                         b"symrefs", b"peel", b"0" * 40, b"refs/heads/master"])


@st.composite
def pkt_bodies(draw: st.DrawFn) -> bytes:
    """Request bodies that are mostly well-framed pkt-lines of plausible words, with
    mistakes: raw bytes, wrong lengths, special packets in odd places."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 9))
        if kind < 6:
            words = draw(st.lists(st.one_of(WORDS, HEX, st.binary(max_size=12)), min_size=1, max_size=4))
            parts.append(pkt_line(b" ".join(words) + draw(st.sampled_from([b"\n", b"", b"\0caps\n"]))))
        elif kind < 8:
            parts.append(draw(st.sampled_from([FLUSH_PKT, b"0001", b"0002", b"0003", b"0004", b"fff0", b"zzzz"])))
        else:
            parts.append(draw(st.binary(max_size=40)))
    return b"".join(parts)


# ---------------------------------------------------------------------------- the wire
@given(st.one_of(pkt_bodies(), st.binary(max_size=200)))
def test_pkt_line_reader_raises_only_protocol_errors(data: bytes) -> None:
    reader = PktReader(data)
    try:
        while not reader.at_end:
            reader.read_line()
    except ProtocolError:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_history(tmp_path_factory.mktemp("fuzz") / "source.git", 8)


class NeverApplies:
    """A push decider that must never be reached by a malformed push."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object) -> PushResult:
        self.calls += 1
        commands = args[1]
        return PushResult.refuse_all(commands, "not applied in this test")  # type: ignore[arg-type]


def _anyone(login: str, password: str, address: str) -> Account:
    return Account(1, login, frozenset({"sysop"}), None, False, True, True)


@pytest.fixture(scope="module")
def quarantine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quarantine")


@pytest.fixture(scope="module")
def decider() -> NeverApplies:
    return NeverApplies()


@pytest.fixture(scope="module")
def app(served: Path, quarantine: Path, decider: NeverApplies) -> Iterator[Flask]:
    repository = GitDirRepository(served)
    settings = PushSettings(quarantine, 1 << 20, 1000, 1 << 20, False)
    flask_app = Flask("gitaccess_fuzz")
    gate = gate_for(Config(repository=REPO_NAME, anonymous_read=True), _anyone, quarantine.parent / "attempts")
    flask_app.register_blueprint(git_blueprint(lambda: repository, gate, decider, settings))
    yield flask_app
    repository.close()


AUTH = {"Authorization": "Basic " + base64.b64encode(b"Fuzzer:secret").decode()}


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    tracebacks = [r for r in caplog.records if r.exc_info]
    caplog.clear()
    assert not tracebacks, tracebacks[0].getMessage()


@given(body=st.one_of(pkt_bodies(), st.binary(max_size=300)), v2=st.booleans())
def test_upload_pack_answers_any_request_without_a_traceback(app: Flask, caplog: pytest.LogCaptureFixture,
                                                             body: bytes, v2: bool) -> None:
    caplog.set_level(logging.WARNING)
    headers = {"Content-Type": "application/x-git-upload-pack-request"}
    if v2:
        headers["Git-Protocol"] = "version=2"
    answer = app.test_client().post(f"/{REPO_NAME}.git/git-upload-pack", data=body, headers=headers)
    assert answer.status_code in (200, 400, 411, 413, 415), answer.status_code
    _no_tracebacks(caplog)


@st.composite
def push_bodies(draw: st.DrawFn, tip: bytes) -> bytes:
    """A ref update (plausible or not) followed by a pack that is garbage, cut short, or
    a real header over random entries."""
    old = draw(st.sampled_from([tip, b"0" * 40, draw(HEX)]))
    new = draw(HEX)
    ref = draw(st.sampled_from([b"refs/heads/master", b"refs/tags/x", b"HEAD", b"refs/heads/../x"]))
    caps = draw(st.sampled_from([b"\0report-status side-band-64k", b"\0report-status", b""]))
    commands = pkt_line(old + b" " + new + b" " + ref + caps + b"\n") + FLUSH_PKT
    pack = draw(st.one_of(
        st.binary(max_size=200),
        st.builds(lambda n, rest: b"PACK\0\0\0\2" + n.to_bytes(4, "big") + rest,
                  st.integers(0, 5), st.binary(max_size=200)),
    ))
    return draw(st.sampled_from([commands + pack, draw(pkt_bodies()) + pack, commands]))


@given(data=st.data())
def test_receive_pack_refuses_any_malformed_push_and_changes_nothing(
        app: Flask, served: Path, quarantine: Path, decider: NeverApplies, caplog: pytest.LogCaptureFixture,
        data: st.DataObject) -> None:
    caplog.set_level(logging.WARNING)
    tip = rev_parse(served, "master").encode()
    body = data.draw(push_bodies(tip))
    answer = app.test_client().post(f"/{REPO_NAME}.git/git-receive-pack", data=body,
                                    headers={**AUTH, "Content-Type": "application/x-git-receive-pack-request"})
    assert answer.status_code in (200, 400, 411, 413, 415), answer.status_code
    assert rev_parse(served, "master").encode() == tip
    assert decider.calls == 0  # no malformed pack reaches the wiki's side
    assert list(quarantine.iterdir()) == []  # and nothing of it is kept
    _no_tracebacks(caplog)


# ---------------------------------------------------------------------------- objects
@given(st.binary(max_size=300))
def test_tree_parser_raises_only_value_errors(data: bytes) -> None:
    try:
        parse(data)
    except (ValueError, ObjectFormatException):
        pass


@given(st.one_of(st.binary(max_size=300), st.builds(
    lambda tree, lines: b"tree " + tree + b"\n" + b"\n".join(lines) + b"\n\nmessage\n",
    HEX, st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")), max_size=5))))
def test_commit_checks_never_raise(data: bytes) -> None:
    assert commit_problem(data) is None or isinstance(commit_problem(data), str)


@given(st.binary(max_size=300))
def test_gitmodules_checks_never_raise(data: bytes) -> None:
    assert gitmodules_problem(data) is None or isinstance(gitmodules_problem(data), str)


# ---------------------------------------------------------------------------- Aliases.xml
LAYOUT = Layout(TitleCodec(Namespaces.standard()), included_namespaces(Namespaces.standard(), (TALK,), DEFAULT_EXCLUDED))
ALIASES = (b'<?xml version="1.0" encoding="UTF-8"?>\n<aliases>\n'
           b'  <alias path="(Main)/Who_x.wiki" title="Who*"/>\n'
           b'  <alias path="Talk/CON_.wiki" title="Talk:CON"/>\n</aliases>\n')


def mutations(document: bytes) -> st.SearchStrategy[bytes]:
    """The document with a slice replaced by random bytes (or by a piece of itself)."""
    return st.builds(
        lambda start, length, insert: document[:start] + insert + document[start + length:],
        st.integers(0, len(document)), st.integers(0, 40),
        st.one_of(st.binary(max_size=20), st.sampled_from([b"<", b">", b'"', b"&amp;", b"&bogus;", b"<!DOCTYPE x>",
                                                           b"<alias/>", b"]]>", b"\0", b"\xff"])))


@given(st.one_of(mutations(ALIASES), st.binary(max_size=200)))
def test_aliases_xml_raises_only_aliases_errors(data: bytes) -> None:
    try:
        AliasRegistry.from_xml(data, LAYOUT)
    except AliasesError:
        pass


# ---------------------------------------------------------------------------- dumps
DUMP = (b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">\n'
        b"<siteinfo><sitename>T</sitename><case>first-letter</case><namespaces>"
        b'<namespace key="0" case="first-letter" /><namespace key="6" case="first-letter">File</namespace>'
        b"</namespaces></siteinfo>\n"
        b"<page><title>Main Page</title><ns>0</ns><id>1</id><revision><id>1</id>"
        b"<timestamp>2020-01-01T00:00:00Z</timestamp><contributor><username>A</username><id>1</id></contributor>"
        b'<model>wikitext</model><format>text/x-wiki</format><text xml:space="preserve">Hello</text>'
        b"<sha1>abc</sha1></revision></page>\n</mediawiki>\n")


@given(st.one_of(mutations(DUMP), st.binary(max_size=200)))
def test_dump_reader_raises_only_dump_errors(data: bytes) -> None:
    try:
        list(read_dump(io.BytesIO(data)))
    except DumpError:
        pass


@settings(max_examples=40)
@given(data=st.one_of(mutations(DUMP), st.binary(max_size=200)))
def test_a_dump_that_cannot_be_imported_changes_nothing(wiki: Site, data: bytes) -> None:
    """On each database: the importer's one error, and the wiki as it was."""
    before = counts(wiki)
    try:
        import_dump(wiki, io.BytesIO(data))
    except DumpImportError:
        assert counts(wiki) == before
