"""gitaccess.tree.aliases: the registry value and Aliases.xml both ways."""

from __future__ import annotations

import pytest

from gitaccess.config import DEFAULT_EXCLUDED
from gitaccess.titles.namespaces import GITACCESS_ROOT, MAIN, MEDIA, TALK, USER, Namespaces
from gitaccess.titles.codec import Title, TitleCodec
from gitaccess.tree.aliases import Alias, AliasesError, AliasRegistry
from gitaccess.tree.layout import Layout, included_namespaces


@pytest.fixture(scope="module")
def layout() -> Layout:
    namespaces = Namespaces.standard()
    return Layout(TitleCodec(namespaces), included_namespaces(namespaces, (TALK,), DEFAULT_EXCLUDED))


DESIGN_EXAMPLE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<aliases>\n"
    b'  <alias path="(Main)/Who_x.wiki" title="Who*"/>\n'
    b'  <alias path="Talk/CON_.wiki" title="Talk:CON"/>\n'
    b"</aliases>\n"
)


def xml(*lines: str) -> bytes:
    body = "".join(f"  {line}\n" for line in lines)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<aliases>\n{body}</aliases>\n'.encode()


# --- The registry value ----------------------------------------------------------


def test_registry_is_sorted_and_looks_up_both_ways() -> None:
    con, who = Alias("Talk/CON_.wiki", Title(TALK, "CON")), Alias("(Main)/Who%2A.wiki", Title(MAIN, "Who*"))
    registry = AliasRegistry([con, who])
    assert [a.path for a in registry] == ["(Main)/Who%2A.wiki", "Talk/CON_.wiki"]
    assert registry.path_for(Title(TALK, "CON")) == "Talk/CON_.wiki"
    assert registry.title_for("(Main)/Who%2A.wiki") == Title(MAIN, "Who*")
    assert registry.path_for(Title(MAIN, "Other")) is None and registry.title_for("x") is None
    assert len(registry) == 2 and len(AliasRegistry()) == 0


def test_registry_refuses_duplicates_and_case_clashes() -> None:
    with pytest.raises(AliasesError, match="twice"):
        AliasRegistry([Alias("(Main)/A_.wiki", Title(MAIN, "A")), Alias("(Main)/A_.wiki", Title(MAIN, "B"))])
    with pytest.raises(AliasesError, match="same page"):
        AliasRegistry([Alias("(Main)/A_.wiki", Title(MAIN, "A")), Alias("(Main)/A__.wiki", Title(MAIN, "A"))])
    with pytest.raises(AliasesError, match="one name"):
        AliasRegistry([Alias("(Main)/a_.wiki", Title(MAIN, "A")), Alias("(Main)/A_.wiki", Title(MAIN, "B"))])
    with pytest.raises(AliasesError, match="one name"):
        AliasRegistry([Alias("User/x/A_.wiki", Title(USER, "A")), Alias("User/X/B_.wiki", Title(USER, "B"))])
    with pytest.raises(AliasesError, match="not allowed"):
        AliasRegistry([Alias("(Main)/Who*.wiki", Title(MAIN, "Who*"))])
    with pytest.raises(AliasesError, match="Aliases.xml"):
        AliasRegistry([Alias("Aliases.xml", Title(GITACCESS_ROOT, "Aliases.xml"))])


def test_with_aliases_adds_and_replaces_by_title() -> None:
    registry = AliasRegistry([Alias("Module/Who%2A.lua", Title(828, "Who*"))])
    new = [Alias("Module/Who%2A.wiki", Title(828, "Who*")), Alias("Talk/CON_.wiki", Title(TALK, "CON"))]
    updated = registry.with_aliases(new)
    assert list(updated) == new
    assert list(registry) == [Alias("Module/Who%2A.lua", Title(828, "Who*"))]  # immutable


# --- Aliases.xml generation ------------------------------------------------------


def test_design_example_round_trips_byte_for_byte(layout: Layout) -> None:
    registry = AliasRegistry.from_xml(DESIGN_EXAMPLE, layout)
    assert list(registry) == [
        Alias("(Main)/Who_x.wiki", Title(MAIN, "Who*")),
        Alias("Talk/CON_.wiki", Title(TALK, "CON")),
    ]
    assert registry.to_xml(layout.codec) == DESIGN_EXAMPLE


