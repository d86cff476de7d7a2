"""Bad input gives a clear error and leaves the wiki as it was.

A malformed or truncated dump, an unknown namespace, an invalid title, a
wrong configuration, an unusable database URL, a wrong password: each is
tried where a user meets it, through the real command line (a subprocess:
exit status 1, one ``error: ...`` line on standard error, never a traceback),
and through the library, with every table of the wiki (all rows) and the
upload directory's files compared before and after.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, insert, inspect, literal_column, select, table
from sqlalchemy import update

from gitaccess.auth import accounts
from gitaccess.auth.accounts import Authenticator, InvalidUserName
from gitaccess.config import Config, ExtraNamespace, load_config
from gitaccess.errors import AuthError, ConfigError, DumpImportError, UserExists
from gitaccess.dumps.importer import import_dump
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.titles.codec import InvalidTitle
from gitaccess.wiki import standalone
from gitaccess.wiki.content import sha1_base36
from gitaccess.wiki.writer import WikiWriter
from tests.conftest import SHARED

DUMPS = SHARED / "fixtures" / "dumps"
DEMO = DUMPS / "mw1.39-docs-export-demo.xml"
#: What the import command prints on standard error besides the error (click's progress bar).
PROGRESS = re.compile(r"^importing\b")


# ---------------------------------------------------------------------- dumps
def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PICTURE = png(4, 3)
HEADER = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">\n'
SITEINFO_PORTAL = ('<siteinfo><sitename>Other</sitename><case>first-letter</case><namespaces>'
                   '<namespace key="0" case="first-letter" />'
                   '<namespace key="100" case="first-letter">Portal</namespace></namespaces></siteinfo>\n')


def revision(rev_id: int, text: str) -> str:
    return (f"<revision><id>{rev_id}</id><timestamp>2020-01-0{rev_id % 9 + 1}T00:00:00Z</timestamp>"
            "<contributor><username>Alice</username><id>7</id></contributor><model>wikitext</model>"
            f'<format>text/x-wiki</format><text xml:space="preserve">{text}</text></revision>')


def page(title: str, ns: int, rev_id: int, text: str = "Some text.") -> str:
    return f"<page><title>{title}</title><ns>{ns}</ns>{revision(rev_id, text)}</page>\n"


def file_page(sha1: str | None = None) -> str:
    """A File page with its file's contents: importing it writes to the upload directory."""
    return ("<page><title>File:Bad input.png</title><ns>6</ns>" + revision(1, "A picture.")
            + "<upload><timestamp>2020-01-02T00:00:00Z</timestamp>"
            "<contributor><username>Alice</username><id>7</id></contributor><comment>up</comment>"
            f"<filename>Bad_input.png</filename><size>{len(PICTURE)}</size>"
            f"<sha1base36>{sha1 or sha1_base36(PICTURE)}</sha1base36>"
            f'<contents encoding="base64">{base64.b64encode(PICTURE).decode()}</contents></upload></page>\n')


def dump(*parts: str) -> bytes:
    return (HEADER + "".join(parts) + "</mediawiki>\n").encode()


