"""GitTree: every page's path through the four filter passes, the reverse for
push, the dulwich trees, and git's own verdict on the result."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from gitaccess.config import DEFAULT_EXCLUDED, DEFAULT_EXTENSIONS
from gitaccess.titles.namespaces import (
    FILE,
    GITACCESS_ROOT,
    MAIN,
    MEDIA,
    MEDIAWIKI,
    MODULE,
    TALK,
    TEMPLATE,
    USER,
    USER_TALK,
    Namespace,
    Namespaces,
)
from gitaccess.titles.codec import Title, TitleCodec
from gitaccess.tree.aliases import Alias, AliasesError, AliasRegistry
from gitaccess.tree.claims import Claims, first_conflict
from gitaccess.journal.commits import epoch
from gitaccess.tree.gittree import GitTree
from gitaccess.tree.layout import ALIASES_FILE, Layout, PathError, included_namespaces
from gitaccess.tree.portable import is_portable_path
from gitaccess.objects.entries import entries_problem, parse, parse_entries, reparse, reread_problem
from gitaccess.objects.trees import FileTree, build_tree
from tests.trees import nested_tree

RECIPES = 3000
NO_ALIASES = AliasRegistry()


def make_tree(included=(TALK, RECIPES + 1), excluded=DEFAULT_EXCLUDED) -> GitTree:
    namespaces = Namespaces.standard(
        extra=[
            Namespace(RECIPES, "Recipes", "Recipes", subpages=True),
            Namespace(RECIPES + 1, "Recipes talk", "Recipes talk", subpages=True),
        ]
    )
    codec = TitleCodec(namespaces)
    return GitTree(Layout(codec, included_namespaces(namespaces, included, excluded)))


@pytest.fixture(scope="module")
def tree() -> GitTree:
    return make_tree()


def place(tree: GitTree, pages, registry=NO_ALIASES, order=()):
    return tree.place(pages, registry, order)


# --- The passes ------------------------------------------------------------------


def test_ordinary_pages_keep_their_natural_paths(tree: GitTree) -> None:
    pages = [
        (MAIN, "Main_Page", "wikitext"),
        (USER, "Alice", "wikitext"),
        (USER, "Alice/Sandbox", "wikitext"),
        (USER, "Alice/Sandbox/Deep", "wikitext"),
        (MEDIAWIKI, "Common.css", "css"),
        (MODULE, "Foo", "Scribunto"),
        (MAIN, "Foo.css", "wikitext"),
        (FILE, "X.png", "wikitext"),
        (MEDIA, "X.png", None),
        (GITACCESS_ROOT, "README.md", "text"),
        (GITACCESS_ROOT, ".gitattributes", "text"),
        (TEMPLATE, "Box/styles.css", "sanitized-css"),
    ]
    result = place(tree, pages)
    assert list(result.paths) == sorted(result.paths)
    assert result.paths == {
        ".gitattributes": Title(GITACCESS_ROOT, ".gitattributes"),
        "(Main)/Foo.css.wiki": Title(MAIN, "Foo.css"),
        "(Main)/Main_Page.wiki": Title(MAIN, "Main_Page"),
        "File/X.png.wiki": Title(FILE, "X.png"),
        "Media/X.png": Title(MEDIA, "X.png"),
        "MediaWiki/Common.css": Title(MEDIAWIKI, "Common.css"),
        "Module/Foo.lua": Title(MODULE, "Foo"),
        "README.md": Title(GITACCESS_ROOT, "README.md"),
        "Template/Box/styles.css": Title(TEMPLATE, "Box/styles.css"),
        "User/Alice.wiki": Title(USER, "Alice"),
        "User/Alice/Sandbox.wiki": Title(USER, "Alice/Sandbox"),
        "User/Alice/Sandbox/Deep.wiki": Title(USER, "Alice/Sandbox/Deep"),
    }
    assert result.titles[Title(USER, "Alice/Sandbox")] == "User/Alice/Sandbox.wiki"
    assert len(result.registry) == 0 and result.new_aliases == () and result.aliases_xml is None


def test_excluded_namespaces_are_left_out(tree: GitTree) -> None:
    result = place(tree, [(USER_TALK, "Alice", "wikitext"), (MAIN, "A", "wikitext"), (-1, "X", None)])
    assert list(result.paths) == ["(Main)/A.wiki"]
    no_files = make_tree(excluded=(*DEFAULT_EXCLUDED, FILE))
    assert place(no_files, [(FILE, "X.png", "wikitext"), (MEDIA, "X.png", None)]).paths == {}


def test_titles_the_wiki_cannot_name_are_skipped_with_a_reason(tree: GitTree) -> None:
    pages = [
        (MAIN, "lower", "wikitext"),
        (MAIN, "A[1]", "wikitext"),
        (MAIN, "Bad\ufffe", "wikitext"),
        (MAIN, "Ok", "wikitext"),
    ]
    result = place(tree, pages)
    assert list(result.paths) == ["(Main)/Ok.wiki"]
    assert result.skipped[Title(MAIN, "lower")] == "it is not in normalised form (MediaWiki reads it as 'Lower')"
    assert result.skipped[Title(MAIN, "A[1]")] == "it is not a valid title"
    assert "not a character" in result.skipped[Title(MAIN, "Bad\ufffe")]


def test_a_page_listed_twice_is_an_error(tree: GitTree) -> None:
    with pytest.raises(ValueError, match="twice"):
        place(tree, [(MAIN, "A", "wikitext"), (MAIN, "A", "css")])


def test_illegal_characters_and_reserved_names_get_aliases(tree: GitTree) -> None:
    pages = [
        (MAIN, "Who*", "wikitext"),
        (TALK, "CON", "wikitext"),
        (TALK, "Aux.txt", "wikitext"),
        (USER, "Alice/Who?", "wikitext"),
        (USER, "CON/Notes", "wikitext"),
        (MAIN, "AC/DC", "wikitext"),
        (GITACCESS_ROOT, ".git", "text"),
        (GITACCESS_ROOT, "Aliases.xml", "text"),
        (MEDIA, "Who*.png", None),
        (FILE, "Who*.png", "wikitext"),
    ]
    result = place(tree, pages)
    assert result.titles == {
        Title(MAIN, "Who*"): "(Main)/Who%2A.wiki",
        Title(TALK, "CON"): "Talk/CON_.wiki",
        Title(TALK, "Aux.txt"): "Talk/Aux%2Etxt.wiki",
        Title(USER, "Alice/Who?"): "User/Alice/Who%3F.wiki",  # beside Alice's other subpages
        Title(USER, "CON/Notes"): "User/CON%2FNotes.wiki",
        Title(MAIN, "AC/DC"): "(Main)/AC%2FDC.wiki",
        Title(GITACCESS_ROOT, ".git"): "%2Egit",
        Title(GITACCESS_ROOT, "Aliases.xml"): result.titles[Title(GITACCESS_ROOT, "Aliases.xml")],
        Title(MEDIA, "Who*.png"): "Media/Who%2A.png",
        Title(FILE, "Who*.png"): "File/Who%2A.png.wiki",
    }
    assert result.titles[Title(GITACCESS_ROOT, "Aliases.xml")].startswith("Aliases__")
    assert set(result.new_aliases) == set(result.registry) and len(result.registry) == len(pages)
    assert result.aliases_xml == result.registry.to_xml(tree.layout.codec)
    assert b'<alias path="Talk/CON_.wiki" title="Talk:CON"/>' in result.aliases_xml


def test_slashes_that_cannot_make_directories(tree: GitTree) -> None:
    pages = [(USER, key, "wikitext") for key in ["/Lead", "Bob//x", "Carol/", "Dan/x/"]]
    result = place(tree, pages)
    assert result.titles == {
        Title(USER, "/Lead"): "User/%2FLead.wiki",
        Title(USER, "Bob//x"): "User/Bob/%2Fx.wiki",
        Title(USER, "Carol/"): "User/Carol%2F.wiki",
        Title(USER, "Dan/x/"): "User/Dan/x%2F.wiki",
    }


def test_css_page_without_css_in_its_title_gets_an_alias(tree: GitTree) -> None:
    result = place(tree, [(MEDIAWIKI, "Foo", "css"), (USER, "Alice/common.js", "wikitext")])
    alias = result.titles[Title(MEDIAWIKI, "Foo")]
    assert alias.startswith("MediaWiki/Foo__") and alias.endswith(".css")
    assert result.titles[Title(USER, "Alice/common.js")] == "User/Alice/common.js.wiki"
    assert tree.path_to_title(alias, result.registry) == (Title(MEDIAWIKI, "Foo"), "css")


def test_capitalisation_conflicts_first_published_keeps_its_name(tree: GitTree) -> None:
    pages = [(MAIN, "Foo", "wikitext"), (MAIN, "FOO", "wikitext"), (MAIN, "FoO", "wikitext")]
    result = place(tree, pages, order=[Title(MAIN, "FoO"), Title(MAIN, "Foo"), (MAIN, "FOO")])
    assert result.titles[Title(MAIN, "FoO")] == "(Main)/FoO.wiki"
    assert result.titles[Title(MAIN, "Foo")].startswith("(Main)/Foo__")
    assert result.titles[Title(MAIN, "FOO")].startswith("(Main)/FOO__")
    unordered = place(tree, pages)  # by title: "FOO" < "FoO" < "Foo"
    assert unordered.titles[Title(MAIN, "FOO")] == "(Main)/FOO.wiki"


def test_capitalisation_covers_unicode_folding_and_directories(tree: GitTree) -> None:
    pages = [
        (MAIN, "Straße", "wikitext"),
        (MAIN, "STRASSE", "wikitext"),
        (USER, "Alice/x", "wikitext"),
        (USER, "ALICE/y", "wikitext"),
        (USER, "Bob", "wikitext"),
        (USER, "Bob.wiki/Sub", "wikitext"),
    ]
    order = [Title(MAIN, "Straße"), Title(USER, "Alice/x"), Title(USER, "Bob")]
    result = place(tree, pages, order=order)
    assert result.titles[Title(MAIN, "Straße")] == "(Main)/Straße.wiki"
    assert result.titles[Title(MAIN, "STRASSE")].startswith("(Main)/STRASSE__")
    assert result.titles[Title(USER, "Alice/x")] == "User/Alice/x.wiki"
    assert result.titles[Title(USER, "ALICE/y")] == "User/ALICE%2Fy.wiki"  # ALICE/ would clash with Alice/
    assert result.titles[Title(USER, "Bob")] == "User/Bob.wiki"
    assert result.titles[Title(USER, "Bob.wiki/Sub")] == "User/Bob.wiki%2FSub.wiki"  # file beats directory
    assert first_conflict(result.paths) is None


def test_directory_published_first_beats_a_later_file(tree: GitTree) -> None:
    pages = [(USER, "Bob", "wikitext"), (USER, "Bob.wiki/Sub", "wikitext")]
    result = place(tree, pages, order=[(USER, "Bob.wiki/Sub")])
    assert result.titles[Title(USER, "Bob.wiki/Sub")] == "User/Bob.wiki/Sub.wiki"
    assert result.titles[Title(USER, "Bob")].startswith("User/Bob__")


def test_root_pages_do_not_clash_with_namespace_directories(tree: GitTree) -> None:
    result = place(tree, [(GITACCESS_ROOT, name, "text") for name in ["user", "(main)", "aliases.XML"]])
    for title, path in result.titles.items():
        assert "__" in path and "/" not in path, path


def test_existing_aliases_always_win_and_are_never_reused(tree: GitTree) -> None:
    registry = AliasRegistry(
        [
            Alias("(Main)/Who_x.wiki", Title(MAIN, "Who*")),  # chosen by a user
            Alias("(Main)/Foo_.wiki", Title(MAIN, "Foo")),  # Foo once clashed, now alone
            Alias("Talk/Gone%2A.wiki", Title(TALK, "Gone*")),  # a deleted page
        ]
    )
    pages = [(MAIN, "Who*", "wikitext"), (MAIN, "Foo", "wikitext"), (MAIN, "Who_x", "wikitext")]
    result = place(tree, pages, registry, order=[(MAIN, "Who_x")])
    assert result.titles[Title(MAIN, "Who*")] == "(Main)/Who_x.wiki"
    assert result.titles[Title(MAIN, "Foo")] == "(Main)/Foo_.wiki"
    assert result.titles[Title(MAIN, "Who_x")].startswith("(Main)/Who_x__")  # its natural name is taken
    assert "Talk/Gone%2A.wiki" not in result.paths
    assert result.registry.title_for("Talk/Gone%2A.wiki") == Title(TALK, "Gone*")
    assert [a.title for a in result.new_aliases] == [Title(MAIN, "Who_x")]


def test_a_content_model_change_changes_the_alias_extension(tree: GitTree) -> None:
    first = place(tree, [(MODULE, "Who*", "Scribunto")])
    assert first.titles[Title(MODULE, "Who*")] == "Module/Who%2A.lua"
    second = place(tree, [(MODULE, "Who*", "wikitext")], first.registry)
    assert second.titles[Title(MODULE, "Who*")] == "Module/Who%2A.wiki"
    assert list(second.registry) == [Alias("Module/Who%2A.wiki", Title(MODULE, "Who*"))]


def test_placement_is_stable_as_the_wiki_grows(tree: GitTree) -> None:
    pages = [(MAIN, "Foo", "wikitext"), (MAIN, "Who*", "wikitext"), (USER, "A/b", "wikitext")]
    first = place(tree, pages)
    more = pages + [(MAIN, "FOO", "wikitext"), (USER, "A/B", "wikitext"), (MAIN, "Who?", "wikitext")]
    second = place(tree, more, first.registry, order=[Title(ns, key) for ns, key, _ in pages])
    for title, path in first.titles.items():
        assert second.titles[title] == path
    assert second.titles[Title(MAIN, "FOO")].startswith("(Main)/FOO__")
    assert second.titles[Title(USER, "A/B")].startswith("User/A/B__")
    assert second.titles[Title(MAIN, "Who?")] == "(Main)/Who%3F.wiki"
    assert {a.title for a in second.new_aliases} == {Title(MAIN, "FOO"), Title(USER, "A/B"), Title(MAIN, "Who?")}


def test_inconsistent_registry_is_an_error(tree: GitTree) -> None:
    registry = AliasRegistry([Alias("talk", Title(GITACCESS_ROOT, "T"))])
    with pytest.raises(AliasesError, match="Talk"):
        place(tree, [(MAIN, "A", "wikitext")], registry)


# --- Push: paths -> titles -----------------------------------------------------------


@pytest.mark.parametrize(
    "path, message",
    [
        ("(Main)/foo bar.wiki", "name it (Main)/Foo_bar.wiki"),
        ("(Main)/Cafe\u0301.wiki", "not in Unicode NFC form, as macOS may write it): name it (Main)/Caf\u00e9.wiki"),
        ("User/alice/Notes.wiki", "name it User/Alice/Notes.wiki"),
        ("(Main)/Talk:Foo.wiki", "name it Talk/Foo.wiki"),
        ("(Main)/Who*.wiki", "give 'Who*' an alias in Aliases.xml"),
        ("Talk/con.wiki", "reads as 'Talk:Con', which has no portable path of its own"),
        ("(Main)/Who%2A.wiki", "no valid title"),
        ("(Main)/A[1].wiki", "no valid title"),
        ("User_talk/Alice.wiki", "not in the repository"),
        ("Special/X.wiki", "not in the repository"),
        ("Elsewhere/X.wiki", "not a namespace directory"),
        ("(Main)/X.exe", "unknown file extension"),
        ("(Main)/a/b.wiki", "no subpages"),
        ("Aliases.xml", "alias registry"),
        ("/(Main)/A.wiki", "not a relative path"),
        ("(Main)/A.wiki/", "not a relative path"),
        ("MediaWiki/foo.css", "name it MediaWiki/Foo.css"),
        ("Template", "reserved at the repository root"),
    ],
)
def test_path_to_title_refusals_name_the_rule_and_the_right_path(tree: GitTree, path: str, message: str) -> None:
    with pytest.raises(PathError) as info:
        tree.path_to_title(path, NO_ALIASES)
    assert str(info.value).startswith(path + ": ")
    assert message in str(info.value)


def test_path_to_title_honours_aliases(tree: GitTree) -> None:
    registry = AliasRegistry(
        [Alias("(Main)/Who_x.wiki", Title(MAIN, "Who*")), Alias("User_talk/CON_.wiki", Title(USER_TALK, "CON"))]
    )
    assert tree.path_to_title("(Main)/Who_x.wiki", registry) == (Title(MAIN, "Who*"), "wikitext")
    with pytest.raises(PathError, match="has an alias in Aliases.xml: name it \\(Main\\)/Who_x.wiki"):
        tree.path_to_title("(Main)/Who*.wiki", registry)
    with pytest.raises(PathError, match="not in the repository"):
        tree.path_to_title("User_talk/CON_.wiki", registry)
    assert tree.path_to_title("(Main)/Who_y.wiki", registry) == (Title(MAIN, "Who_y"), "wikitext")


def test_path_to_title_models(tree: GitTree) -> None:
    assert tree.path_to_title("Module/Foo.lua", NO_ALIASES) == (Title(MODULE, "Foo"), "Scribunto")
    assert tree.path_to_title("MediaWiki/Foo.json", NO_ALIASES) == (Title(MEDIAWIKI, "Foo.json"), "json")
    assert tree.path_to_title("README.md", NO_ALIASES) == (Title(GITACCESS_ROOT, "README.md"), "text")
    assert tree.path_to_title("Media/X.png", NO_ALIASES) == (Title(MEDIA, "X.png"), None)


def test_paths_to_titles_refuses_two_files_for_one_page_and_case_clashes(tree: GitTree) -> None:
    registry = AliasRegistry([Alias("(Main)/Foo_.wiki", Title(MAIN, "Foo"))])
    ok = tree.paths_to_titles(["(Main)/Foo_.wiki", "(Main)/Bar.wiki", ALIASES_FILE], registry)
    assert {p: r.title for p, r in ok.items()} == {
        "(Main)/Foo_.wiki": Title(MAIN, "Foo"),
        "(Main)/Bar.wiki": Title(MAIN, "Bar"),
    }
    with pytest.raises(PathError, match="two files for one page"):
        tree.paths_to_titles(["(Main)/Foo.txt", "(Main)/Foo.wiki"], NO_ALIASES)
    with pytest.raises(PathError, match="one name on Windows"):
        tree.paths_to_titles(["(Main)/FOO.wiki", "(Main)/Foo.wiki"], NO_ALIASES)


def test_title_to_path(tree: GitTree) -> None:
    registry = AliasRegistry([Alias("(Main)/Who_x.wiki", Title(MAIN, "Who*"))])
    assert tree.title_to_path(Title(USER, "Alice/Notes"), "wikitext", registry) == "User/Alice/Notes.wiki"
    assert tree.title_to_path(Title(MAIN, "Who*"), "wikitext", registry) == "(Main)/Who_x.wiki"
    assert tree.title_to_path(Title(TALK, "CON"), "wikitext", registry) is None


# --- Tree objects ----------------------------------------------------------------------


def test_build_tree_nests_and_sorts_like_git() -> None:
    blob = Blob.from_string(b"x\n")
    files = {
        "a.b/c.wiki": (0o100644, blob.id),
        "a/x.wiki": (0o100644, blob.id),
        "a.wiki": (0o100644, blob.id.decode()),
        "z": (0o100644, blob.id),
    }
    root, trees = build_tree(files)
    assert trees[-1].id == root and len(trees) == 3
    names = [entry.path for entry in Tree.from_raw_string(Tree.type_num, trees[-1].data).iteritems()]
    assert names == [b"a.b", b"a.wiki", b"a", b"z"]  # git sorts a directory as 'a/'
    for tree_object in trees:
        parsed = Tree.from_raw_string(Tree.type_num, tree_object.data)
        parsed.check()
        assert parsed.id == tree_object.id
    with pytest.raises(ValueError, match="file and a directory"):
        build_tree({"a": (0o100644, blob.id), "a/b": (0o100644, blob.id)})
    with pytest.raises(ValueError, match="file and a directory"):
        build_tree({"a/b": (0o100644, blob.id), "a": (0o100644, blob.id)})
    with pytest.raises(ValueError):
        build_tree({"a//b": (0o100644, blob.id)})


def _dulwich_tree(files: dict[str, bytes]) -> bytes:
    """The root id dulwich's own Tree class gives the same files, built from scratch."""
    return nested_tree(files, lambda sha: (0o100644, sha), lambda tree: tree.id)