def test_generation_uses_canonical_namespace_names_and_escapes(layout: Layout) -> None:
    localized = Namespaces.standard(meta="Wikipedia")
    codec = TitleCodec(localized)
    registry = AliasRegistry(
        [
            Alias("Project/Q%3F.wiki", Title(4, "Q?")),
            Alias("(Main)/Say%22hi%22.wiki", Title(MAIN, 'Say"hi"')),
            Alias("(Main)/A&B%2A.wiki", Title(MAIN, "A&B*")),
        ]
    )
    assert registry.to_xml(codec) == xml(
        '<alias path="(Main)/A&amp;B%2A.wiki" title="A&amp;B*"/>',
        '<alias path="(Main)/Say%22hi%22.wiki" title="Say&quot;hi&quot;"/>',
        '<alias path="Project/Q%3F.wiki" title="Project:Q?"/>',
    )
    assert AliasRegistry.from_xml(registry.to_xml(codec), layout) == registry


def test_unicode_titles_and_paths_round_trip(layout: Layout) -> None:
    registry = AliasRegistry(
        [Alias("(Main)/Caf%CC%81.wiki", Title(MAIN, "Cafe\u0301")), Alias("User/Ærø/%3F.wiki", Title(USER, "Ærø/?"))]
    )
    data = registry.to_xml(layout.codec)
    assert "Ærø".encode() in data
    assert AliasRegistry.from_xml(data, layout) == registry


# --- Aliases.xml parsing ------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not well-formed"),
        (b"<aliases>", "line 1: not well-formed"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE aliases [<!ENTITY x "y">]>\n<aliases/>\n',
            "DOCTYPE",
        ),
        (b'<!DOCTYPE aliases SYSTEM "http://example.invalid/a.dtd">\n<aliases/>\n', "DOCTYPE"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>\n'
            b"<aliases>&b;</aliases>",
            "DOCTYPE",
        ),
        (xml('<alias path="(Main)/A_.wiki" title="&unknown;"/>'), "not well-formed"),
        (b'<?xml version="1.0" encoding="UTF-8"?>\n<alias/>\n', "root element must be <aliases>"),
        (b'<?xml version="1.0" encoding="UTF-8"?>\n<aliases version="2">\n</aliases>\n', "no attributes"),
        (xml('<other path="a" title="b"/>'), "line 3: unknown element <other>"),
        (xml("<!-- a comment -->"), "line 3: only <alias> elements"),
        (xml('<alias path="(Main)/A_.wiki" title="A" extra="1"/>'), "unknown attribute 'extra'"),
        (xml('<alias path="(Main)/A_.wiki"/>'), "needs a non-empty 'title'"),
        (xml('<alias path="" title="A"/>'), "needs a non-empty 'path'"),
        (xml('<alias path="(Main)/A_.wiki" title="A">text</alias>'), "must be empty"),
        (xml('<alias path="(Main)/A_.wiki" title="A"><x/></alias>'), "must be empty"),
        (
            xml('<alias path="(Main)/Who*.wiki" title="Who*"/>'),
            "line 3: alias path '(Main)/Who*.wiki': 'Who*.wiki': '*' is not allowed",
        ),
        (xml('<alias path="/(Main)/A_.wiki" title="A"/>'), "absolute"),
        (xml('<alias path="(Main)/../A_.wiki" title="A"/>'), "'..'"),
        (xml('<alias path="(Main)//A_.wiki" title="A"/>'), "empty component"),
        (xml('<alias path="(Main)/a\\b.wiki" title="A"/>'), "not allowed"),
        (xml('<alias path="Talk/CON.wiki" title="Talk:CON"/>'), "reserved device"),
        (xml('<alias path="(Main)/.git/A_.wiki" title="A"/>'), "'.git'"),
        (xml('<alias path="Aliases.xml" title="GitAccess root:Aliases.xml"/>'), "cannot be an alias"),
        (xml('<alias path="(Main)/A_.wiki" title="A[1]"/>'), "title 'A[1]'"),
        (xml('<alias path="(Main)/A_.wiki" title=""/>'), "non-empty 'title'"),
        (xml('<alias path="(Main)/A_.wiki" title="Foo#bar"/>'), "is a link"),
        (xml('<alias path="(Main)/A_.wiki" title="talk:a"/>'), "write the title 'talk:a' as 'Talk:A'"),
        (xml('<alias path="(Main)/A_.wiki" title="Foo_bar"/>'), "as 'Foo bar'"),
        (xml('<alias path="User/A_.wiki" title="A"/>'), "must be in the directory (Main)/"),
        (xml('<alias path="(Main)/sub/A_.wiki" title="A"/>'), "no subdirectories"),
        (xml('<alias path="(Main)/A_.png" title="A"/>'), "no known extension"),
        (xml('<alias path="Media/a/B_.png" title="Media:B.png"/>'), "no subdirectories"),
        (xml('<alias path="template" title="GitAccess root:T"/>'), "reserved at the root"),
        (xml('<alias path="x/README_" title="GitAccess root:README"/>'), "repository root"),
        (
            xml('<alias path="(Main)/A_.wiki" title="A"/>', '<alias path="(Main)/A_.wiki" title="B"/>'),
            "line 4: path '(Main)/A_.wiki' is already on line 3",
        ),
        (
            xml('<alias path="(Main)/A_.wiki" title="A"/>', '<alias path="(Main)/A__.wiki" title="A"/>'),
            "line 4: title 'A' is already on line 3: two files for one page",
        ),
        (
            xml('<alias path="(Main)/A_.wiki" title="A"/>', '<alias path="(Main)/a_.wiki" title="B"/>'),
            "one name on Windows",
        ),
        (
            xml('<alias path="(Main)/B_.wiki" title="B"/>', '<alias path="(Main)/A_.wiki" title="A"/>'),
            "line 4: entries must be sorted by path",
        ),
        (DESIGN_EXAMPLE.replace(b'"1.0"', b"'1.0'"), "line 1: not in gitaccess's format"),
        (DESIGN_EXAMPLE.replace(b"  <alias path=\"T", b"    <alias path=\"T"), "line 4: not in gitaccess's format"),
        (DESIGN_EXAMPLE.rstrip(b"\n"), "line 5: a final newline is missing"),
        (DESIGN_EXAMPLE + b"\n", "nothing may follow </aliases>"),
        (DESIGN_EXAMPLE.replace(b"\n", b"\r\n"), "not in gitaccess's format"),
        (b"\xef\xbb\xbf" + DESIGN_EXAMPLE, "not in gitaccess's format"),
        (
            DESIGN_EXAMPLE.replace(b'"Who*"', b'"Wh&#111;*"'),
            "not in gitaccess's format",
        ),
    ],
)
def test_parse_refuses(layout: Layout, data: bytes, message: str) -> None:
    with pytest.raises(AliasesError) as info:
        AliasRegistry.from_xml(data, layout)
    assert message in str(info.value)


