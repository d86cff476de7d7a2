"""Acceptance: a push is refused exactly where a REAL MediaWiki 1.39 refuses the same change to the same user.

Each case is asked twice, of two titles of one kind: MediaWiki's Action
API (action=edit with a content model, action=upload) as a user, and
gitaccess through the real git client as the same user. The verdicts must
agree. The cases are those of an attack run: a .js/.css/.json title pushed
as wikitext by a sysop without editsitejs or by a user on another user's
page, or moved to by a sysop, and uploads with a banned extension inside the name, HTML or script
in an image, content of another type than the name's, script in an SVG.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from gitaccess.app import create_app
from gitaccess.site import Site
from tests.interop.test_mediawiki_clone import credentials, png, run_cli
from tests.mediawiki import ApiError, MediaWikiPeer, running_peer, site_on
from tests.protocol_helpers import GitClient, Served, dev_server

pytestmark = pytest.mark.mediawiki

#: Users made with createAndPromote.php: a sysop (no editsitejs, no edituserjs) and a plain user.
SYSOP = ("Sysop", "SysopPass-1234")
PLAIN = ("Plain", "PlainPass-1234")
#: The peer's $wgFileExtensions (mw-peer.sh adds txt, svg and pdf to MediaWiki's default).
PEER_EXTENSIONS = ("png", "gif", "jpg", "jpeg", "webp", "txt", "svg", "pdf")
PNG = png(3, 3, (10, 20, 30))

#: (user, the title MediaWiki is asked to make wikitext, the path gitaccess is pushed); "{}" takes
#: "Api-" for the one and "Git-" for the other, so the two never meet.
EDITS = [
    (SYSOP, "MediaWiki:{}common.js", "MediaWiki/{}common.js.wiki"),
    (SYSOP, "MediaWiki:{}vector.css", "MediaWiki/{}vector.css.wiki"),
    (SYSOP, "MediaWiki:{}settings.json", "MediaWiki/{}settings.json.wiki"),
    (PLAIN, "User:Sysop/{}common.js", "User/Sysop/{}common.js.wiki"),
    (PLAIN, "User:Sysop/{}common.css", "User/Sysop/{}common.css.wiki"),
    (PLAIN, "User:Plain/{}common.js", "User/Plain/{}common.js.wiki"),
    (PLAIN, "User:Sysop/{}notes", "User/Sysop/{}notes.wiki"),
]

#: (user, the page moved, its new title, its new path), "{}" as above; moves never leave a redirect.
MOVES = [
    (SYSOP, "{}mover one", "MediaWiki:{}mover-one.js", "MediaWiki/{}mover-one.js.wiki"),
    (SYSOP, "{}mover two", "MediaWiki:{}mover-two.json", "MediaWiki/{}mover-two.json.wiki"),
    (SYSOP, "{}mover three", "User:Plain/{}mover-three.js", "User/Plain/{}mover-three.js.wiki"),
    (SYSOP, "{}mover four", "{}Mover four.js", "(Main)/{}Mover_four.js.wiki"),
]

#: (file name, bytes); uploaded as "Api-<name>" through the API and pushed as "Git-<name>".
UPLOADS = [
    ("Evil.php.png", PNG),
    ("Fine.png", PNG),
    ("Php.png", PNG),
    ("Page.png", b"<html><script>alert(1)</script></html>"),
    ("Inside.png", PNG + b"<SCRIPT>alert(1)</SCRIPT>"),
    ("Late.png", PNG + b"\0" * 2000 + b"<script>"),
    ("Moving.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
    ("Words.png", b"just some words\n"),
    ("Words.txt", b"just some words\n"),
    ("Page.txt", b"<html><body>hi</body></html>"),
    ("Onload.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'),
    ("Drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><rect width="1" height="1"/></svg>'),
]


@pytest.fixture(scope="module")
def peer() -> Iterator[MediaWikiPeer]:
    with running_peer("sqlite") as started:
        started.maint("createAndPromote.php", "--sysop", *SYSOP)
        started.maint("createAndPromote.php", *PLAIN)
        yield started


@pytest.fixture(scope="module")
def site(peer: MediaWikiPeer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    upgraded = run_cli(peer, tmp_path_factory.mktemp("cli"), "db", "upgrade")  # gitaccess's own tables
    assert upgraded.returncode == 0, upgraded.stderr
    with site_on(peer, tmp_path_factory.mktemp("gitaccess-data"), gitaccess_groups=("user",),
                 upload_extensions=PEER_EXTENSIONS) as the_site:
        yield the_site


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Served]:
    with dev_server(create_app(site.config)) as served:
        yield served


@pytest.fixture(scope="module")
def pusher(server: Served, tmp_path_factory: pytest.TempPathFactory) -> Callable[[tuple[str, str], dict[str, bytes]], str]:
    """push(user, files): commit ``files`` (None: removed) onto the served head and push them as
    ``user``; the refusal's reason, or "" when the push went through."""
    git = GitClient(tmp_path_factory.mktemp("home"), protocol=2)
    git("config", "--global", "user.name", "Somebody")
    git("config", "--global", "user.email", "somebody@example.org")
    clone = tmp_path_factory.mktemp("clones") / "work"
    git("clone", "-q", server.url, str(clone), config=credentials(*SYSOP))

    def push(user: tuple[str, str], files: dict[str, bytes | None]) -> str:
        login = credentials(*user)
        git("fetch", "-q", "origin", cwd=clone, config=login)
        git("reset", "-q", "--hard", "origin/master", cwd=clone)
        for path, data in files.items():
            if data is None:
                (clone / path).unlink()
                continue
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            (clone / path).write_bytes(data)
        git("add", "-A", cwd=clone)
        git("commit", "-q", "-m", "a change to compare", cwd=clone)
        result = git("push", "origin", "master", cwd=clone, config=login, check=False)
        if result.returncode == 0:
            return ""
        assert "[remote rejected]" in result.stderr, result.stderr
        return result.stderr
    return push