#: A good dump: a page, a file; importing it writes rows and a file.
GOOD = dump(page("Good page", 0, 2), file_page())
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE mediawiki [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11"><page><title>Laughs</title>
<ns>0</ns><revision><timestamp>2020-01-01T00:00:00Z</timestamp><text>&lol9;</text></revision></page></mediawiki>
"""


def _garbage() -> bytes:
    data = random.Random(20240101).randbytes(8192)
    return b"\x00" + data  # never a gzip, bzip2 or XML start


def _cut(data: bytes, marker: bytes) -> bytes:
    return data[: data.index(marker)]


def _gzip_truncated() -> bytes:
    packed = gzip.compress(GOOD)
    return packed[: len(packed) * 2 // 3]


def _bzip2_truncated() -> bytes:
    packed = bz2.compress(GOOD)
    return packed[: len(packed) * 2 // 3]


#: id -> (dump bytes, what the one error line must say). Each fails after the File page
#: was written where it can, so the upload directory must be put back too.
BAD_DUMPS: dict[str, tuple[Callable[[], bytes], tuple[str, ...]]] = {
    "truncated-xml": (lambda: _cut(dump(file_page(), page("Second page", 0, 3)), b"<revision><id>3"),
                      ("the dump cannot be read", "the dump is truncated", "nothing was imported")),
    "truncated-gz": (_gzip_truncated, ("the dump is truncated: its gzip stream ends early", "nothing was imported")),
    "truncated-bz2": (_bzip2_truncated, ("the dump is truncated: its bzip2 stream ends early", "nothing was imported")),
    "garbage": (_garbage, ("the dump cannot be read", "malformed", "nothing was imported")),
    "billion-laughs": (lambda: BILLION_LAUGHS, ("DOCTYPE declarations are refused", "nothing was imported")),
    "not-mediawiki": (lambda: b"<html><body>Not a dump</body></html>", ("not a MediaWiki export", "<html>")),
    "invalid-title": (lambda: dump(file_page(), page("Bad [title]", 0, 3)),
                      ("'Bad [title]'", "'[' is not allowed", "Nothing was imported")),
    "unknown-namespace-id": (lambda: dump(file_page(), page("Foo", 3000, 3)),
                             ("'Foo'", "namespace 3000", "does not define")),
    "namespace-id-disagrees-with-prefix": (lambda: dump(file_page(), page("Portal:Foo", 3000, 3)),
                                           ("'Portal:Foo'", "<ns>3000</ns>")),
    "corrupt-file-contents": (lambda: dump(page("Good page", 0, 2), file_page(sha1="0" * 31)),
                              ("'File:Bad input.png'", "does not match its <sha1base36>", "corrupt")),
    "bad-timestamp": (lambda: dump(file_page(), page("Late", 0, 3).replace("2020-01-04", "2020-13-04")),
                      ("<timestamp>", "2020-13-04")),
}


# ---------------------------------------------------------------------- the wiki's state
State = tuple[dict[str, tuple[int, str]], dict[str, str]]


def table_rows(site: Site) -> dict[str, tuple[int, str]]:
    """{table: (row count, digest of all its rows)} for every table in the wiki's database."""
    db = site.db
    schema = db.pg_schema if db.dialect == "postgresql" else None
    names = inspect(db.engine).get_table_names(schema=schema)
    assert "page" in names and "revision" in names, names
    state: dict[str, tuple[int, str]] = {}
    with db.engine.connect() as conn:
        for name in names:
            rows = conn.execute(select(literal_column("*")).select_from(table(name, schema=schema))).all()
            digest = hashlib.sha256(repr(sorted(repr(tuple(r)) for r in rows)).encode()).hexdigest()
            state[name] = (len(rows), digest)
    return state


def upload_files(root: Path) -> dict[str, str]:
    """{relative path: sha-256} of every file in the upload directory."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def state(site: Site) -> State:
    return table_rows(site), upload_files(site.config.upload_directory)


#: Rows a refused request may still write: the gate notes the addresses an account logged in
#: from (a push is refused after its login succeeded), which is no change of the wiki.
LOGIN_BOOKKEEPING = frozenset({"git_throttle"})


def assert_unchanged(before: State, after: State) -> None:
    tables = {name for name in before[0] | after[0]
              if before[0].get(name) != after[0].get(name) and name not in LOGIN_BOOKKEEPING}
    assert not tables, {name: (before[0].get(name), after[0].get(name)) for name in sorted(tables)}
    assert after[1] == before[1], "the upload directory changed"


# ---------------------------------------------------------------------- the command line
def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "gitaccess", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def assert_clear_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit status 1 and exactly one ``error: ...`` line on standard error (besides the progress bar)."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not PROGRESS.match(line)]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database made by ``gitaccess init``, copied for each test (faster than running init each time)."""
    directory = tmp_path_factory.mktemp("template")
    made = cli(directory, "--db", f"sqlite:///{directory / 'wiki.sqlite'}", "init")
    assert made.returncode == 0, made.stderr
    return directory / "wiki.sqlite"


def cli_wiki(template: Path, directory: Path, extra: str = "") -> tuple[Path, Site]:
    """A standalone wiki made with ``gitaccess init``, configured by ``directory/gitaccess.toml``."""
    directory.mkdir(parents=True, exist_ok=True)
    source, target = sqlite3.connect(template), sqlite3.connect(directory / "wiki.sqlite")
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    config = directory / "gitaccess.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{directory / "wiki.sqlite"}"\n'
                      f'[wiki]\nupload_directory = "images"\n{extra}', "utf-8")
    return config, Site(load_config(config, environ={}))