@pytest.mark.parametrize("seed", range(3))
def test_a_large_directory_changed_a_file_at_a_time_keeps_git_ids(seed: int) -> None:
    """A directory of many blocks of entries (see trees.BLOCK_ENTRIES): edits (same size, hashed
    again from their block), creations and deletions anywhere in it, and at its ends."""
    rng = random.Random(seed)
    kept = FileTree()
    files = {f"Main/Page {n:05}.wiki": Blob.from_string(b"%d" % n).id for n in range(0, 3000, 3)}
    for path, sha in files.items():
        kept.set(path, 0o100644, sha)
    for step in range(300):
        what = rng.random()
        if what < 0.6:  # an edit
            path = rng.choice(sorted(files))
            files[path] = Blob.from_string(b"step %d" % step).id
            kept.set(path, 0o100644, files[path])
        elif what < 0.8:
            path = f"Main/Page {rng.choice([rng.randrange(3000), 0, 2999, 99999]):05}.wiki"
            files[path] = Blob.from_string(b"new %d" % step).id
            kept.set(path, 0o100644, files[path])
        elif files:
            path = rng.choice(sorted(files))
            kept.remove(path)
            del files[path]
        if step % rng.choice([1, 3]) == 0:
            root, made = kept.flush()
            assert root == _dulwich_tree(files), step
            assert all(Tree.from_raw_string(Tree.type_num, tree.data).id == tree.id for tree in made)