def test_parse_size_limit(layout: Layout) -> None:
    with pytest.raises(AliasesError, match="more than the limit of 100"):
        AliasRegistry.from_xml(DESIGN_EXAMPLE, layout, max_bytes=100)
    assert len(AliasRegistry.from_xml(DESIGN_EXAMPLE, layout, max_bytes=len(DESIGN_EXAMPLE))) == 2


def test_parse_refuses_external_entities_without_fetching(layout: Layout, tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("leak")
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE aliases [<!ENTITY s SYSTEM "file://' + str(secret).encode() + b'">]>\n'
        b'<aliases>\n  <alias path="(Main)/A_.wiki" title="&s;"/>\n</aliases>\n'
    )
    with pytest.raises(AliasesError, match="DOCTYPE"):
        AliasRegistry.from_xml(data, layout)


def test_parse_accepts_entries_of_excluded_namespaces_and_deleted_pages(layout: Layout) -> None:
    """The registry keeps every alias ever published, whatever the configuration now."""
    data = xml('<alias path="User_talk/CON_.wiki" title="User talk:CON"/>')
    assert AliasRegistry.from_xml(data, layout).title_for("User_talk/CON_.wiki") == Title(3, "CON")


def test_parse_accepts_root_and_media_aliases(layout: Layout) -> None:
    data = xml(
        '<alias path="%2Egit" title="GitAccess root:.git"/>',
        '<alias path="Media/Who%2A.png" title="Media:Who*.png"/>',
    )
    registry = AliasRegistry.from_xml(data, layout)
    assert registry.title_for("%2Egit") == Title(GITACCESS_ROOT, ".git")
    assert registry.title_for("Media/Who%2A.png") == Title(MEDIA, "Who*.png")
