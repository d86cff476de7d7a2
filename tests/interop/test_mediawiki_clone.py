"""Acceptance: clone and fetch a wiki written through a REAL MediaWiki 1.43 or 1.39 (shared/peers/mediawiki/mw-peer.sh).

The peer is written only through MediaWiki's Action API (BotPassword login,
a second account made with action=createaccount, an anonymous IP edit):
pages in many namespaces, subpages, titles Windows and macOS cannot take as
file names, case-conflicting titles, a CSS and a JS page, a talk page, edits
with summaries (a minor one, an empty one), a protection, a content-model
change, a file uploaded in three versions, a deletion, a deletion undone
and two moves (with and without a redirect). gitaccess is then pointed at
the peer's database and upload directory, and the real git client clones it
over smart HTTP (protocol v2, v0 once, --depth 1), authenticating as the
wiki's admin through a credential helper.

What the clone must show is derived from MediaWiki's API (every page with
its text and model, every revision and log entry, every file version's
bytes at its URL); the expected paths come from gitaccess's layout rules
and published aliases, cross-checked against literal paths, Aliases.xml and
the real ``gitaccess title`` command.

The module runs on the MediaWiki of each version (1.43, 1.39) on each backend
(SQLite, MariaDB, PostgreSQL), shared with the other interop modules
(tests/interop/conftest.py); where it cannot run the tests skip
(GITACCESS_REQUIRE_ALL=1: fail).
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import unicodedata
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from lxml import etree

from gitaccess.app import create_app
from gitaccess.config import Config
from gitaccess.titles.namespaces import MEDIA
from gitaccess.site import Site
from gitaccess.titles.codec import Title
from gitaccess.tree.gittree import GitTree
from tests.mediawiki import ApiError, MediaWikiApi, MediaWikiPeer, site_on
from tests.protocol_helpers import GitClient, Served, dev_server

pytestmark = pytest.mark.mediawiki

SERVER_NAME = "wiki.example.org"
PROTECT = ["-c", "core.protectNTFS=true", "-c", "core.protectHFS=true"]

SECOND_USER, SECOND_PASSWORD = "Second Editor", "Second-Editor-Pass-9876"

#: Pages made with action=edit: title -> text (MediaWiki trims trailing whitespace; the API is the judge).
PAGES = {
    "Project:About": "About this wiki. Grüße, 漢字.",
    "User:Admin": "The admin's user page.",
    "User:Admin/Sandbox": "A sandbox subpage.",
    "User:Admin/Sandbox/Deeper": "A subpage of a subpage.",
    "User:Admin/common.js": "mw.log( 'hello' );",
    "Template:Infobox": "{| class=\"infobox\"\n| {{{1}}}\n|}",
    "Template:Infobox/doc": "How to use the infobox.",
    "Help:Contents": "Help for everyone.",
    "Help:Editing/Advanced": "Advanced editing help.",
    "Category:Things": "Things in this wiki.",
    "MediaWiki:Common.css": "body { color: #333; }\n\n/* site css */",
    # Titles that trip Windows or macOS (each legal in MediaWiki; "<", ">", "|", "[", "{" are not).
    "Who?": "a question mark",
    "A:B": "a colon after a prefix that is no namespace",
    "Con": "a Windows device name",
    "Aux.txt": "a device name with an extension",
    "Trailing.": "a trailing dot",
    'Say "hi"': "double quotes",
    "Star*": "an asterisk",
    "Back\\slash": "a backslash",
    "AC/DC": "a slash in a namespace without subpages",
    # Case conflicts: MediaWiki capitalises only the first letter.
    "Foo bar": "the first of three",
    "Talk:Foo bar": "talk pages are left out of the repository",
    "Data page": "this page becomes plain text",
    "Gone page": "to be deleted",
    "Restored page": "deleted, then restored",
    "Old name": "a page that moves, leaving a redirect",
    "Lonely page": "a page that moves without a redirect",
    "Later page": "moved by the fetch test",
}
#: Titles that must have an alias (every other page is at its natural path).
ALIASED = ("Who?", "A:B", "Con", "Aux.txt", 'Say "hi"', "Star*", "Back\\slash", "AC/DC",
           "Foo Bar", "FOO BAR")
#: Paths the layout rules fix, checked literally.
LITERAL = {
    "Main Page": "(Main)/Main_Page.wiki",
    "Project:About": "Project/About.wiki",
    "User:Admin": "User/Admin.wiki",
    "User:Admin/Sandbox": "User/Admin/Sandbox.wiki",
    "User:Admin/Sandbox/Deeper": "User/Admin/Sandbox/Deeper.wiki",
    "User:Admin/common.js": "User/Admin/common.js",
    "Template:Infobox": "Template/Infobox.wiki",
    "Template:Infobox/doc": "Template/Infobox/doc.wiki",
    "Help:Contents": "Help/Contents.wiki",
    "Help:Editing/Advanced": "Help/Editing/Advanced.wiki",
    "Category:Things": "Category/Things.wiki",
    "MediaWiki:Common.css": "MediaWiki/Common.css",
    "Foo bar": "(Main)/Foo_bar.wiki",
    "Trailing.": "(Main)/Trailing..wiki",  # the dot is not trailing in the file name: no alias needed
    "Data page": "(Main)/Data_page.txt",
    "Restored page": "(Main)/Restored_page.wiki",
    "Old name": "(Main)/Old_name.wiki",
    "New name": "(Main)/New_name.wiki",
    "Help:Lonely page": "Help/Lonely_page.wiki",
    "File:Logo.png": "File/Logo.png.wiki",
}
TREE_ACTIONS = {("delete", "delete"), ("delete", "restore"), ("move", "move"), ("move", "move_redir"),
                ("upload", "upload"), ("upload", "overwrite"), ("upload", "revert")}


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (MediaWiki checks what it is given)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


LOGO_VERSIONS = [png(4, 3, (200, 30, 30)), png(5, 4, (30, 200, 30)), png(6, 5, (30, 30, 200))]


# ---------------------------------------------------------------------- what was written
@dataclass
class Written:
    """Ids of the notable revisions and log entries the population made."""

    rev: dict[str, int] = field(default_factory=dict)
    log: dict[str, int] = field(default_factory=dict)


def populate(peer: MediaWikiPeer, api: MediaWikiApi) -> Written:
    """Write the wiki through MediaWiki's Action API only."""
    out = Written()
    for refused in ("Less<than", "Pipe|x", "Brace{x}", "Square[x]"):
        with pytest.raises(ApiError) as invalid:
            api.edit(refused, "MediaWiki refuses this title", createonly=True)
        assert invalid.value.code == "invalidtitle", refused
    for title, text in PAGES.items():
        api.edit(title, text, summary=f"create {title}", createonly=True)
    # A second account (action=createaccount) and an anonymous editor write the case conflicts.
    anonymous = MediaWikiApi(peer.api_url)
    created = anonymous.post(action="createaccount", username=SECOND_USER, password=SECOND_PASSWORD,
                             retype=SECOND_PASSWORD, createreturnurl=peer.env["MW_SERVER"],
                             createtoken=anonymous.token("createaccount"))["createaccount"]
    assert created["status"] == "PASS", created
    second = MediaWikiApi(peer.api_url)
    second.login(SECOND_USER, SECOND_PASSWORD)
    out.rev["Foo Bar"] = second.edit("Foo Bar", "the second of three", summary="by the second editor",
                                     createonly=True)["newrevid"]
    out.rev["FOO BAR"] = anonymous.post(action="edit", title="FOO BAR", text="the third of three",
                                        summary="by an IP", createonly=True,
                                        token=anonymous.token())["edit"]["newrevid"]
    # Edits with summaries: a normal one, a minor one, one without summary.
    out.rev["main edit"] = api.edit("Main Page", "Welcome to the test wiki.", summary="rewrite the main page",
                                    nocreate=True)["newrevid"]
    out.rev["minor"] = api.edit("Main Page", "Welcome to the test wiki!", summary="typo", minor=True,
                                nocreate=True)["newrevid"]
    out.rev["no summary"] = api.edit("User:Admin/Sandbox", "A sandbox subpage, edited.", nocreate=True)["newrevid"]
    api.edit("Gone page", "to be deleted, second text", summary="second text", nocreate=True)
    # A protection (a null revision: no commit) and a content-model change (a revision: one commit).
    api.post(action="protect", title="Help:Contents", protections="edit=sysop", reason="protect help",
             token=api.csrf)
    changed = api.post(action="changecontentmodel", title="Data page", model="text", summary="make it text",
                       token=api.csrf)["changecontentmodel"]
    out.rev["contentmodel"], out.log["contentmodel"] = changed["revid"], changed["logid"]
    # A file in three versions.
    for number, data in enumerate(LOGO_VERSIONS, 1):
        uploaded = api.upload("Logo.png", data, comment=f"logo version {number}",
                              text="The logo of the wiki." if number == 1 else None)
        assert uploaded["filename"] == "Logo.png", uploaded
        # MediaWiki answers Success even when its File page edit failed; say so here, not later.
        assert len(api.revisions("File:Logo.png", rvprop="ids")) == number, f"upload {number}: {uploaded}"
    # A deletion, a deletion undone, a move leaving a redirect and one leaving none.
    out.log["delete"] = api.delete("Gone page", reason="not needed")["logid"]
    api.delete("Restored page", reason="deleted by mistake")
    api.undelete("Restored page", reason="restore it")
    api.move("Old name", "New name", "a better name")
    api.move("Lonely page", "Help:Lonely page", "belongs in help", noredirect=True)
    return out