@pytest.mark.parametrize("seed", range(6))
def test_file_tree_kept_between_commits_matches_a_fresh_build(seed: int) -> None:
    """Adding, changing and removing files a few at a time gives git's ids, and every new tree
    names the previous version of its directory as its base."""
    rng = random.Random(seed)
    kept = FileTree()
    files: dict[str, bytes] = {}
    earlier: set[bytes] = set()
    for step in range(1500):
        if files and rng.random() < 0.3:
            path = rng.choice(sorted(files))
            kept.remove(path)
            del files[path]
        else:
            path = "/".join(rng.choice("abcAB") for _ in range(rng.randint(1, 3))) + rng.choice(["", ".wiki"])
            sha = Blob.from_string(str(step).encode()).id
            try:
                kept.set(path, 0o100644, sha)
                files[path] = sha
            except ValueError:
                assert any(p.startswith(path + "/") or path.startswith(p + "/") for p in files)
        if step % rng.choice([1, 5, 37]) == 0:
            root, made = kept.flush()
            assert root == _dulwich_tree(files)
            for tree in made:
                assert Tree.from_raw_string(Tree.type_num, tree.data).id == tree.id
                assert tree.base is None or tree.base in earlier
            earlier |= {tree.id for tree in made}



def _raw_tree(entries: list[tuple[bytes, int, bytes]]) -> bytes:
    return b"".join(b"%o %s\0%s" % (mode, name, bytes.fromhex(sha.decode())) for name, mode, sha in entries)


