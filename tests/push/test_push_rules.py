"""Every push rule (gitaccess.push.rules and gitaccess.push.plan; MediaWiki's rights), one test each, through the real git client.

Each refused push must end with git's exit status 1 and the line
``! [remote rejected] <src> -> <dst> (<reason>)``, a reason naming the path
and the rule, and nothing changed: every table of the wiki's database (row
counts and contents), the upload directory and the served branch (a fresh
``git ls-remote``). The rules run on SQLite; one runs on every database.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import insert, select

from gitaccess.app import create_app
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.interop.test_mediawiki_clone import png
from tests.protocol_helpers import GitClient, dev_server
from tests.test_bad_input import assert_unchanged, state
from tests.push.test_receive_access import block

PASSWORD = "push-rules-password"
BOB_PASSWORD = "bob-rules-password"
BOT_PASSWORD = "abcdefghijklmnopqrstuvwxyz012345"
ADMIN = Editor("Admin", 1, frozenset({"sysop"}))
ALIASES_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<aliases>\n'


def aliases_xml(*entries: tuple[str, str]) -> str:
    lines = [f'  <alias path="{path}" title="{title}"/>' for path, title in entries]
    return ALIASES_HEAD + "\n".join(lines) + ("\n" if lines else "") + "</aliases>\n"


@dataclass
class Served:
    site: Site
    git: GitClient
    checkout: Path
    url: str
    tmp: Path

    def write(self, path: str, data: str | bytes) -> Path:
        file = self.checkout / path
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        file.write_bytes(data)
        return file

    def commit(self, message: str = "a change") -> str:
        self.git("add", "-A", cwd=self.checkout)
        self.git("commit", "-q", "-m", message, cwd=self.checkout)
        return self.git("rev-parse", "HEAD", cwd=self.checkout).stdout.strip()

    def accepted(self, config: list[str] | None = None) -> None:
        """Push, expect git to report the branch updated."""
        result = self.git("push", "origin", "master", cwd=self.checkout, check=False, config=config or [])
        assert result.returncode == 0 and "master -> master" in result.stderr, result.stderr

    def ls_remote(self) -> str:
        return self.git("ls-remote", self.url, cwd=self.checkout).stdout

    def as_user(self, login: str, password: str) -> list[str]:
        return ["credential.helper=", f"credential.helper=!f() {{ echo username={login}; echo password={password}; }}; f"]

    def refused(self, *push: str, fragments: tuple[str, ...], line: str = "master -> master",
                status: int = 1, config: list[str] | None = None) -> str:
        """Push, expect git's refusal naming every fragment, and nothing changed anywhere."""
        before, branch = state(self.site), self.ls_remote()
        result = self.git("push", "origin", *(push or ("master",)), cwd=self.checkout, check=False,
                          config=config or [])
        output = result.stderr + result.stdout
        assert result.returncode == status, output
        if status == 1:
            match = re.search(r"! \[remote rejected\] " + re.escape(line) + r" \((.*)\)$", output, re.M)
            assert match, output
            reason = match.group(1)
        else:
            reason = output
        for fragment in fragments:
            assert fragment in reason, (fragment, reason)
        assert_unchanged(before, state(self.site))
        assert self.ls_remote() == branch
        return reason


def seed(site: Site) -> None:
    with site.db.write() as conn:
        w = WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)
        admin = w.create_user("Admin", hash_password(PASSWORD), ("sysop",))
        w.create_user("Bob", hash_password(BOB_PASSWORD))
        w.save(0, "Main_Page", "Welcome\n", editor=ADMIN, summary="start")
        w.save(0, "Old", "old text\n", editor=ADMIN, summary="old")
        w.save(8, "Common.css", "body {}\n", editor=ADMIN, summary="css", model="css")
        w.save(0, "Who*", "a hostile title\n", editor=ADMIN, summary="hostile")
        conn.execute(insert(site.db.tables.bot_passwords).values(
            bp_user=admin, bp_app_id="git", bp_password=hash_password(BOT_PASSWORD), bp_token="0" * 32,
            bp_restrictions=json.dumps({"IPAddresses": ["127.0.0.1"]}),
            bp_grants=json.dumps(["basic", "editpage"])))