# ---------------------------------------------------------------------- MediaWiki's view
@dataclass
class WikiPage:
    title: Title
    text_title: str  # as MediaWiki writes it
    model: str
    content: str


@dataclass
class WikiView:
    """What MediaWiki's API says the wiki holds, read once after the population."""

    pages: dict[str, WikiPage]  # by MediaWiki's title text
    excluded: list[str]  # titles of existing pages in namespaces outside the repository
    files: dict[str, bytes]  # current version of each file, by name (dbkey)
    file_versions: dict[str, list[dict[str, Any]]]  # imageinfo, newest first
    revisions: dict[int, dict[str, Any]]  # every revision, live or deleted, by id
    logs: list[dict[str, Any]]  # every log entry


def namespace_prefixes(api: MediaWikiApi) -> dict[int, str]:
    spaces = api.siteinfo("namespaces")["namespaces"]
    return {int(k): v["name"] for k, v in spaces.items()}


def to_title(prefixes: dict[int, str], ns: int, text: str) -> Title:
    """MediaWiki's (namespace, title text) as gitaccess's Title, by MediaWiki's own prefix."""
    prefix = prefixes[ns]
    key = text[len(prefix) + 1:] if prefix else text
    assert not prefix or text.startswith(prefix + ":"), (ns, text)
    return Title(ns, key.replace(" ", "_"))