@pytest.mark.parametrize("seed", range(4))
def test_tree_check_agrees_with_dulwich(seed: int) -> None:
    """The whole-list check of a pushed tree passes exactly the trees dulwich's entry-by-entry
    check passes: shuffled, duplicated, reserved and slashed names, odd modes."""
    rng = random.Random(seed)
    sha = Blob.from_string(b"x").id
    names = [b"a", b"a.b", b"a-b", b"b", b"B", b".", b"..", b".git", b".gitx", b"a/b", "é".encode(), b"a0"]
    modes = [0o100644, 0o100644, 0o040000, 0o100755, 0o120000, 0o160000, 0o100664, 0o100600, 0o040755]
    verdicts = set()
    for _ in range(3000):
        entries = [(rng.choice(names), rng.choice(modes), sha) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.6:
            entries.sort(key=lambda e: e[0] + b"/" if e[1] & 0o040000 and not e[1] & 0o100000 else e[0])
        raw = _raw_tree(entries)
        try:
            Tree.from_raw_string(Tree.type_num, raw).check()
            dulwich_ok = True
        except Exception:  # noqa: BLE001 - any refusal
            dulwich_ok = False
        ours = entries_problem(parse_entries(raw))
        assert (ours is None) == dulwich_ok, (entries, ours)
        verdicts.add(dulwich_ok)
    assert verdicts == {True, False}


@pytest.mark.parametrize("seed", range(6))
def test_a_tree_reread_from_its_previous_version_is_read_right(seed: int) -> None:
    """Reading a new version of a directory from the previous one gives the entries, and the
    entry boundaries, of reading it whole: after edits, additions and removals anywhere, of
    files and directories, and with object ids whose bytes mimic entries (digits, spaces, NULs)."""
    rng = random.Random(seed)

    def oid() -> bytes:
        return bytes(rng.choice(b"01 \x00a/") if rng.random() < 0.5 else rng.randrange(256)
                     for _ in range(20)).hex().encode()

    def name() -> bytes:
        made = "".join(rng.choice("ab0 .é") for _ in range(rng.randint(1, 6))).encode()
        return made if made.strip(b".") else b"a" + made

    files = {name(): (rng.choice([0o100644, 0o040000]), oid()) for _ in range(rng.randint(0, 300))}
    previous = parse(_raw_tree(_git_order(files)))
    for _step in range(200):
        for _change in range(rng.choice([1, 1, 2, 5])):
            action = rng.random()
            if files and action < 0.4:
                key = rng.choice(sorted(files))
                files[key] = (files[key][0], oid())
            elif files and action < 0.6:
                del files[rng.choice(sorted(files))]
            else:
                files[name()] = (rng.choice([0o100644, 0o040000]), oid())
        data = _raw_tree(_git_order(files))
        reread, whole = reparse(previous, data), parse(data)
        assert reread.tree == whole
        assert previous.entries[:reread.first] + reread.middle + previous.entries[reread.end:] == whole.entries
        assert reread_problem(previous, reread) is None and entries_problem(whole.entries) is None
        previous = reread.tree


def test_a_name_that_ends_like_the_previous_versions_last_entry_is_read_whole() -> None:
    """The bytes a new version ends with match a whole entry of the previous version, but in
    the new one they are the end of a longer name: the reading notices and reads it whole."""
    sha = Blob.from_string(b"x").id
    previous = parse(_raw_tree([(b"a", 0o100644, sha), (b"b", 0o100644, Blob.from_string(b"y").id),
                                (b"y", 0o100644, sha)]))
    data = _raw_tree([(b"a", 0o100644, sha), (b"zz100644 y", 0o100644, sha)])
    reread = reparse(previous, data)
    assert reread.tree == parse(data)
    assert (reread.first, reread.end) == (0, 3)


def test_a_reread_tree_is_checked_where_it_changed() -> None:
    sha = Blob.from_string(b"x").id
    previous = parse(_raw_tree([(b"a", 0o100644, sha), (b"c", 0o100644, sha), (b"e", 0o100644, sha)]))
    for entries, problem in [([(b"a", 0o100644, sha), (b"d", 0o100644, sha), (b"c", 0o100644, sha),
                               (b"e", 0o100644, sha)], "entries not sorted"),
                             ([(b"a", 0o100644, sha), (b"c", 0o100644, sha), (b"c", 0o100644, sha),
                               (b"e", 0o100644, sha)], "duplicate entries"),
                             ([(b"a", 0o100644, sha), (b"c", 0o100755, sha), (b"e", 0o100644, sha)], None),
                             ([(b"a", 0o100644, sha), (b"c", 0o100600, sha), (b"e", 0o100644, sha)],
                              "invalid mode 100600"),
                             ([(b"a", 0o100644, sha), (b".git", 0o100644, sha), (b"e", 0o100644, sha)],
                              "invalid name b'.git'")]:
        assert reread_problem(previous, reparse(previous, _raw_tree(entries))) == problem


def _git_order(files: dict[bytes, tuple[int, bytes]]) -> list[tuple[bytes, int, bytes]]:
    return sorted(((n, mode, sha) for n, (mode, sha) in files.items()),
                  key=lambda e: e[0] + b"/" if e[1] == 0o040000 else e[0])


def test_unreadable_trees_are_value_errors() -> None:
    for raw in (b"100644 a", b"0100644 a\0" + b"x" * 20, b"100644 a\0" + b"x" * 5, b"1x0644 a\0" + b"x" * 20):
        with pytest.raises(ValueError):
            parse_entries(raw)


# --- Git's own verdict -------------------------------------------------------------------

GIT = shutil.which("git")
PROTECT = ["-c", "core.protectNTFS=true", "-c", "core.protectHFS=true"]


def write_repository(directory: Path, files: dict[str, bytes]) -> bytes:
    """A bare repository whose master is one commit of these files; returns the tree id."""
    repo = Repo.init_bare(str(directory), mkdir=True)
    entries = {}
    for path, content in files.items():
        blob = Blob.from_string(content)
        repo.object_store.add_object(blob)
        entries[path] = (0o100644, blob.id)
    root, trees = build_tree(entries)
    for tree_object in trees:
        repo.object_store.add_object(Tree.from_raw_string(Tree.type_num, tree_object.data))
    commit = Commit()
    commit.tree = root
    commit.author = commit.committer = b"gitaccess <gitaccess@localhost>"
    commit.author_time = commit.commit_time = 1700000000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"Wiki pages\n"
    repo.object_store.add_object(commit)
    repo.refs[b"refs/heads/master"] = commit.id
    repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/master")
    repo.close()
    return root


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or "/nonexistent"), **(env or {})}
    return subprocess.run([GIT, *PROTECT, *args], capture_output=True, text=True, cwd=cwd, env=environment)