@pytest.fixture(scope="module")
def shared_wiki(template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Site]:
    """A wiki for the commands that must not change it (each test checks that they did not)."""
    return cli_wiki(template, tmp_path_factory.mktemp("shared") / "wiki")


@pytest.mark.parametrize("case", list(BAD_DUMPS))
def test_cli_bad_dump(template: Path, tmp_path: Path, case: str) -> None:
    data, fragments = BAD_DUMPS[case]
    config, site = cli_wiki(template, tmp_path / "wiki")
    path = tmp_path / ("dump.xml.gz" if case.endswith("gz") else "dump.xml.bz2" if case.endswith("bz2")
                       else "dump.xml")
    path.write_bytes(data())
    before = state(site)
    assert_clear_error(cli(tmp_path, "--config", str(config), "import-dump", str(path)), *fragments)
    assert_unchanged(before, state(site))
    # The same wiki then takes a good dump: nothing of the failed one is in the way.
    path.write_bytes(GOOD)
    good = cli(tmp_path, "--config", str(config), "import-dump", str(path))
    assert good.returncode == 0, good.stderr
    assert "imported 2 pages, 2 revisions, 1 files" in good.stdout


def test_cli_namespaces_disagree_with_the_configuration(template: Path, tmp_path: Path) -> None:
    """The wiki's configuration names namespace 100 "Gateway", the dump "Portal"."""
    config, site = cli_wiki(template, tmp_path / "wiki", '[namespaces]\nextra = [{id = 100, name = "Gateway"}]\n')
    path = tmp_path / "dump.xml"
    path.write_bytes(dump(SITEINFO_PORTAL, file_page(), page("Portal:Foo", 100, 3)))
    before = state(site)
    assert_clear_error(cli(tmp_path, "--config", str(config), "import-dump", str(path)),
                       "namespaces differ", "100 is 'Portal' in the dump but 'Gateway' here", "[namespaces] extra")
    assert_unchanged(before, state(site))


def test_cli_import_into_a_wiki_with_revisions(template: Path, tmp_path: Path) -> None:
    config, site = cli_wiki(template, tmp_path / "wiki")
    first = cli(tmp_path, "--config", str(config), "import-dump", str(DUMPS / "mwxml-dump.xml"))
    assert first.returncode == 0, first.stderr
    site = Site(load_config(config, environ={}))
    before = state(site)
    assert_clear_error(cli(tmp_path, "--config", str(config), "import-dump", str(DEMO)),
                       "already has revisions", "gitaccess init")
    assert_unchanged(before, state(site))


def test_cli_missing_dump_file(shared_wiki: tuple[Path, Site], tmp_path: Path) -> None:
    config, site = shared_wiki
    before = state(site)
    proc = cli(tmp_path, "--config", str(config), "import-dump", str(tmp_path / "nowhere.xml"))
    assert proc.returncode == 2 and "nowhere.xml" in proc.stderr and "Traceback" not in proc.stderr  # click usage
    assert_unchanged(before, state(site))


@pytest.mark.parametrize("name, fragment", [
    ("a[b", "'[' is not allowed"),
    ("Foo@bar", "'Foo@bar' is not a valid user name"),
    ("Foo:bar", "'Foo:bar' is not a valid user name"),
    ("Foo#bar", "'#'"),
    ("Foo/bar", "'Foo/bar' is not a valid user name"),
    ("", "is not a valid user name"),
    ("Talk:Foo", "is not a valid user name"),
])
def test_cli_user_add_invalid_name(shared_wiki: tuple[Path, Site], tmp_path: Path, name: str,
                                   fragment: str) -> None:
    config, site = shared_wiki
    before = state(site)
    assert_clear_error(cli(tmp_path, "--config", str(config), "user", "add", name, "--password", "pw-12345678"),
                       "error: ", fragment)
    assert_unchanged(before, state(site))


def test_cli_user_add_duplicate(template: Path, tmp_path: Path) -> None:
    config, site = cli_wiki(template, tmp_path / "wiki")
    made = cli(tmp_path, "--config", str(config), "user", "add", "alice_smith", "--password", "pw-12345678",
               "--group", "sysop")
    assert made.returncode == 0 and "created user Alice smith" in made.stdout, made.stderr
    before = state(site)
    # Another spelling of the same name, as MediaWiki normalises it.
    assert_clear_error(cli(tmp_path, "--config", str(config), "user", "add", "Alice smith", "--password", "x",
                           "--group", "bureaucrat"), "user 'Alice smith' already exists")
    assert_unchanged(before, state(site))