def read_wiki(api: MediaWikiApi, site: Site) -> WikiView:
    prefixes = namespace_prefixes(api)
    included = sorted(ns for ns in prefixes if ns >= 0 and site.layout.is_included(ns))
    excluded = sorted(ns for ns in prefixes if ns >= 0 and not site.layout.is_included(ns))
    pages: dict[str, WikiPage] = {}
    for ns in included:
        for entry in api.query_all("pages", generator="allpages", gapnamespace=ns, gaplimit="max",
                                   prop="revisions", rvprop="content|contentmodel", rvslots="main"):
            main = entry["revisions"][0]["slots"]["main"]
            pages[entry["title"]] = WikiPage(to_title(prefixes, entry["ns"], entry["title"]), entry["title"],
                                             main["contentmodel"], main["content"])
    others = [p["title"] for ns in excluded for p in api.query_all("allpages", list="allpages", apnamespace=ns,
                                                                    aplimit="max")]
    files: dict[str, bytes] = {}
    versions: dict[str, list[dict[str, Any]]] = {}
    for image in api.query_all("allimages", list="allimages", ailimit="max", aiprop="url|sha1"):
        name = image["name"]
        files[name] = api.fetch(image["url"])
        versions[name] = api.image_info("File:" + name, iiprop="url|sha1|timestamp|comment|user")
    revisions: dict[int, dict[str, Any]] = {}
    for page in api.query_all("allrevisions", list="allrevisions", arvlimit="max",
                              arvprop="ids|timestamp|user|comment|flags|sha1|contentmodel"):
        for rev in page["revisions"]:
            revisions[rev["revid"]] = {**rev, "ns": page["ns"], "title": page["title"], "deleted": False}
    for page in api.query_all("alldeletedrevisions", list="alldeletedrevisions", adrlimit="max",
                              adrprop="ids|timestamp|user|comment|flags|sha1|contentmodel"):
        for rev in page["revisions"]:
            revisions[rev["revid"]] = {**rev, "ns": page["ns"], "title": page["title"], "deleted": True}
    logs = api.log_events()
    return WikiView(pages, others, files, versions, revisions, logs)


# ---------------------------------------------------------------------- git's view
@dataclass
class CommitInfo:
    sha: str
    author: str
    email: str
    author_time: int
    committer: str
    committer_email: str
    commit_time: int
    parents: list[str]
    subject: str
    body: str
    trailers: list[tuple[str, str]]

    def values(self, key: str) -> list[str]:
        return [v for k, v in self.trailers if k == key]


def log_of(git: GitClient, repo: Path, revs: str = "HEAD") -> list[CommitInfo]:
    """Every commit reachable from ``revs``, oldest first."""
    fmt = "%H%x1f%an%x1f%ae%x1f%at%x1f%cn%x1f%ce%x1f%ct%x1f%P%x1f%B%x1e"
    out = git("log", "--reverse", f"--format={fmt}", revs, cwd=repo).stdout
    commits = []
    for record in out.split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, an, ae, at, cn, ce, ct, parents, message = record.split("\x1f")
        subject, _, rest = message.partition("\n\n")
        trailers = [tuple(line.split(": ", 1)) for line in rest.strip("\n").splitlines() if ": " in line]
        commits.append(CommitInfo(sha, an, ae, int(at), cn, ce, int(ct), parents.split(), subject, rest,
                                  trailers))  # type: ignore[arg-type]
    return commits


def checkout_files(repo: Path) -> set[str]:
    """The working tree's files (the .git directory left out)."""
    return {str(p.relative_to(repo)) for p in repo.rglob("*")
            if p.is_file() and p.relative_to(repo).parts[0] != ".git"}


_WINDOWS_FORBIDDEN = re.compile(r'[\\:*?"<>|\x00-\x1f]')
_DEVICE = re.compile(r"(?i)(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)")


def unportable(component: str) -> str | None:
    """Why a path component is no portable file name (independent of gitaccess's own rules)."""
    if _WINDOWS_FORBIDDEN.search(component):
        return "a character Windows forbids"
    if component.endswith((".", " ")):
        return "a trailing dot or space"
    if _DEVICE.fullmatch(component.split(".", 1)[0].rstrip(" ")):
        return "a Windows device name"
    if component.casefold().rstrip(". ") in (".git", "git~1"):
        return ".git"
    if not unicodedata.is_normalized("NFC", component):
        return "not NFC"
    if len(component.encode("utf-8")) > 255:
        return "longer than 255 bytes"
    return None