def git_accepts(tmp_path: Path, files: dict[str, bytes]) -> tuple[bool, str]:
    """fsck --strict, read-tree and a checkout, all with NTFS and HFS protection on."""
    bare = tmp_path / "repo.git"
    tree_id = write_repository(bare, files)
    fsck = git("--git-dir", str(bare), "fsck", "--strict", "--no-dangling")
    if fsck.returncode:
        return False, fsck.stdout + fsck.stderr
    index = {"GIT_INDEX_FILE": str(tmp_path / "index")}
    read = git("--git-dir", str(bare), "read-tree", tree_id.decode(), env=index)
    if read.returncode:
        return False, read.stderr
    clone = git("clone", "--quiet", str(bare), str(tmp_path / "checkout"), cwd=tmp_path)
    if clone.returncode:
        return False, clone.stderr
    return True, ""


HOSTILE_PAGES = [
    (MAIN, "Who*", "wikitext"),
    (MAIN, 'Say_"hi"', "wikitext"),
    (MAIN, "A:b", "wikitext"),
    (MAIN, "Back\\slash", "wikitext"),
    (MAIN, "Question?", "wikitext"),
    (TALK, "CON", "wikitext"),
    (TALK, "Aux.txt", "wikitext"),
    (TALK, "COM1", "wikitext"),
    (TALK, "LPT9", "wikitext"),
    (TALK, "Nul.wiki", "wikitext"),
    (TALK, "Conin$", "wikitext"),
    (GITACCESS_ROOT, "con", "text"),
    (GITACCESS_ROOT, "aux.txt", "text"),
    (GITACCESS_ROOT, "COM\u00b9", "text"),
    (GITACCESS_ROOT, "lpt9.md", "text"),
    (GITACCESS_ROOT, "Trailing.", "text"),
    (GITACCESS_ROOT, "Trailing...", "text"),
    (GITACCESS_ROOT, ".git", "text"),
    (GITACCESS_ROOT, ".GIT", "text"),
    (GITACCESS_ROOT, ".Git.", "text"),
    (GITACCESS_ROOT, "git~1", "text"),
    (GITACCESS_ROOT, "GIT~1", "text"),
    (GITACCESS_ROOT, ".g\u200cit", "text"),
    (GITACCESS_ROOT, ".\ufeffgit", "text"),
    (GITACCESS_ROOT, ".gitattributes", "text"),
    (GITACCESS_ROOT, "README.md", "text"),
    (GITACCESS_ROOT, "Aliases.xml", "text"),
    (GITACCESS_ROOT, "talk", "text"),
    (GITACCESS_ROOT, "(Main)", "text"),
    (USER, "Alice", "wikitext"),
    (USER, "Alice/Sandbox", "wikitext"),
    (USER, "Alice/.git/config", "wikitext"),
    (USER, "Alice/git~1/x", "wikitext"),
    (USER, "Alice/CON/x", "wikitext"),
    (USER, "Alice./x", "wikitext"),
    (USER, "ALICE/y", "wikitext"),
    (USER, "Alice/common.js", "javascript"),
    (USER, "Alice/common.css", "css"),
    (MAIN, "Foo", "wikitext"),
    (MAIN, "FOO", "wikitext"),
    (MAIN, "Foo.wiki", "wikitext"),
    (MAIN, "Straße", "wikitext"),
    (MAIN, "STRASSE", "wikitext"),
    (MAIN, "Caf\u00e9", "wikitext"),
    (MAIN, "Cafe\u0301", "wikitext"),
    (MAIN, "X" * 255, "wikitext"),
    (MAIN, "*" * 100, "wikitext"),
    (MAIN, "\u00c9" * 127, "wikitext"),
    (MAIN, "AC/DC", "wikitext"),
    (MEDIAWIKI, "Common.css", "css"),
    (MEDIAWIKI, "Common.js", "javascript"),
    (MEDIAWIKI, "Data.json", "json"),
    (MEDIAWIKI, "Plain", "css"),
    (MODULE, "Foo", "Scribunto"),
    (MODULE, "Who?", "Scribunto"),
    (FILE, "Picture.png", "wikitext"),
    (MEDIA, "Picture.png", None),
    (FILE, "Who*.png", "wikitext"),
    (MEDIA, "Who*.png", None),
    (MEDIA, "Con.png", None),
    (MEDIA, "Picture.PNG", None),
]