@pytest.mark.parametrize("text, key", [
    ("a[b", "title-invalid-characters"),
    ("", "title-invalid-empty"),
    ("Talk:", "title-invalid-empty"),
    ("../x", "title-invalid-relative"),
    ("Foo~~~", "title-invalid-magic-tilde"),
    ("x" * 300, "title-invalid-too-long"),
    ("Talk:Talk:x", "title-invalid-talk-namespace"),
])
def test_cli_title_invalid_json(shared_wiki: tuple[Path, Site], tmp_path: Path, text: str, key: str) -> None:
    config, site = shared_wiki
    before = state(site)
    proc = cli(tmp_path, "--config", str(config), "title", text, "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout) == {"error": key}
    assert proc.stdout.count("\n") == 1
    assert_unchanged(before, state(site))
    with pytest.raises(InvalidTitle) as failure:
        site.titles.parse(text)
    assert failure.value.key == key


def test_cli_title_invalid_plain(shared_wiki: tuple[Path, Site], tmp_path: Path) -> None:
    config, _ = shared_wiki
    proc = cli(tmp_path, "--config", str(config), "title", "a[b")
    assert_clear_error(proc, "'[' is not allowed")
    assert proc.stdout == ""


# ---------------------------------------------------------------------- configuration and database URLs
BAD_CONFIGS = {
    "syntax": ('[wiki\nsite_name = "x"\n', ("not valid TOML", "line 1")),
    "unknown-key": ('[wiki]\nsite_nam = "x"\n', ("unknown key 'site_nam' in [wiki]",)),
    "unknown-section": ('[wikki]\nsite_name = "x"\n', ("unknown section [wikki]",)),
    "wrong-type-bool": ('[wiki]\ncapital_links = "yes"\n', ("'capital_links'", "true or false")),
    "wrong-type-int": ('[wiki]\nmax_page_size = "big"\n', ("'max_page_size'", "integer")),
    "wrong-type-str": ("[wiki]\nsite_name = 3\n", ("'site_name'", "string")),
    "wrong-type-list": ('[namespaces]\nexcluded = ["talk"]\n', ("'excluded_namespaces'",)),
    "namespace-without-name": ("[namespaces]\nextra = [{id = 100}]\n", ("'extra_namespaces'", "name")),
    "namespace-unknown-field": ('[namespaces]\nextra = [{id = 100, name = "X", colour = 1}]\n',
                                ("'extra_namespaces'", "colour")),
    "not-utf8": (b"[wiki]\nsite_name = \"\xff\"\n", ("not valid TOML",)),
    "no-threads": ("[server]\nthreads = 0\n", ("'threads'", "above zero")),
    "head-timeout-text": ('[server]\nhead_timeout = "10s"\n', ("'head_timeout'", "number of seconds")),
    "no-haves": ("[git]\nmax_fetch_haves = -1\n", ("'max_fetch_haves'", "above zero")),
    "proxy-not-an-address": ('[access]\ntrusted_proxies = ["proxy.local"]\n', ("'trusted_proxies'", "proxy.local")),
    "proxies-not-a-list": ('[access]\ntrusted_proxies = "127.0.0.1"\n', ("'trusted_proxies'", "a list")),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configuration_file(tmp_path: Path, case: str) -> None:
    content, fragments = BAD_CONFIGS[case]
    bad = tmp_path / "bad.toml"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    database = tmp_path / "wiki.sqlite"
    assert_clear_error(cli(tmp_path, "--db", f"sqlite:///{database}", "--config", str(bad), "init"), *fragments)
    assert not database.exists(), "nothing was created with a broken configuration"
    # The same file found as ./gitaccess.toml (GITACCESS_CONFIG: test_missing_configuration_file).
    (tmp_path / "gitaccess.toml").write_bytes(bad.read_bytes())
    assert_clear_error(cli(tmp_path, "user", "add", "Bob", "--password", "pw-12345678"), *fragments)
    with pytest.raises(ConfigError) as failure:
        load_config(bad, environ={})
    assert all(fragment in str(failure.value) for fragment in fragments)


def test_missing_configuration_file(tmp_path: Path) -> None:
    assert_clear_error(cli(tmp_path, "--config", str(tmp_path / "nope.toml"), "init"), "nope.toml", "does not exist")
    assert_clear_error(cli(tmp_path, "init", env={"GITACCESS_CONFIG": str(tmp_path / "nope.toml")}), "does not exist")
    assert not (tmp_path / "gitaccess-data").exists()


@pytest.mark.parametrize("url, fragments", [
    ("mysql+mysqldb://wiki:pw@127.0.0.1/wiki", ("no driver for mysql", "MySQLdb")),
    ("postgresql+psycopg2://wiki:pw@127.0.0.1/wiki", ("no driver for postgresql", "psycopg2")),
    ("mssql+pyodbc://wiki:pw@127.0.0.1/wiki", ("no driver for mssql",)),
    ("nonsense", ("database URL 'nonsense' is not a URL",)),
    ("mysql+pymysql://root@127.0.0.1:1/wiki", ("Can't connect", "127.0.0.1")),
    ("postgresql://postgres@127.0.0.1:1/wiki", ("127.0.0.1", "port 1 failed")),
    ("sqlite:////nonexistent-directory/wiki.sqlite", ("unable to open database file",)),
])
def test_unusable_database_url(tmp_path: Path, url: str, fragments: tuple[str, ...]) -> None:
    for args in (("import-dump", str(DEMO)), ("user", "add", "Bob", "--password", "pw-12345678")):
        assert_clear_error(cli(tmp_path, "--db", url, *args), *fragments)


def test_unusable_database_url_in_the_library() -> None:
    with pytest.raises(ConfigError, match="no driver for mysql"):
        Site(Config(database_url="mysql+mysqldb://wiki:pw@127.0.0.1/wiki")).db  # noqa: B018
    with pytest.raises(ConfigError, match="is not a URL"):
        Site(Config(database_url="nonsense")).db  # noqa: B018


# ---------------------------------------------------------------------- the library, on every database
@pytest.mark.parametrize("case", list(BAD_DUMPS))
def test_library_bad_dump(wiki: Site, case: str) -> None:
    data, fragments = BAD_DUMPS[case]
    before = state(wiki)
    with pytest.raises(DumpImportError) as failure:
        import_dump(wiki, BytesIO(data()))
    message = str(failure.value)
    assert all(fragment in message for fragment in fragments), message
    assert "\n" not in message
    assert_unchanged(before, state(wiki))


def test_library_namespaces_disagree_with_the_configuration(empty_url: str, make_site) -> None:  # type: ignore[no-untyped-def]
    site = make_site(empty_url, extra_namespaces=(ExtraNamespace(100, "Gateway"),))
    standalone.create(site.db)
    before = state(site)
    with pytest.raises(DumpImportError, match="100 is 'Portal' in the dump but 'Gateway' here"):
        import_dump(site, BytesIO(dump(SITEINFO_PORTAL, file_page(), page("Portal:Foo", 100, 3))))
    assert_unchanged(before, state(site))


def test_library_import_into_a_wiki_with_revisions(wiki: Site) -> None:
    import_dump(wiki, BytesIO(GOOD))
    before = state(wiki)
    with pytest.raises(DumpImportError, match="already has revisions"):
        import_dump(wiki, DEMO)
    assert_unchanged(before, state(wiki))


def test_library_user_names(wiki: Site) -> None:
    for name in ("a[b", "Foo@bar", "Foo:bar", "Foo#bar", "Foo/bar", "", "Talk:Foo"):
        with pytest.raises(InvalidUserName):
            accounts.canonical_user_name(wiki.titles, name)
    assert accounts.canonical_user_name(wiki.titles, "alice_smith") == "Alice smith"
    with wiki.db.write() as conn:
        WikiWriter(wiki.db, conn).create_user("Alice smith", hash_password("pw-12345678"), ("sysop",))
    before = state(wiki)
    with pytest.raises(UserExists, match="'Alice smith' already exists"):
        with wiki.db.write() as conn:
            WikiWriter(wiki.db, conn).create_user("Alice smith", hash_password("other"), ("bureaucrat",))
    assert_unchanged(before, state(wiki))


# ---------------------------------------------------------------------- authentication
PASSWORD = "Main-Password-123"
BOT_PASSWORD = "abcdefghijklmnopqrstuvwxyz012345"


def make_accounts(site: Site) -> int:
    """Alice (sysop) with a main password and a BotPassword usable from 10.0.0.0/8 only."""
    with site.db.write() as conn:
        user_id = WikiWriter(site.db, conn).create_user("Alice", hash_password(PASSWORD), ("sysop",))
        conn.execute(insert(site.db.tables.bot_passwords).values(
            bp_user=user_id, bp_app_id="git", bp_password=hash_password(BOT_PASSWORD), bp_token="0" * 32,
            bp_restrictions=json.dumps({"IPAddresses": ["10.0.0.0/8", "127.0.0.1"]}),
            bp_grants=json.dumps(["basic", "editpage", "createeditmovepage"])))
    return user_id


def refused(site: Site, login: str, password: str, address: str = "127.0.0.1") -> str:
    before = state(site)
    with pytest.raises(AuthError) as failure:
        Authenticator(site).authenticate(login, password, address)
    assert_unchanged(before, state(site))
    return str(failure.value)


def test_authentication_failures(wiki: Site) -> None:
    make_accounts(wiki)
    auth = Authenticator(wiki)
    assert auth.authenticate("alice", PASSWORD, "192.0.2.1").name == "Alice"  # the control
    assert auth.authenticate("Alice@git", BOT_PASSWORD, "10.1.2.3").grants is not None
    messages = {
        refused(wiki, "Alice", PASSWORD + "x"),  # wrong password
        refused(wiki, "Alice", ""),
        refused(wiki, "Nobody", PASSWORD),  # unknown user
        refused(wiki, "a[b", PASSWORD),  # not even a user name
        refused(wiki, "Alice@git", BOT_PASSWORD, "192.0.2.1"),  # BotPassword from a disallowed address
        refused(wiki, "Alice@git", BOT_PASSWORD, "not-an-address"),
        refused(wiki, "Alice@git", PASSWORD, "10.1.2.3"),  # the main password is not the BotPassword
        refused(wiki, "Alice@other", BOT_PASSWORD, "10.1.2.3"),  # no such BotPassword
        refused(wiki, "Alice", BOT_PASSWORD),
    }
    # One vague message: a client cannot tell which part was wrong.
    assert messages == {"wrong user name or password"}


@pytest.mark.parametrize("stored", [":crypt:$6$salt$hash", "plain-text-password", ":A:"])
def test_unsupported_password_hash_is_refused_and_logged(
    wiki: Site, caplog: pytest.LogCaptureFixture, stored: str
) -> None:
    user_id = make_accounts(wiki)
    with wiki.db.write() as conn:
        u = wiki.db.tables.user
        conn.execute(update(u).where(u.c.user_id == user_id).values(user_password=stored))
    caplog.set_level(logging.WARNING, logger="gitaccess.auth.accounts")
    message = refused(wiki, "Alice", PASSWORD)
    assert message == "wrong user name or password"
    if stored == ":A:":  # a known type, malformed: a failed login like MediaWiki's, nothing to log
        return
    warnings = [r for r in caplog.records if r.name == "gitaccess.auth.accounts" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.records
    logged = warnings[0].getMessage()
    assert "Alice" in logged and PASSWORD not in logged and stored not in logged
    assert ("'crypt'" in logged) if stored.startswith(":crypt:") else ("does not start with ':type:'" in logged)


@pytest.mark.parametrize("table_name, column", [("oathauth_devices", "oad_user"), ("oathauth_users", "id")],
                         ids=["oathauth-1.41", "oathauth-1.39"])
def test_two_factor_account_needs_a_bot_password(wiki: Site, table_name: str, column: str) -> None:
    user_id = make_accounts(wiki)
    oath = Table(wiki.db.prefix + table_name, MetaData(), Column("row_id", Integer, primary_key=True),
                 Column(column, Integer, nullable=False), Column("oad_data", Text))
    with wiki.db.engine.begin() as conn:
        oath.create(conn)
        conn.execute(insert(oath).values({column: user_id, "oad_data": "{}"}))
    wiki.db.forget_schema()
    message = refused(wiki, "Alice", PASSWORD)  # the right main password: OATHAuth would ask for a code
    assert message == "wrong user name or password"
    account = Authenticator(wiki).authenticate("Alice@git", BOT_PASSWORD, "127.0.0.1")
    assert account.name == "Alice" and account.can_push and account.grants is not None
    with wiki.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(oath)).scalar_one() == 1
