"""gitaccess.tree.layout: the layout rules (docs/repository.md) for one title at a time."""

from __future__ import annotations

import pytest

from gitaccess.config import DEFAULT_EXCLUDED
from gitaccess.errors import ConfigError
from gitaccess.titles.namespaces import (
    FILE,
    GITACCESS_ROOT,
    MAIN,
    MEDIA,
    MEDIAWIKI,
    MODULE,
    PROJECT,
    TALK,
    TEMPLATE,
    USER,
    USER_TALK,
    Namespace,
    Namespaces,
)
from gitaccess.titles.codec import Title, TitleCodec
from gitaccess.tree.layout import Layout, PathError, included_namespaces

RECIPES = 3000


def make_layout(included=(TALK,), excluded=DEFAULT_EXCLUDED, **kwargs) -> Layout:
    namespaces = Namespaces.standard(
        meta="Wikipedia",
        extra=[
            Namespace(RECIPES, "Recipes", "Recipes", subpages=True),
            Namespace(RECIPES + 1, "Recipes talk", "Recipes talk"),
        ],
    )
    codec = TitleCodec(namespaces)
    return Layout(codec, included_namespaces(namespaces, included, excluded), **kwargs)


@pytest.fixture(scope="module")
def layout() -> Layout:
    return make_layout()


@pytest.mark.parametrize(
    "namespace, directory",
    [
        (MAIN, "(Main)"),
        (TALK, "Talk"),
        (USER, "User"),
        (USER_TALK, "User_talk"),
        (PROJECT, "Project"),  # canonical, whatever $wgMetaNamespace says
        (TEMPLATE, "Template"),
        (MODULE, "Module"),
        (MEDIAWIKI, "MediaWiki"),
        (FILE, "File"),
        (MEDIA, "Media"),
        (RECIPES, "Recipes"),
        (GITACCESS_ROOT, ""),
    ],
)
def test_namespace_directories(layout: Layout, namespace: int, directory: str) -> None:
    assert layout.directory(namespace) == directory
    if directory:
        assert layout.namespace_of_directory(directory) == namespace


def test_included_namespaces(layout: Layout) -> None:
    assert layout.is_included(MAIN) and layout.is_included(TALK) and layout.is_included(RECIPES)
    assert not layout.is_included(USER_TALK) and not layout.is_included(-1)
    assert layout.is_included(MEDIA)  # follows File
    no_files = make_layout(excluded=(*DEFAULT_EXCLUDED, FILE))
    assert not no_files.is_included(MEDIA) and not no_files.is_included(FILE)


def test_unportable_or_clashing_namespace_directories_are_configuration_errors() -> None:
    bad = Namespaces.standard(extra=[Namespace(3000, "Con", "Con")])
    with pytest.raises(ConfigError, match="Con"):
        Layout(TitleCodec(bad), {0, 3000})
    clash = Namespaces.standard(extra=[Namespace(3000, "(main)", "(main)")])
    with pytest.raises(ConfigError, match="one directory"):
        Layout(TitleCodec(clash), {0, 3000})
    Layout(TitleCodec(bad), {0})  # an excluded namespace does not matter
    with pytest.raises(ConfigError, match="extension"):
        make_layout(extensions={"wikitext": "wiki"})


@pytest.mark.parametrize(
    "namespace, dbkey, model, path",
    [
        (MAIN, "Main_Page", "wikitext", "(Main)/Main_Page.wiki"),
        (MEDIAWIKI, "Common.css", "css", "MediaWiki/Common.css"),
        (MEDIAWIKI, "Common.js", "javascript", "MediaWiki/Common.js"),
        (MEDIAWIKI, "Data.json", "json", "MediaWiki/Data.json"),
        (MODULE, "Foo", "Scribunto", "Module/Foo.lua"),
        (MODULE, "Foo.lua", "Scribunto", "Module/Foo.lua.lua"),
        (MAIN, "Foo.css", "wikitext", "(Main)/Foo.css.wiki"),
        (MAIN, "Foo.wiki", "wikitext", "(Main)/Foo.wiki.wiki"),
        (MAIN, "Notes", "text", "(Main)/Notes.txt"),
        (MAIN, "Odd", "flow-board", "(Main)/Odd.txt"),
        (TEMPLATE, "Box/styles.css", "sanitized-css", "Template/Box/styles.css"),
        (USER, "Alice", "wikitext", "User/Alice.wiki"),
        (USER, "Alice/Sandbox", "wikitext", "User/Alice/Sandbox.wiki"),
        (USER, "Alice/common.js", "javascript", "User/Alice/common.js"),
        (FILE, "X.png", "wikitext", "File/X.png.wiki"),
        (MEDIA, "X.png", None, "Media/X.png"),
        (GITACCESS_ROOT, "README.md", "text", "README.md"),
        (GITACCESS_ROOT, ".gitattributes", "wikitext", ".gitattributes"),
        (RECIPES, "Soup/Tomato", "wikitext", "Recipes/Soup/Tomato.wiki"),
    ],
)
def test_natural_paths_read_back(layout: Layout, namespace: int, dbkey: str, model: str | None, path: str) -> None:
    title = Title(namespace, dbkey)
    assert layout.natural_path(title, model) == path
    assert layout.natural_problem(title, model) is None
    back = layout.read_path(path)
    assert back.title == title
    if model != "flow-board":  # an unknown model reads back as text, with the same extension
        assert layout.extension(namespace, back.content_model) == layout.extension(namespace, model)
    assert layout.is_canonical(path)