@pytest.mark.skipif(GIT is None, reason="the git client is not installed")
def test_git_accepts_every_path_of_a_hostile_wiki(tree: GitTree, tmp_path: Path) -> None:
    result = place(tree, HOSTILE_PAGES)
    assert result.skipped == {} and len(result.paths) == len(HOSTILE_PAGES)
    files = {path: f"{title}\n".encode() for path, title in result.paths.items()}
    files[ALIASES_FILE] = result.aliases_xml
    for path in files:
        assert is_portable_path(path), path
    assert first_conflict(files) is None
    accepted, output = git_accepts(tmp_path, files)
    assert accepted, output
    checkout = tmp_path / "checkout"
    for path in files:
        assert (checkout / path).read_bytes() == files[path]
    assert AliasRegistry.from_xml((checkout / ALIASES_FILE).read_bytes(), tree.layout) == result.registry
    for path, title in result.paths.items():
        assert tree.path_to_title(path, result.registry).title == title


@pytest.mark.skipif(GIT is None, reason="the git client is not installed")
@pytest.mark.parametrize("name", [".GIT", ".git", "git~1", ".g\u200cit", ".git. ", ".git::$INDEX_ALLOCATION"])
def test_git_refuses_raw_dotgit_names_so_the_check_is_real(tmp_path: Path, name: str) -> None:
    accepted, output = git_accepts(tmp_path, {name: b"x\n", "ok.wiki": b"y\n"})
    assert not accepted
    assert "dotgit" in output.lower() or "invalid path" in output