@pytest.fixture
def serve(make_site, tmp_path: Path):  # type: ignore[no-untyped-def]
    """serve(site=None, **config): a (SQLite unless given) wiki served over HTTP, and a clone of it."""
    servers = []

    def make(site: Site | None = None, setup: Callable[[Site], None] | None = None, **config: object) -> Served:
        if site is None:
            site = make_site(f"sqlite:///{tmp_path / 'wiki.sqlite'}", **config)
            standalone.create(site.db)
        seed(site)
        if setup is not None:
            setup(site)
        git = GitClient(tmp_path / "home", protocol=2)
        git("config", "--global", "user.name", "Git Author")
        git("config", "--global", "user.email", "author@example.org")
        git("config", "--global", "credential.helper",
            f"!f() {{ echo username=Admin; echo password={PASSWORD}; }}; f")
        server = dev_server(create_app(site.config))
        served = server.__enter__()
        servers.append(server)
        checkout = tmp_path / "clone"
        git("clone", "-q", served.url, str(checkout))
        return Served(site, git, checkout, served.url, tmp_path)

    yield make
    for server in servers:
        server.__exit__(None, None, None)


# ---------------------------------------------------------------------- on every database
def test_refused_push_changes_nothing_on_any_database(serve, wiki: Site) -> None:  # type: ignore[no-untyped-def]
    s = serve(wiki)
    s.write("MediaWiki/Settings.json", "{not json\n")
    s.write("(Main)/Main_Page.wiki", "an edit in the same commit\n")
    s.commit()
    s.refused(fragments=("MediaWiki/Settings.json", "invalid JSON"))