def mediawiki_refuses(call: Callable[[], object]) -> str:
    """The API's refusal (code and message), or "" when MediaWiki did it."""
    try:
        call()
    except ApiError as exc:
        return f"{exc.code}: {exc.info}"
    return ""


def test_css_js_json_titles_pushed_as_wikitext(peer: MediaWikiPeer, pusher: Callable[..., str]) -> None:
    verdicts = []
    for user, title, path in EDITS:
        api = peer.api(login=user)
        wiki = mediawiki_refuses(lambda: api.edit(title.format("Api-"), "wikitext", contentmodel="wikitext"))
        pushed = pusher(user, {path.format("Git-"): b"wikitext\n"})
        if pushed:
            assert path.format("Git-") in pushed and "you lack the right" in pushed, pushed
        verdicts.append((user[0], title, bool(wiki), bool(pushed), wiki, pushed))
    disagreements = [v for v in verdicts if v[2] != v[3]]
    assert not disagreements, disagreements
    assert [v[2] for v in verdicts] == [True, True, False, True, True, False, False]


def test_moves_to_css_js_json_titles(peer: MediaWikiPeer, pusher: Callable[..., str]) -> None:
    admin = peer.api(login=peer.admin)
    verdicts = []
    for user, page, target, path in MOVES:
        for prefix in ("Api-", "Git-"):
            admin.edit(page.format(prefix), "a page to move", createonly=True)
        api = peer.api(login=user)
        wiki = mediawiki_refuses(lambda: api.move(page.format("Api-"), target.format("Api-"), noredirect=True))
        old_path = f"(Main)/{page.format('Git-').replace(' ', '_')}.wiki"
        pushed = pusher(user, {old_path: None, path.format("Git-"): b"a page to move"})
        verdicts.append((user[0], target, bool(wiki), bool(pushed), wiki, pushed))
    disagreements = [v for v in verdicts if v[2] != v[3]]
    assert not disagreements, disagreements
    assert [v[2] for v in verdicts] == [True, False, True, False]


def test_uploads(peer: MediaWikiPeer, pusher: Callable[..., str]) -> None:
    api = peer.api(login=peer.admin)
    verdicts = []
    for name, data in UPLOADS:
        wiki = mediawiki_refuses(lambda: api.upload(f"Api-{name}", data))
        pushed = pusher(peer.admin, {f"Media/Git-{name}": data, f"File/Git-{name}.wiki": b"an upload\n"})
        if pushed:
            assert f"Media/Git-{name}" in pushed, pushed
        verdicts.append((name, bool(wiki), bool(pushed), wiki, pushed))
    disagreements = [v for v in verdicts if v[1] != v[2]]
    assert not disagreements, disagreements
    assert [name for name, refused, *_ in verdicts if not refused] == [
        "Fine.png", "Php.png", "Late.png", "Words.txt", "Drawing.svg"]