def test_device_names_are_refused_by_our_check_though_git_on_linux_allows_them() -> None:
    """Git checks Windows device names only in Git for Windows (is_valid_win32_path):
    on this machine only gitaccess's own check stands between 'con' and a clone."""
    for name in ["con", "CON.wiki", "aux.txt", "Lpt9", "COM\u00b9.md"]:
        assert not is_portable_path(name)


# --- Properties over generated titles -------------------------------------------------

ALPHABET = (
    list("abcxyzABCXYZ0129 _-.,;!$&'()+=@^`~%")
    + list(':*?"\\/')
    + list("\u00e9\u00df\u0130\u0131\ufb01\u03a3\u03c3\u03c2\u0416\u65e5\U0001f600")
    + ["\u0301", "\u200c", "\u200d", "\ufeff", "\u206a", "\u212b", "\u212a", "\u1100", "\u1161", "\u00a0"]
)
WORDS = [
    *["CON", "con", "Aux", "nul", "COM1", "lpt9", "COM\u00b9", "CONIN$", ".git", ".GIT", "git~1"],
    *["Foo", "FOO", "foo", "Straße", "STRASSE", "Aliases.xml", "talk", "(Main)", "...", "Main Page"],
    *["x.css", "x.js", "x.json", "x.lua", "x.wiki"],
]
NAMESPACES = [MAIN, TALK, USER, USER_TALK, 4, FILE, MEDIA, MEDIAWIKI, TEMPLATE, 12, 14, MODULE]
NAMESPACES += [GITACCESS_ROOT, RECIPES, RECIPES + 1]
MODELS = [*DEFAULT_EXTENSIONS, "wikitext", "wikitext", "flow-board"]


def random_text(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 5)):
        roll = rng.random()
        if roll < 0.3:
            pieces.append(rng.choice(WORDS))
        elif roll < 0.4:
            pieces.append("/")
        elif roll < 0.45:
            pieces.append(rng.choice("xXé*") * rng.randint(60, 260))
        else:
            pieces.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))))
    return "".join(pieces)