# ---------------------------------------------------------------------- refs
def test_other_refs_are_refused(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/New.wiki", "new\n")
    s.commit()
    s.refused("HEAD:refs/heads/other", line="HEAD -> other", fragments=("refs/heads/other", "only refs/heads/master"))


def test_tags_are_refused(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.git("tag", "-a", "-m", "a tag", "v1", cwd=s.checkout)
    s.refused("v1", line="v1 -> v1", fragments=("the annotated tag", "tags cannot be pushed here"))


def test_deleting_the_branch_is_refused(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.refused(":master", line="master", fragments=("deleting refs is not supported",))


def test_non_fast_forward_is_refused(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Main_Page.wiki", "rewritten\n")
    s.git("add", "-A", cwd=s.checkout)
    s.git("commit", "-q", "--amend", "-m", "rewritten history", cwd=s.checkout)
    s.refused("--force", "master",
              fragments=("not a fast-forward of refs/heads/master", "fetch, then rebase or merge"))


# ---------------------------------------------------------------------- paths
def test_path_of_no_valid_title(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/a[b.wiki", "x\n")
    s.commit()
    s.refused(fragments=("(Main)/a[b.wiki", "maps to no valid title", "'[' is not allowed in titles"))


def test_path_in_an_excluded_namespace(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("Talk/X.wiki", "x\n")
    s.commit()
    s.refused(fragments=("Talk/X.wiki", "'Talk:X' is in a namespace that is not in the repository"))


def test_non_canonical_path(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/foo bar.wiki", "x\n")
    s.commit()
    s.refused(fragments=("(Main)/foo bar.wiki", "name it (Main)/Foo_bar.wiki"))


def test_nfd_path(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Cafe\u0301.wiki", "x\n")
    s.commit()
    s.refused(fragments=("(Main)/Cafe\u0301.wiki", "not in Unicode NFC form"))


def test_nfd_path_names_the_nfc_path(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Cafe\u0301.wiki", "x\n")
    s.commit()
    s.refused(fragments=("(Main)/Cafe\u0301.wiki", "name it (Main)/Caf\u00e9.wiki"))


def test_a_page_and_its_alias(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("Aliases.xml", aliases_xml(("(Main)/Foo_alias.wiki", "Foo"), ALIAS_WHO))
    s.write("(Main)/Foo_alias.wiki", "by its alias\n")
    s.write("(Main)/Foo.wiki", "by its natural name\n")
    s.commit()
    s.refused(fragments=("(Main)/Foo.wiki", "'Foo' has an alias in Aliases.xml: name it (Main)/Foo_alias.wiki"))


def test_two_files_for_one_page(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Foo.wiki", "wikitext\n")
    s.write("(Main)/Foo.txt", "text\n")
    s.commit()
    s.refused(fragments=("(Main)/Foo", "two files for one page"))


def test_unknown_extension(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Foo.xyz", "x\n")
    s.commit()
    s.refused(fragments=("(Main)/Foo.xyz", "unknown file extension (known: .css"))


# ---------------------------------------------------------------------- contents
def test_text_not_utf8(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Latin.wiki", b"caf\xe9\n")
    s.commit()
    s.refused(fragments=("(Main)/Latin.wiki", "not UTF-8"))


def test_carriage_returns(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("(Main)/Dos.wiki", b"line one\r\nline two\r\n")
    s.commit()
    s.refused(fragments=("(Main)/Dos.wiki", "carriage returns", "core.autocrlf"))


def test_invalid_json(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("MediaWiki/X.json", '{"a": 1,}\n')
    s.commit()
    s.refused(fragments=("MediaWiki/X.json", "invalid JSON"))


def test_page_over_the_maximum_size(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(max_page_size=100)
    s.write("(Main)/Big.wiki", "x" * 101)
    s.commit()
    s.refused(fragments=("(Main)/Big.wiki", "101 bytes", "maximum page size of 100 bytes"))


# ---------------------------------------------------------------------- file kinds
def test_executable_file(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.git("config", "core.fileMode", "true", cwd=s.checkout)
    s.write("(Main)/Run.wiki", "x\n").chmod(0o755)
    s.commit()
    s.refused(fragments=("(Main)/Run.wiki", "executable files", "--chmod=-x"))


def test_symlink(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    os.symlink("Main_Page.wiki", s.checkout / "(Main)" / "Link.wiki")
    s.commit()
    s.refused(fragments=("(Main)/Link.wiki", "symbolic links"))


def test_submodule(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    head = s.git("rev-parse", "HEAD", cwd=s.checkout).stdout.strip()
    s.git("update-index", "--add", "--cacheinfo", f"160000,{head},sub", cwd=s.checkout)
    s.git("commit", "-q", "-m", "a submodule", cwd=s.checkout)
    s.refused(fragments=("sub", "submodules"))


def test_file_page_without_its_media_file(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("File/Logo.png.wiki", "a logo\n")
    s.commit()
    s.refused(fragments=("File/Logo.png.wiki", "Media file", "missing"))


def without_file_contents(site: Site) -> None:
    """A File page whose file the wiki lacks, as in a wiki imported without its file contents."""
    with site.db.write() as conn:
        WikiWriter(site.db, conn).save(6, "Some_image.jpg", "an image whose bytes were never imported\n",
                                       editor=ADMIN, summary="imported")


def test_a_file_page_without_its_file_never_refuses_a_push_that_reads_the_whole_tree(serve) -> None:  # type: ignore[no-untyped-def]
    """Changing Aliases.xml makes the plan read the whole tree, the untouched File page included."""
    s = serve(setup=without_file_contents)
    assert (s.checkout / "File" / "Some_image.jpg.wiki").exists() and not (s.checkout / "Media").exists()
    s.write("Aliases.xml", aliases_xml(("(Main)/Foo_alias.wiki", "Foo"), ALIAS_WHO))
    s.write("(Main)/Foo_alias.wiki", "a page under a name of its own\n")
    s.commit()
    s.accepted()


def test_a_file_page_without_its_file_can_be_edited(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(setup=without_file_contents)
    s.write("File/Some_image.jpg.wiki", "the description, improved\n")
    s.commit()
    s.accepted()


def test_media_file_removed_while_its_file_page_stays(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("Media/Logo.png", PNG)
    s.write("File/Logo.png.wiki", "a logo\n")
    s.commit()
    s.accepted()
    (s.checkout / "Media" / "Logo.png").unlink()
    s.commit()
    s.refused(fragments=("Media/Logo.png", "its File page (Logo.png) is still there"))


def test_media_file_without_its_file_page(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("Media/Logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    s.commit()
    s.refused(fragments=("Media/Logo.png", "File page", "missing"))


# ---------------------------------------------------------------------- uploads as MediaWiki verifies them
PNG = png(1, 1, (255, 0, 0))


@pytest.mark.parametrize("name, data, fragments", [
    ("Evil.php.png", PNG, ("'.php' files are never uploaded, anywhere in a file's name",)),
    ("Evil.PHP.png", PNG, ("'.php' files are never uploaded",)),
    ("Page.png", b"<html><script>alert(1)</script></html>", ("the content is text/html, which is never uploaded",)),
    ("Inside.png", PNG + b"<SCRIPT>alert(1)</SCRIPT>", ("HTML or script code",)),
    ("Handler.png", PNG + b'<a href="javascript:alert(1)">', ("HTML or script code",)),
    ("Moving.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", ("the content is image/gif, not what a .png file holds",)),
    ("Words.png", b"just some words\n", ("the content is text/plain, not what a .png file holds",)),
], ids=["banned-inner-extension", "banned-upper-case", "html", "script-tag", "script-url", "gif-as-png", "text-as-png"])
def test_upload_refused_as_mediawiki_refuses_it(serve, name: str, data: bytes,  # type: ignore[no-untyped-def]
                                                 fragments: tuple[str, ...]) -> None:
    s = serve()
    s.write(f"Media/{name}", data)
    s.write(f"File/{name}.wiki", "an upload\n")
    s.commit()
    s.refused(fragments=(f"Media/{name}", *fragments))


def test_svg_script_refused_where_svg_is_allowed(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(upload_extensions=("png", "svg"))
    s.write("Media/Drawing.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>')
    s.write("File/Drawing.svg.wiki", "a drawing\n")
    s.commit()
    s.refused(fragments=("Media/Drawing.svg", "an event-handler attribute"))


# ---------------------------------------------------------------------- Aliases.xml
ALIAS_WHO = ("(Main)/Who%2A.wiki", "Who*")  # as the wiki serves it


@pytest.mark.parametrize("document, fragments", [
    (ALIASES_HEAD + '  <alias path="(Main)/Who%2A.wiki" title="Who*">\n</aliases>\n', ("not well-formed",)),
    ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE aliases [<!ENTITY w "Who*">]>\n<aliases>\n'
     '  <alias path="(Main)/Who_x.wiki" title="&w;"/>\n</aliases>\n', ("DOCTYPE",)),
    (aliases_xml(ALIAS_WHO) + " " * (1024 * 1024), ("more than the limit",)),
    (aliases_xml(("(Main)/CON.wiki", "Foo"), ALIAS_WHO), ("(Main)/CON.wiki",)),
    (aliases_xml(ALIAS_WHO, ("(Main)/X.wiki", "a[b")), ("title 'a[b'",)),
    (aliases_xml(ALIAS_WHO, ("(Main)/Who_a.wiki", "Who*")), ("two files for one page",)),
], ids=["not-well-formed", "doctype-entity", "too-large", "unportable-path", "invalid-title", "two-paths-one-title"])
def test_invalid_aliases_xml(serve, document: str, fragments: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.write("Aliases.xml", document)
    s.write("(Main)/Main_Page.wiki", "edited beside a bad Aliases.xml\n")
    s.commit()
    s.refused(fragments=("Aliases.xml", *fragments))


def test_tree_the_wiki_would_show_differently(serve) -> None:  # type: ignore[no-untyped-def]
    """Deleting ``Who*`` but keeping an emptied Aliases.xml: valid, in gitaccess's format, but the wiki
    leaves Aliases.xml out when it has no entries. (Keeping ``(Main)/Who%2A.wiki`` without its entry is
    refused earlier, by the path rule: ``Who%2A`` is no valid title.)
    """
    s = serve()
    (s.checkout / "(Main)" / "Who%2A.wiki").unlink()  # Who* goes, and with it the only alias
    s.write("Aliases.xml", aliases_xml())
    s.commit()
    s.refused(fragments=("the wiki would show this commit's tree differently", "Aliases.xml"))


# ---------------------------------------------------------------------- who may do what
def test_protected_page(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(gitaccess_groups=("user",))
    with s.site.db.write() as conn:
        page_id = WikiWriter(s.site.db, conn).page(0, "Main_Page").id
        conn.execute(insert(s.site.db.tables.page_restrictions).values(
            pr_page=page_id, pr_type="edit", pr_level="sysop", pr_cascade=0, pr_expiry="infinity"))
    s.write("(Main)/Main_Page.wiki", "vandalism\n")
    s.commit()
    s.refused(fragments=("(Main)/Main_Page.wiki", "protected against edit (sysop only)"),
              config=s.as_user("Bob", BOB_PASSWORD))


def test_site_css_needs_editsitecss(serve) -> None:  # type: ignore[no-untyped-def]
    """A sysop has editinterface but not editsitecss (that is interface-admin's)."""
    s = serve()
    s.write("MediaWiki/Common.css", "body { color: red }\n")
    s.commit()
    s.refused(fragments=("MediaWiki/Common.css", "'editsitecss'"))


def test_site_css_plain_user(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(gitaccess_groups=("user",))
    s.write("MediaWiki/Common.css", "body { color: red }\n")
    s.commit()
    s.refused(fragments=("MediaWiki/Common.css", "you lack the right 'editinterface'"), config=s.as_user("Bob", BOB_PASSWORD))


def test_site_js_as_wikitext_needs_editsitejs(serve) -> None:  # type: ignore[no-untyped-def]
    """MediaWiki:Common.js is site JavaScript by its title, whatever model the push gives it."""
    s = serve()
    s.write("MediaWiki/Common.js.wiki", "wikitext under a script's title\n")
    s.commit()
    s.refused(fragments=("MediaWiki/Common.js.wiki", "you lack the right 'editsitejs'"))


def test_existing_site_css_as_wikitext_needs_editsitecss(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    (s.checkout / "MediaWiki" / "Common.css").rename(s.checkout / "MediaWiki" / "Common.css.wiki")
    s.commit()
    s.refused(fragments=("MediaWiki/Common.css.wiki", "you lack the right 'editsitecss'"))


def test_moving_a_page_to_a_site_js_title_needs_editsitejs(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    s.git("mv", "(Main)/Old.wiki", "MediaWiki/Old.js.wiki", cwd=s.checkout)
    s.commit()
    s.refused(fragments=("MediaWiki/Old.js.wiki", "you may not move Old to MediaWiki:Old.js",
                         "you lack the right 'editsitejs'"))


def test_other_users_js_as_wikitext_needs_edituserjs(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(gitaccess_groups=("user",))
    s.write("User/Admin/common.js.wiki", "wikitext under a script's title\n")
    s.commit()
    s.refused(fragments=("User/Admin/common.js.wiki", "you lack the right 'edituserjs'"),
              config=s.as_user("Bob", BOB_PASSWORD))


def test_a_new_page_of_another_model_needs_editcontentmodel(serve) -> None:  # type: ignore[no-untyped-def]
    """A BotPassword granted creating pages but not editpage (which carries editcontentmodel)."""
    def creator(site: Site) -> None:
        with site.db.write() as conn:
            user = site.db.tables.user
            admin = conn.execute(select(user.c.user_id).where(user.c.user_name == "Admin")).scalar_one()
            conn.execute(insert(site.db.tables.bot_passwords).values(
                bp_user=admin, bp_app_id="create", bp_password=hash_password(BOT_PASSWORD), bp_token="1" * 32,
                bp_restrictions=json.dumps({"IPAddresses": ["127.0.0.1"]}),
                bp_grants=json.dumps(["basic", "createeditmovepage"])))
    s = serve(setup=creator)
    s.write("(Main)/Notes.txt", "plain text, not wikitext\n")
    s.commit()
    s.refused(fragments=("(Main)/Notes.txt", "you lack the right 'editcontentmodel'"),
              config=s.as_user("Admin@create", BOT_PASSWORD))


def test_bot_password_without_delete_grant(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    (s.checkout / "(Main)" / "Old.wiki").unlink()
    s.commit("delete Old")
    s.refused(fragments=("Old", "you may not delete pages"), config=s.as_user("Admin@git", BOT_PASSWORD))


def test_refused_delete_names_the_path(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    (s.checkout / "(Main)" / "Old.wiki").unlink()
    s.commit("delete Old")
    s.refused(fragments=("(Main)/Old.wiki: you may not delete pages",), config=s.as_user("Admin@git", BOT_PASSWORD))


def block_admin(site: Site) -> None:
    with site.db.write() as conn:
        writer = WikiWriter(site.db, conn)
        user = site.db.tables.user
        admin = conn.execute(select(user.c.user_id).where(user.c.user_name == "Admin")).scalar_one()
        block(site, writer, admin, "Admin", by="Admin")


def test_blocked_user_gets_403(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(setup=block_admin)
    s.write("(Main)/Main_Page.wiki", "blocked\n")
    s.commit()
    s.refused(status=128, fragments=("403", "'Admin' is blocked on the wiki, so it cannot push"))


def test_block_made_after_a_fetch_stops_the_next_push(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve()
    block_admin(s.site)
    s.write("(Main)/Main_Page.wiki", "blocked\n")
    s.commit()
    s.refused(status=128, fragments=("403",))


# ---------------------------------------------------------------------- limits while reading the pack
def test_push_byte_limit(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(max_push_bytes=2000)
    s.write("(Main)/Big.wiki", os.urandom(3000).hex() + "\n")
    s.commit()
    s.refused(fragments=("exceeds the limit of 2000 bytes for one push",))


def test_push_object_limit(serve) -> None:  # type: ignore[no-untyped-def]
    s = serve(max_push_objects=3)
    for n in range(5):
        s.write(f"(Main)/Page_{n}.wiki", f"page {n}\n")
    s.commit()
    s.refused(fragments=("more than the limit of 3 for one push",))