def test_models_follow_extensions(layout: Layout) -> None:
    assert layout.read_path("(Main)/Foo.wiki").content_model == "wikitext"
    assert layout.read_path("MediaWiki/Foo.css").content_model == "css"  # css before sanitized-css
    assert layout.read_path("MediaWiki/Foo.js").content_model == "javascript"
    assert layout.read_path("MediaWiki/Foo.json").content_model == "json"
    assert layout.read_path("Module/Foo.lua").content_model == "Scribunto"
    assert layout.read_path("(Main)/Foo.txt").content_model == "text"
    assert layout.read_path("README.md").content_model == "text"
    assert layout.read_path("Media/X.png").content_model is None
    custom = make_layout(extensions={"wikitext": ".wiki", "markdown": ".md"})
    assert custom.natural_path(Title(MAIN, "Doc"), "markdown") == "(Main)/Doc.md"
    assert custom.read_path("(Main)/Doc.md") == (Title(MAIN, "Doc"), "markdown")


@pytest.mark.parametrize(
    "namespace, dbkey, model, rule",
    [
        (MAIN, "Who*", "wikitext", "'*'"),
        (MAIN, "AC/DC", "wikitext", "no subpages"),
        (FILE, "A/B.png", "wikitext", "no subpages"),
        (USER, "/Leading", "wikitext", "start or the end"),
        (USER, "Trailing/", "wikitext", "start or the end"),
        (USER, "Double//Slash", "wikitext", "doubled"),
        (USER, "CON/Notes", "wikitext", "reserved device"),
        (USER, "Alice./Notes", "wikitext", "trailing dot"),
        (TALK, "CON", "wikitext", "reserved device"),
        (TALK, "Aux.txt", "wikitext", "reserved device"),
        (MEDIAWIKI, "Foo", "css", "would read back as 'MediaWiki:Foo.css'"),
        (GITACCESS_ROOT, "Aliases.xml", "text", "reserved at the repository root"),
        (GITACCESS_ROOT, "talk", "text", "reserved at the repository root"),
        (GITACCESS_ROOT, ".git", "text", "'.git'"),
        (GITACCESS_ROOT, "docs/intro.md", "text", "root"),
        (MAIN, "X" * 255, "wikitext", "260 bytes"),
        (MAIN, "Cafe\u0301", "wikitext", "NFC"),
        (USER_TALK, "Alice", "wikitext", "not in the repository"),
    ],
)
def test_natural_problems(layout: Layout, namespace: int, dbkey: str, model: str, rule: str) -> None:
    problem = layout.natural_problem(Title(namespace, dbkey), model)
    assert problem and rule in problem


@pytest.mark.parametrize(
    "path, title",
    [
        ("(Main)/foo bar.wiki", Title(MAIN, "Foo_bar")),
        ("(Main)/Cafe\u0301.wiki", Title(MAIN, "Caf\u00e9")),
        ("User/alice/x.wiki", Title(USER, "Alice/x")),
        ("(Main)/Talk:Foo.wiki", Title(TALK, "Foo")),
        ("Talk/CON_.wiki", Title(TALK, "CON")),
    ],
)
def test_non_canonical_paths_read_as_their_title(layout: Layout, path: str, title: Title) -> None:
    assert layout.read_path(path).title == title
    assert not layout.is_canonical(path)


@pytest.mark.parametrize(
    "path, message",
    [
        ("Aliases.xml", "alias registry"),
        ("Nowhere/Foo.wiki", "not a namespace directory"),
        ("(Main)/Foo.png", "unknown file extension"),
        ("(Main)/a/b.wiki", "no subpages"),
        ("Media/a/b.png", "no subpages"),
        ("(Main)/A[1].wiki", "no valid title"),
        ("(Main)/Who%2A.wiki", "no valid title"),
        ("(Main)/a//b.wiki", "empty path component"),
        ("(Main)/.wiki", "unknown file extension"),
        ("(Main)/Foo#bar.wiki", "link"),
    ],
)
def test_paths_that_read_as_no_page(layout: Layout, path: str, message: str) -> None:
    with pytest.raises(PathError, match=message) as info:
        layout.read_path(path)
    assert str(info.value).startswith(path)
    assert not layout.is_canonical(path)