def random_pages(tree: GitTree, rng: random.Random, count: int) -> list[tuple[int, str, str | None]]:
    pages: dict[Title, str | None] = {}
    while len(pages) < count:
        namespace = rng.choice(NAMESPACES)
        title = tree.layout.codec.make_title_safe(namespace, random_text(rng))
        if title is None or title.interwiki or title.fragment:
            continue
        title = Title(title.namespace, title.dbkey)
        model = None if title.namespace == MEDIA else rng.choice(MODELS)
        pages.setdefault(title, model)
        if rng.random() < 0.3:  # a case twin
            twin = tree.layout.codec.make_title_safe(title.namespace, title.dbkey.swapcase())
            if twin is not None and not twin.interwiki and not twin.fragment:
                pages.setdefault(Title(twin.namespace, twin.dbkey), model)
    return [(t.namespace, t.dbkey, m) for t, m in pages.items()]


def check_placement(tree: GitTree, pages, result) -> None:
    included = [p for p in pages if tree.layout.is_included(p[0])]
    assert result.skipped == {}
    assert len(result.paths) == len(included)
    assert first_conflict([*result.paths, ALIASES_FILE]) is None
    models = {Title(ns, key): model for ns, key, model in pages}
    for path, title in result.paths.items():
        assert is_portable_path(path), path
        assert unicodedata.is_normalized("NFC", path)
        resolved = tree.path_to_title(path, result.registry)
        assert resolved.title == title, path
        expected = tree.layout.extension(title.namespace, models[title])
        assert tree.layout.extension(title.namespace, resolved.content_model) == expected
    for alias in result.new_aliases:
        assert not tree.layout.is_canonical(alias.path), alias
    resolved_all = tree.paths_to_titles([*result.paths, ALIASES_FILE], result.registry)
    assert {p: r.title for p, r in resolved_all.items()} == result.paths
    if len(result.registry):
        assert AliasRegistry.from_xml(result.aliases_xml, tree.layout) == result.registry
    build_tree({path: (0o100644, b"0" * 40) for path in result.paths})


@pytest.mark.parametrize("seed", range(40))
def test_paths_and_titles_are_inverse_for_generated_wikis(tree: GitTree, seed: int) -> None:
    rng = random.Random(seed)
    pages = random_pages(tree, rng, 60)
    order = [Title(ns, key) for ns, key, _ in rng.sample(pages, len(pages))]
    first = tree.place(pages, NO_ALIASES, order)
    check_placement(tree, pages, first)
    # The wiki grows: nobody moves, and the new pages fit in.
    grown: dict[tuple[int, str], tuple[int, str, str | None]] = {}
    for ns, key, model in pages + random_pages(tree, rng, 40):
        grown.setdefault((ns, key), (ns, key, model))  # same pages, same models
    more = list(grown.values())
    second = tree.place(more, first.registry, order)
    check_placement(tree, more, second)
    for title, path in first.titles.items():
        assert second.titles[title] == path
    assert set(first.registry).issubset(set(second.registry))


@pytest.mark.skipif(GIT is None, reason="the git client is not installed")
@pytest.mark.parametrize("seed", range(3))
def test_git_accepts_generated_wikis(tree: GitTree, tmp_path: Path, seed: int) -> None:
    rng = random.Random(1000 + seed)
    pages = random_pages(tree, rng, 150)
    result = tree.place(pages, NO_ALIASES)
    files = {path: b"x\n" for path in result.paths}
    if result.aliases_xml:
        files[ALIASES_FILE] = result.aliases_xml
    accepted, output = git_accepts(tmp_path, files)
    assert accepted, output


def test_the_translation_needs_no_database_web_framework_or_network() -> None:
    code = (
        "import sys\n"
        "import gitaccess.tree.gittree, gitaccess.objects.trees\n"
        "bad = [m for m in ('sqlalchemy', 'flask', 'socket', 'urllib.request', 'http.client') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""


@pytest.mark.parametrize("seed", range(4))
def test_claims_given_back_equal_claims_made_afresh(seed: int) -> None:
    """Claiming and releasing paths in any order leaves the same names taken as claiming only the
    paths still held (what a full placement computes)."""
    rng = random.Random(seed)
    kept = Claims()
    held: set[str] = set()
    for _ in range(400):
        if held and rng.random() < 0.4:
            path = rng.choice(sorted(held))
            kept.release(path)
            held.discard(path)
        else:
            path = "/".join(rng.choice(["a", "A", "b", "B/c", "ä"]) for _ in range(rng.randint(1, 3)))
            if kept.conflict(path) is None and path not in held:
                kept.claim(path)
                held.add(path)
        fresh = Claims()
        for path in sorted(held):
            fresh.claim(path)
        probes = ["a", "A", "b", "a/b", "A/b", "B", "B/c", "b/C", "ä/a", "Ä"]
        assert [kept.conflict(p) is None for p in probes] == [fresh.conflict(p) is None for p in probes]


@pytest.mark.parametrize("timestamp, seconds", [
    ("19700101000000", 0), ("20010115192713", 979586833), ("20240229235959", 1709251199),
    ("20380119031408", 2**31),
])
def test_wiki_timestamps_become_seconds_since_1970(timestamp: str, seconds: int) -> None:
    assert epoch(timestamp) == seconds


@pytest.mark.parametrize("timestamp", ["2024022912000", "20230229120000", "20241301000000", "2024-02-29T12:0",
                                       "２０２４０２２９１２００００"])
def test_a_malformed_wiki_timestamp_is_refused(timestamp: str) -> None:
    with pytest.raises(ValueError):
        epoch(timestamp)