def epoch_of(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def credentials(user: str, password: str) -> list[str]:
    helper = f"!f() {{ echo username={user}; echo password={password}; }}; f"
    return [f"credential.helper={helper}"]


def run_cli(peer: MediaWikiPeer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``gitaccess`` command, pointed at the peer's database."""
    script = Path(sys.executable).parent / "gitaccess"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gitaccess"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITACCESS_")}
    return subprocess.run([*command, "--db", peer.sqlalchemy_url, *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def cli_config(config: Config, path: Path, data_directory: Path) -> Path:
    """A configuration file for ``gitaccess --config`` naming the wiki as ``config`` does (the
    commits the command rebuilds depend on it), with a data directory of its own."""
    path.write_text("\n".join([
        "[wiki]", f"site_name = {json.dumps(config.site_name)}", f"server_name = {json.dumps(config.server_name)}",
        f"server = {json.dumps(config.server)}", f"meta_namespace = {json.dumps(config.meta_namespace)}",
        f"upload_directory = {json.dumps(str(config.upload_directory))}",
        f"data_directory = {json.dumps(str(data_directory))}", ""]), "utf-8")
    return path


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def api(peer: MediaWikiPeer) -> MediaWikiApi:
    """The Action API, logged in with the BotPassword mw-peer.sh made for the admin."""
    return peer.api(login=peer.bot)


@pytest.fixture(scope="module")
def written(peer: MediaWikiPeer, api: MediaWikiApi) -> Written:
    return populate(peer, api)


@pytest.fixture(scope="module")
def site(peer: MediaWikiPeer, api: MediaWikiApi, written: Written,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """gitaccess on the peer's database and upload directory, after the schema update (the real CLI)."""
    upgraded = run_cli(peer, tmp_path_factory.mktemp("cli"), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    general = api.siteinfo()["general"]
    with site_on(peer, tmp_path_factory.mktemp("gitaccess-data"), server_name=SERVER_NAME,
                 site_name=general["sitename"],
                 meta_namespace=namespace_prefixes(api)[4].replace(" ", "_")) as the_site:
        yield the_site


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Served]:
    with dev_server(create_app(site.config)) as served:
        yield served


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> GitClient:
    return GitClient(tmp_path_factory.mktemp("home"), protocol=2)


@pytest.fixture(scope="module")
def admin_login(peer: MediaWikiPeer) -> list[str]:
    return credentials(*peer.admin)


@pytest.fixture(scope="module")
def view(api: MediaWikiApi, site: Site, written: Written) -> WikiView:
    return read_wiki(api, site)


@pytest.fixture(scope="module")
def clone(server: Served, git: GitClient, admin_login: list[str], view: WikiView,
          tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full clone (protocol v2), checked out with core.protectNTFS and core.protectHFS on."""
    target = tmp_path_factory.mktemp("clones") / "full"
    git(*PROTECT, "clone", server.url, str(target), config=admin_login)
    return target


@pytest.fixture(scope="module")
def history(git: GitClient, clone: Path) -> list[CommitInfo]:
    return log_of(git, clone)


def expected_paths(site: Site, view: WikiView) -> dict[str, str]:
    """MediaWiki's title -> the path gitaccess's layout rules and published aliases give it."""
    tree = GitTree(site.layout)
    aliases = site.aliases()
    paths = {}
    for text, page in view.pages.items():
        path = tree.title_to_path(page.title, page.model, aliases)
        assert path is not None, f"{text!r} has no path"
        paths[text] = path
    for name in view.files:
        path = tree.title_to_path(Title(MEDIA, name), None, aliases)
        assert path is not None, f"Media:{name} has no path"
        paths["Media:" + name] = path
    return paths


def aliases_xml(clone: Path) -> dict[str, str]:
    root = etree.fromstring((clone / "Aliases.xml").read_bytes())
    assert root.tag == "aliases"
    entries = [(a.get("path"), a.get("title")) for a in root]
    assert [p for p, _ in entries] == sorted(p for p, _ in entries), "entries are sorted by path"
    return dict(entries)


# ---------------------------------------------------------------------- the checkout
def test_checkout_has_every_page_at_its_path_with_its_text(
    site: Site, view: WikiView, clone: Path, peer: MediaWikiPeer, tmp_path: Path
) -> None:
    # The population made what it meant to: every title of PAGES but the deleted, moved and talk ones.
    for title in PAGES:
        if title in ("Gone page", "Talk:Foo bar", "Lonely page"):
            continue
        resolved = MediaWikiApi(peer.api_url).page(title)
        assert resolved["title"] in view.pages, title
    paths = expected_paths(site, view)
    for text, page in view.pages.items():
        path = clone / paths[text]
        assert path.is_file(), f"{text!r} is not at {paths[text]}"
        assert path.read_text("utf-8") == page.content, text
    for text, path in LITERAL.items():
        title = MediaWikiApi(peer.api_url).page(text)["title"]
        assert paths[title] == path, (text, paths[title])
    # What the layout rules say independently of gitaccess: natural paths unless aliased.
    aliased = {MediaWikiApi(peer.api_url).page(t)["title"] for t in ALIASED}
    for text, page in view.pages.items():
        ext = {"wikitext": ".wiki", "css": "", "javascript": "", "text": ".txt"}[page.model]
        natural = f"{site.layout.directory(page.title.namespace)}/{page.title.dbkey}{ext}"
        assert (paths[text] == natural) is (text not in aliased), (text, paths[text], natural)
    # Talk pages are not in the repository, and nothing else is there.
    assert "Talk:Foo bar" in view.excluded
    assert not (clone / "Talk").exists()
    assert "(Main)/Gone_page.wiki" not in checkout_files(clone)
    assert "(Main)/Lonely_page.wiki" not in checkout_files(clone)
    assert checkout_files(clone) == set(paths.values()) | {"Aliases.xml"}

    # The real command line agrees, both ways, for a subpage and an aliased title.
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    for text in ("User:Admin/Sandbox/Deeper", "Who?", "MediaWiki:Common.css"):
        result = run_cli(peer, cli_dir, "title", text, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["path"] == paths[MediaWikiApi(peer.api_url).page(text)["title"]]
    back = run_cli(peer, cli_dir, "title", "--path", paths["Who?"], "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout) == {"namespace": 0, "dbkey": "Who?", "path": paths["Who?"], "model": "wikitext"}


def test_every_path_is_portable_and_case_conflicts_are_settled(site: Site, view: WikiView, clone: Path,
                                                               peer: MediaWikiPeer) -> None:
    files = checkout_files(clone)
    for path in files:
        for component in path.split("/"):
            assert unportable(component) is None, f"{path}: {unportable(component)}"
    folded: dict[str, str] = {}
    for path in sorted(files):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):  # no two files or directories that differ only by case
            prefix = "/".join(parts[:depth])
            other = folded.setdefault(unicodedata.normalize("NFC", prefix).casefold(), prefix)
            assert other == prefix, f"{other} and {prefix} are one name on a case-insensitive system"
    paths = expected_paths(site, view)
    conflict = [paths["Foo bar"], paths["Foo Bar"], paths["FOO BAR"]]
    assert conflict[0] == "(Main)/Foo_bar.wiki", "the title published first keeps its natural name"
    assert len({p.casefold() for p in conflict}) == 3
    assert all(p.startswith("(Main)/") and p.endswith(".wiki") for p in conflict)


def test_aliases_xml_maps_every_alias_to_a_title_mediawiki_has(view: WikiView, clone: Path,
                                                               peer: MediaWikiPeer) -> None:
    aliases = aliases_xml(clone)
    files = checkout_files(clone)
    anonymous = MediaWikiApi(peer.api_url)
    aliased = {anonymous.page(t)["title"] for t in ALIASED}
    mapped: dict[str, str] = {}
    for path, title in aliases.items():
        if path not in files:
            continue  # an alias of a page gone since keeps its entry
        if path.startswith("Media/"):
            name = title.split(":", 1)[1].replace(" ", "_")
            assert name in view.files, (path, title)
            continue
        page = anonymous.page(title)
        assert not page.get("missing") and not page.get("invalid"), (path, title, page)
        assert page["title"] in view.pages, (path, title)
        assert (clone / path).read_text("utf-8") == view.pages[page["title"]].content
        mapped[page["title"]] = path
    assert set(mapped) == aliased, "exactly the hostile and case-conflicting titles have aliases"


def test_media_holds_each_files_current_bytes(view: WikiView, clone: Path) -> None:
    assert set(view.files) == {"Logo.png"}
    assert view.files["Logo.png"] == LOGO_VERSIONS[-1]
    assert len(view.file_versions["Logo.png"]) == 3
    for name, data in view.files.items():
        assert (clone / "Media" / name).read_bytes() == data
        assert (clone / "File" / f"{name}.wiki").is_file()


def test_fsck_strict_with_ntfs_and_hfs_protection(git: GitClient, clone: Path) -> None:
    git(*PROTECT, "fsck", "--strict", "--no-dangling", cwd=clone)
    assert git("status", "--porcelain", cwd=clone).stdout == ""
    listed = git("ls-tree", "-r", "--name-only", "-z", "HEAD", cwd=clone).stdout.split("\0")
    assert {p for p in listed if p} == checkout_files(clone)


# ---------------------------------------------------------------------- the history
def commit_key(commit: CommitInfo) -> tuple[str, int]:
    logs = commit.values("Log")
    if logs:
        assert len(logs) == 1, commit
        return ("log", int(logs[0]))
    revisions = commit.values("Revision")
    assert len(revisions) == 1, commit
    return ("rev", int(revisions[0]))


def expected_commits(site: Site, view: WikiView) -> tuple[set[tuple[str, int]], set[int]]:
    """(the commits MediaWiki's history calls for, the revisions folded into an upload's commit)."""
    revisions = view.revisions
    included = {r for r, rev in revisions.items() if site.layout.is_included(rev["ns"])}

    def is_null(rev: dict[str, Any]) -> bool:
        parent = revisions.get(rev["parentid"])
        return parent is not None and (parent["sha1"], parent["contentmodel"]) == (rev["sha1"], rev["contentmodel"])

    keys = {("rev", r) for r in included if not is_null(revisions[r])}
    folded: set[int] = set()
    for entry in view.logs:
        if (entry["type"], entry["action"]) not in TREE_ACTIONS or not site.layout.is_included(entry["ns"]):
            continue
        keys.add(("log", entry["logid"]))
        if (entry["type"], entry["action"]) == ("upload", "upload"):
            # The File page's first revision, made with the file, is part of the upload's commit
            # (its timestamp may be the next second's).
            first = [r for r, rev in revisions.items() if rev["title"] == entry["title"] and rev["parentid"] == 0]
            assert len(first) == 1, first
            folded.add(first[0])
    return keys - {("rev", r) for r in folded}, folded


def test_one_commit_per_revision_and_tree_changing_event(site: Site, view: WikiView, history: list[CommitInfo],
                                                         written: Written) -> None:
    expected, folded = expected_commits(site, view)
    keys = [commit_key(c) for c in history]
    assert len(keys) == len(set(keys)), "no revision or log entry has two commits"
    missing, extra = expected - set(keys), set(keys) - expected
    described = {f"{kind} {i}": view.revisions.get(i, {}).get("comment") if kind == "rev" else
                 next((f"{e['type']}/{e['action']} {e['title']}" for e in view.logs if e["logid"] == i), None)
                 for kind, i in missing | extra}
    assert not missing and not extra, f"missing {sorted(missing)}, unexpected {sorted(extra)}: {described}"
    assert len(keys) == len(expected)
    # The protection's null revision, the moves' null revisions and the re-uploads' make no commit of their own.
    nulls = {r for r, rev in view.revisions.items() if ("rev", r) not in expected and r not in folded}
    null_comments = sorted(view.revisions[r]["comment"] for r in nulls
                           if site.layout.is_included(view.revisions[r]["ns"]))
    assert len([c for c in null_comments if "moved page" in c]) == 2, null_comments
    assert len([c for c in null_comments if "uploaded a new version" in c]) == 2, null_comments
    assert len([c for c in null_comments if "protect" in c.lower()]) == 1, null_comments
    # Every revision id of a commit is in its trailers; an upload's commit carries the File page's first one.
    all_revisions = {int(v) for c in history for v in c.values("Revision")}
    assert folded <= all_revisions
    for commit in history:
        assert commit.values("Log") or len(commit.values("Revision")) == 1
    # One line of history, in the order things happened.
    assert all(c.parents == [p.sha] for p, c in zip(history, history[1:])) and history[0].parents == []
    assert [c.author_time for c in history] == sorted(c.author_time for c in history)
    # The content-model change is a revision's commit; its log entry adds none.
    assert ("rev", written.rev["contentmodel"]) in keys and ("log", written.log["contentmodel"]) not in keys


def test_commit_authors_dates_summaries_and_trailers(peer: MediaWikiPeer, view: WikiView,
                                                     history: list[CommitInfo], written: Written) -> None:
    server = peer.env["MW_SERVER"]
    by_key = {commit_key(c): c for c in history}
    admin = peer.admin[0]
    for commit in history:
        kind, ident = commit_key(commit)
        if kind == "rev":
            rev = view.revisions[ident]
            user, when, summary = rev["user"], rev["timestamp"], rev["comment"]
            link = f"{server}/w/index.php?diff={ident}"
        else:
            entry = next(e for e in view.logs if e["logid"] == ident)
            user, when, summary = entry["user"], entry["timestamp"], entry["comment"]
            link = f"{server}/w/index.php?title=Special:Redirect/logid/{ident}"
        assert (commit.author, commit.email) == (user, f"{user.replace(' ', '_')}@{SERVER_NAME}"), commit
        assert (commit.committer, commit.committer_email) == (commit.author, commit.email)
        assert commit.author_time == commit.commit_time == epoch_of(when), commit
        assert commit.subject == (" ".join(summary.split()) or "(no edit summary)"), commit
        assert commit.values("Link") == [link], commit
        assert commit.values("Minor") == (["yes"] if kind == "rev" and view.revisions[ident].get("minor") else [])
    # A sample, spelled out.
    minor = by_key[("rev", written.rev["minor"])]
    assert minor.subject == "typo" and minor.author == admin and minor.email == f"Admin@{SERVER_NAME}"
    assert minor.body == (f"Revision: {written.rev['minor']}\nMinor: yes\n"
                          f"Link: {server}/w/index.php?diff={written.rev['minor']}\n")
    assert by_key[("rev", written.rev["no summary"])].subject == "(no edit summary)"
    second = by_key[("rev", written.rev["Foo Bar"])]
    assert (second.author, second.email) == (SECOND_USER, f"Second_Editor@{SERVER_NAME}")
    anonymous = by_key[("rev", written.rev["FOO BAR"])]
    assert (anonymous.author, anonymous.email) == ("127.0.0.1", f"127.0.0.1@{SERVER_NAME}")
    deletion = by_key[("log", written.log["delete"])]
    assert deletion.subject == "not needed" and deletion.values("Revision") == []
    # The links lead to the wiki's diff and log entry.
    for url in (minor.values("Link")[0], deletion.values("Link")[0]):
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200, url


def test_history_has_every_revision_text_and_file_version(
    site: Site, view: WikiView, git: GitClient, clone: Path, history: list[CommitInfo], api: MediaWikiApi
) -> None:
    # Each revision of the main page is in its commit's tree.
    path = "(Main)/Main_Page.wiki"
    for rev in api.revisions("Main Page"):
        [commit] = [c for c in history if str(rev["revid"]) in c.values("Revision")]
        assert git("show", f"{commit.sha}:{path}", cwd=clone).stdout == rev["content"]
    # Each upload's commit holds that version's bytes, as MediaWiki serves them at its URL.
    uploads = sorted((e for e in view.logs if e["type"] == "upload"), key=lambda e: e["logid"])
    versions = list(reversed(view.file_versions["Logo.png"]))  # oldest first
    assert len(uploads) == len(versions) == 3
    for entry, version, data in zip(uploads, versions, LOGO_VERSIONS):
        [commit] = [c for c in history if str(entry["logid"]) in c.values("Log")]
        assert api.fetch(version["url"]) == data
        blob = subprocess.run(["git", "show", f"{commit.sha}:Media/Logo.png"], cwd=clone, capture_output=True,
                              env=git.env, check=True).stdout
        assert blob == data, entry
    first = [c for c in history if str(uploads[0]["logid"]) in c.values("Log")][0]
    assert git("show", f"{first.sha}:File/Logo.png.wiki", cwd=clone).stdout == view.pages["File:Logo.png"].content


def test_undeleted_page_is_back(site: Site, view: WikiView, git: GitClient, clone: Path,
                                history: list[CommitInfo]) -> None:
    paths = expected_paths(site, view)
    [restore] = [e for e in view.logs if (e["type"], e["action"]) == ("delete", "restore")]
    [deletion] = [e for e in view.logs if (e["type"], e["action"]) == ("delete", "delete")
                  and e["title"] == restore["title"]]
    path = paths[restore["title"]]
    assert (clone / path).read_text("utf-8") == view.pages[restore["title"]].content
    by_key = {commit_key(c): c for c in history}
    deleted, restored = by_key[("log", deletion["logid"])], by_key[("log", restore["logid"])]
    assert git("ls-tree", "--name-only", deleted.sha, path, cwd=clone).stdout == ""
    assert restored.subject == "restore it" and restored.parents
    assert git("ls-tree", "--name-only", restored.parents[0], path, cwd=clone).stdout == ""
    assert git("show", f"{restored.sha}:{path}", cwd=clone).stdout == view.pages[restore["title"]].content


def test_move_commit_comes_before_its_redirect(view: WikiView, git: GitClient, clone: Path,
                                               history: list[CommitInfo]) -> None:
    [move] = [e for e in view.logs if e["type"] == "move" and e["title"] == "Old name"]
    [redirect] = [r for r in view.revisions.values() if r["title"] == "Old name" and not r["deleted"]]
    keys = [commit_key(c) for c in history]
    at = keys.index(("log", move["logid"]))
    assert keys[at + 1] == ("rev", redirect["revid"]), "the redirect's commit follows the move's"
    moved = history[at].sha
    assert git("show", f"{moved}:(Main)/New_name.wiki", cwd=clone).stdout == view.pages["New name"].content
    assert git("ls-tree", "--name-only", moved, "(Main)/Old_name.wiki", cwd=clone).stdout == ""
    assert git("show", f"{history[at + 1].sha}:(Main)/Old_name.wiki", cwd=clone).stdout == "#REDIRECT [[New name]]"


# ---------------------------------------------------------------------- other clients
def test_protocol_v0_clone_is_the_same(server: Served, clone: Path, git: GitClient, admin_login: list[str],
                                       tmp_path: Path) -> None:
    v0 = GitClient(tmp_path / "home0", protocol=0)
    target = tmp_path / "v0"
    v0(*PROTECT, "clone", server.url, str(target), config=admin_login)
    assert v0("rev-parse", "HEAD", cwd=target).stdout == git("rev-parse", "HEAD", cwd=clone).stdout
    v0(*PROTECT, "fsck", "--strict", "--no-dangling", cwd=target)


def test_shallow_clone_has_one_commit_and_the_same_tree(server: Served, clone: Path, git: GitClient,
                                                        admin_login: list[str], tmp_path: Path) -> None:
    target = tmp_path / "shallow"
    git(*PROTECT, "clone", "--depth", "1", server.url, str(target), config=admin_login)
    assert git("rev-list", "--count", "HEAD", cwd=target).stdout.strip() == "1"
    assert git("rev-parse", "HEAD", "HEAD^{tree}", cwd=target).stdout == \
        git("rev-parse", "HEAD", "HEAD^{tree}", cwd=clone).stdout
    assert checkout_files(target) == checkout_files(clone)


def test_clone_needs_credentials(peer: MediaWikiPeer, server: Served, git: GitClient, tmp_path: Path) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.url}/info/refs?service=git-upload-pack", timeout=30)
    assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Basic ")
    anonymous = git("clone", server.url, str(tmp_path / "anonymous"), check=False)
    # git got the 401 and, with prompts disabled, cannot ask for a user name.
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr, anonymous.stderr
    wrong = git("clone", server.url, str(tmp_path / "wrong"), check=False,
                config=credentials(peer.admin[0], peer.admin[1] + "x"))
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr, wrong.stderr
    # The right password, and the admin's BotPassword (User@app), both work through git credential.
    target = tmp_path / "with-credentials"
    git("clone", server.url, str(target), config=credentials(*peer.admin))
    heads = git("ls-remote", server.url, config=credentials(*peer.bot)).stdout
    assert git("rev-parse", "HEAD", cwd=target).stdout.strip() + "\trefs/heads/master" in heads


def test_verify_and_a_fresh_cache_rebuild_the_same_history(peer: MediaWikiPeer, site: Site, server: Served,
                                                           git: GitClient, clone: Path, admin_login: list[str],
                                                           tmp_path: Path) -> None:
    c = site.config
    toml = cli_config(c, tmp_path / "gitaccess.toml", tmp_path / "cli-data")
    count = len(git("rev-list", "HEAD", cwd=clone).stdout.split())
    verified = run_cli(peer, tmp_path, "--config", str(toml), "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == f"all {count} commits of the journal rebuild identically"
    other = Config(**{**c.__dict__, "data_directory": tmp_path / "other-server"})
    with dev_server(create_app(other)) as second:
        heads = git("ls-remote", second.url, config=admin_login).stdout
    assert heads == git("ls-remote", server.url, config=admin_login).stdout
    assert heads.split()[0] == git("rev-parse", "HEAD", cwd=clone).stdout.strip()


# ---------------------------------------------------------------------- later activity (keep these last)
def test_api_edit_then_fetch_brings_exactly_one_commit(api: MediaWikiApi, git: GitClient, clone: Path,
                                                       admin_login: list[str]) -> None:
    before = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    edit = api.edit("Help:Contents", "Help for everyone, edited after the clone.", summary="after the clone",
                    nocreate=True)
    git("fetch", cwd=clone, config=admin_login)
    assert git("rev-list", "--count", f"{before}..origin/master", cwd=clone).stdout.strip() == "1"
    [commit] = log_of(git, clone, f"{before}..origin/master")
    assert commit.parents == [before] and commit.subject == "after the clone"
    assert commit.values("Revision") == [str(edit["newrevid"])]
    assert git("diff", "--name-only", before, "origin/master", cwd=clone).stdout.splitlines() == ["Help/Contents.wiki"]
    assert git("show", "origin/master:Help/Contents.wiki", cwd=clone).stdout == \
        api.revisions("Help:Contents")[-1]["content"]
    git("merge", "--ff-only", "origin/master", cwd=clone)


@pytest.fixture(scope="module")
def later() -> dict[str, Any]:
    """What the later-activity tests pass on to each other."""
    return {}


def test_api_move_then_fetch_brings_the_move_and_its_redirect(api: MediaWikiApi, git: GitClient, clone: Path,
                                                             admin_login: list[str], later: dict[str, Any]) -> None:
    """A move leaving a redirect is two commits: the move (its null revision makes none) and the redirect."""
    before = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    api.move("Later page", "Later page moved", "moved after the clone")
    git("fetch", cwd=clone, config=admin_login)
    new = log_of(git, clone, f"{before}..origin/master")
    [entry] = api.log_events(type="move", title="Later page")
    redirect = api.revisions("Later page")
    assert [r["content"] for r in redirect] == ["#REDIRECT [[Later page moved]]"]
    assert sorted(commit_key(c) for c in new) == [("log", entry["logid"]), ("rev", redirect[0]["revid"])]
    move = next(c for c in new if c.values("Log"))
    assert move.subject == "moved after the clone" and move.values("Revision") == []
    assert git("show", "origin/master:(Main)/Later_page_moved.wiki", cwd=clone).stdout == \
        api.revisions("Later page moved")[-1]["content"] == PAGES["Later page"]
    assert git("show", "origin/master:(Main)/Later_page.wiki", cwd=clone).stdout == "#REDIRECT [[Later page moved]]"
    later.update(before=before, new=new, move=entry["logid"], redirect=redirect[0]["revid"])


def test_fetched_move_comes_before_its_redirect(git: GitClient, clone: Path, later: dict[str, Any]) -> None:
    new: list[CommitInfo] = later["new"]
    assert [commit_key(c) for c in new] == [("log", later["move"]), ("rev", later["redirect"])]
    assert new[0].parents == [later["before"]]
    # The move's own commit has the page at its new name and no redirect yet.
    assert git("show", f"{new[0].sha}:(Main)/Later_page_moved.wiki", cwd=clone).stdout == PAGES["Later page"]
    assert git("ls-tree", "--name-only", new[0].sha, "(Main)/Later_page.wiki", cwd=clone).stdout == ""
