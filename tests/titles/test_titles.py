"""Tests of the namespace table (gitaccess.titles.namespaces) and the title codec (gitaccess.titles.codec).

test_mediawiki_case runs every case of shared/fixtures/titles/mw-title-cases.json:
title-parsing cases extracted from MediaWiki core's PHPUnit data providers
(tests/phpunit/includes/title/TitleParserTest.php and TitleTest.php, by the
MediaWiki contributors, GPL-2.0-or-later), with the results a MediaWiki 1.39.17
gave for them. The cases assume the environment of those tests: English,
$wgCapitalLinks, meta namespace "Project", interwiki prefixes localtestiw
(local), remotetestiw, acme, wiki and wikipedia; three use German.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gitaccess.errors import GitAccessError
from tests.conftest import SHARED
from gitaccess.titles.namespaces import Namespace, Namespaces
from gitaccess.titles.codec import InvalidTitle, Title, TitleCodec

FIXTURE = SHARED / "fixtures" / "titles" / "mw-title-cases.json"

INTERWIKIS = ("remotetestiw", "acme", "wiki", "wikipedia")
LOCAL_INTERWIKIS = ("localtestiw",)

#: German local names and aliases (MessagesDe.php), including the gender forms of User.
GERMAN = {
    -2: ("Medium", ()),
    -1: ("Spezial", ()),
    1: ("Diskussion", ()),
    2: ("Benutzer", ("Benutzerin",)),
    3: ("Benutzer Diskussion", ("Benutzerin Diskussion",)),
    5: ("Project Diskussion", ()),
    6: ("Datei", ("Bild",)),
    7: ("Datei Diskussion", ("Bild Diskussion",)),
    9: ("MediaWiki Diskussion", ()),
    10: ("Vorlage", ()),
    11: ("Vorlage Diskussion", ()),
    12: ("Hilfe", ()),
    13: ("Hilfe Diskussion", ()),
    14: ("Kategorie", ()),
    15: ("Kategorie Diskussion", ()),
}


def german_namespaces() -> Namespaces:
    return Namespaces(
        dataclasses.replace(ns, name=GERMAN[ns.id][0], aliases=GERMAN[ns.id][1])
        if ns.id in GERMAN
        else ns
        for ns in Namespaces.standard()
    )


CODECS = {
    language: TitleCodec(namespaces, interwikis=INTERWIKIS, local_interwikis=LOCAL_INTERWIKIS)
    for language, namespaces in (("en", Namespaces.standard()), ("de", german_namespaces()))
}
EN = CODECS["en"]


# --- MediaWiki's own cases ---------------------------------------------------


def load_cases() -> list[Any]:
    cases = json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"] if FIXTURE.exists() else []
    return [pytest.param(case, id=short_id(case)) for case in cases]


def short_id(case: dict[str, Any]) -> str:
    """"TitleParserTest.php::provideParseTitle::0" from the case's full id."""
    source_file = case["source_file"]
    return case["id"].replace(source_file, source_file.rsplit("/", 1)[-1].split("@")[0])


def case_input(case: dict[str, Any]) -> str:
    """The input text; bytes that are not UTF-8 come through as surrogate escapes."""
    if case["input"] is None:
        return bytes.fromhex(case["input_hex"]).decode("utf-8", "surrogateescape")
    return str(case["input"])


def expected_error(case: dict[str, Any]) -> str | None:
    return case.get("expected_error") or case["oracle_mw_1_39_17"].get("error")


def assert_expected_title(title: Title, case: dict[str, Any]) -> None:
    for field in ("namespace", "dbkey", "fragment", "interwiki"):
        if f"expected_{field}" in case:
            assert getattr(title, field) == case[f"expected_{field}"], field


@pytest.mark.parametrize("case", load_cases())
def test_mediawiki_case(case: dict[str, Any]) -> None:
    codec = CODECS[case["content_language"]]
    method = case["method"]
    text = case_input(case)
    namespace = case["namespace_default"]

    if method in ("TitleParser::parseTitle", "Title::newFromText"):
        if case["valid"]:
            assert_expected_title(codec.parse(text, namespace), case)
        else:
            with pytest.raises(InvalidTitle) as raised:
                codec.parse(text, namespace)
            if expected_error(case):
                assert raised.value.key == expected_error(case)

    elif method in ("TitleParser::makeTitleValueSafe", "Title::makeTitleSafe"):
        title = codec.make_title_safe(
            namespace, text, case.get("fragment_arg") or "", case.get("interwiki_arg") or ""
        )
        if not case["valid"]:
            assert title is None
        else:
            assert title is not None
            assert_expected_title(title, case)
            if "expected_full_text" in case:
                assert codec.full_text(title) == case["expected_full_text"]

    else:
        assert codec.namespaces[namespace].subpages == case["namespace_has_subpages"]
        title = Title(namespace, text)
        accessor = {
            "Title::makeTitle(ns, dbkey)->getBaseText()": codec.base_text,
            "Title::makeTitle(ns, dbkey)->getRootText()": codec.root_text,
            "Title::makeTitle(ns, dbkey)->getSubpageText()": codec.subpage_text,
        }[method]
        assert accessor(title) == case["expected_text_result"]


def test_fixture_is_complete() -> None:
    assert len(load_cases()) == 393


# --- Namespaces ----------------------------------------------------------------


def test_standard_table() -> None:
    namespaces = Namespaces.standard()
    assert [ns.id for ns in namespaces] == [*range(-2, 16), 730, 731, 828, 829]
    assert namespaces[3].canonical == namespaces[3].name == "User talk"
    assert namespaces[0].canonical == ""
    assert namespaces[730].canonical == "GitAccess root"
    assert not namespaces[730].capitalize and not namespaces[731].capitalize
    assert not namespaces[730].subpages and namespaces[731].subpages
    assert namespaces[828].subpages and not namespaces[0].subpages and not namespaces[6].subpages
    assert 4 in namespaces and 100 not in namespaces and "4" not in namespaces
    with pytest.raises(KeyError):
        namespaces[100]


def test_talk_and_subject_ids() -> None:
    namespaces = Namespaces.standard()
    assert namespaces[3].is_talk and namespaces[3].subject_id == 2 and namespaces[3].talk_id == 3
    assert not namespaces[2].is_talk and namespaces[2].talk_id == 3
    assert not namespaces[0].is_talk and namespaces[0].talk_id == 1
    assert namespaces[-1].talk_id is None and namespaces[-1].subject_id == -1


def test_find_by_canonical_local_name_or_alias() -> None:
    namespaces = Namespaces.standard(meta="My Wiki")
    assert namespaces[4].name == "My Wiki" and namespaces[4].canonical == "Project"
    assert namespaces[5].name == "My Wiki talk"
    assert namespaces.find("my_wiki") == 4
    assert namespaces.find("MY WIKI TALK") == 5
    assert namespaces.find("Project") == 4
    assert namespaces.find("project_talk") == 5
    assert namespaces.find("image") == 6
    assert namespaces.find("Image_talk") == 7
    assert namespaces.find("user__talk") is None
    assert namespaces.find("Nowhere") is None
    assert namespaces.find("") is None


def test_find_is_unicode_case_insensitive() -> None:
    namespaces = Namespaces([Namespace(0, "", ""), Namespace(100, "Élan", "Élan")])
    assert namespaces.find("élan") == 100


def test_meta_namespace_in_dbkey_form() -> None:
    namespaces = Namespaces.standard(meta="My_Wiki")
    assert namespaces[4].name == "My Wiki"


def test_capital_links_false_keeps_always_capitalized_namespaces() -> None:
    namespaces = Namespaces.standard(capital_links=False)
    assert [ns.id for ns in namespaces if ns.capitalize] == [-1, 2, 3, 8, 9]


def test_subpages_setting() -> None:
    namespaces = Namespaces.standard(subpages=[0])
    assert [ns.id for ns in namespaces if ns.subpages] == [0]


def test_extra_namespace_adds_or_replaces() -> None:
    portal = Namespace(100, "Portal", "Portal", aliases=("P",), subpages=True)
    namespaces = Namespaces.standard(extra=[portal, Namespace(12, "Help", "Aide")])
    assert namespaces[100] is portal
    assert namespaces.find("p") == 100
    assert namespaces.find("Aide") == 12 and namespaces.find("Help") == 12


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        Namespaces([Namespace(0, "", ""), Namespace(0, "", "")])


# --- The codec beyond MediaWiki's cases ---------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Main Page",
        "User talk:Alice/Notes#Section one",
        "Project:About",
        "Template:Infobox person",
        "Module:Arguments/doc",
        "GitAccess root:README.md",
        "Special:Block/Alice",
        "Category:Foo:Bar",
        "remotetestiw:Some page#x",
        "#Top",
        "File:Ärger.jpg",
        "User:::1",
    ],
)
def test_full_text_round_trip(text: str) -> None:
    title = EN.parse(text)
    assert EN.parse(EN.full_text(title)) == title


def test_full_text_forms() -> None:
    title = Title(3, "Alice_Smith", "Some section", "")
    assert EN.full_text(title) == "User talk:Alice Smith#Some section"
    assert EN.full_text(Title(0, "Foo_bar", interwiki="acme")) == "acme:Foo bar"
    german = CODECS["de"]
    assert german.full_text(title, canonical=False) == "Benutzer Diskussion:Alice Smith#Some section"
    assert german.full_text(title) == "User talk:Alice Smith#Some section"


def test_non_english_local_names() -> None:
    german = CODECS["de"]
    assert german.parse("Benutzer Diskussion:lisa") == Title(3, "Lisa")
    assert german.parse("bild:x.png") == Title(6, "X.png")
    assert german.parse("File:x.png") == Title(6, "X.png")
    with pytest.raises(InvalidTitle) as raised:
        german.parse("Diskussion:Datei:x")
    assert raised.value.key == "title-invalid-talk-namespace"


def test_capital_links_false() -> None:
    codec = TitleCodec(Namespaces.standard(capital_links=False))
    assert codec.parse("foo bar") == Title(0, "foo_bar")
    assert codec.parse("Talk:foo") == Title(1, "foo")
    assert codec.parse("User:alice") == Title(2, "Alice")
    assert codec.parse("MediaWiki talk:common.css") == Title(9, "Common.css")


def test_root_namespace_is_case_sensitive_without_subpages() -> None:
    title = EN.parse("GitAccess_root:.gitattributes")
    assert title == Title(730, ".gitattributes")
    assert EN.parse("GitAccess root:docs/readme.md").dbkey == "docs/readme.md"
    assert EN.base_text(EN.parse("GitAccess root:docs/readme.md")) == "docs/readme.md"


def test_custom_extra_namespace() -> None:
    namespaces = Namespaces.standard(
        extra=[
            Namespace(100, "Portal", "Portal", aliases=("P",), subpages=True),
            Namespace(101, "Portal talk", "Portal talk", subpages=True),
            Namespace(102, "Code", "Code", capitalize=False),
        ]
    )
    codec = TitleCodec(namespaces)
    assert codec.parse("p:science/physics") == Title(100, "Science/physics")
    assert codec.subpage_text(codec.parse("Portal:Science/Physics")) == "Physics"
    assert codec.parse("code:main.py") == Title(102, "main.py")
    assert codec.full_text(codec.parse("P:X")) == "Portal:X"
    with pytest.raises(InvalidTitle):
        codec.parse("Talk:Portal talk:X")


def test_subpage_texts_honour_namespace_settings() -> None:
    assert EN.base_text(EN.parse("User:A/B/C")) == "A/B"
    assert EN.root_text(EN.parse("User:A/B/C")) == "A"
    assert EN.subpage_text(EN.parse("User:A/B/C")) == "C"
    assert EN.base_text(EN.parse("A/B/C")) == "A/B/C"
    assert EN.subpage_text(EN.parse("File:A/B.png")) == "A/B.png"


def test_interwikis_only_when_configured() -> None:
    bare = TitleCodec(Namespaces.standard())
    assert bare.parse("acme:Foo") == Title(0, "Acme:Foo")
    assert EN.parse("ACME:foo") == Title(0, "foo", interwiki="acme")
    assert EN.parse("localtestiw:user:alice") == Title(2, "Alice")


def test_local_interwiki_alone_is_the_main_page() -> None:
    codec = TitleCodec(Namespaces.standard(meta="Wiki"), local_interwikis=["self"], main_page="Wiki:Start")
    assert codec.parse("self:") == Title(4, "Start")


def test_ucfirst_exceptions() -> None:
    assert EN.parse("ßtraße") == Title(0, "ßtraße")
    assert EN.parse("ﬁsh") == Title(0, "ﬁsh")
    assert EN.parse("ǆungla") == Title(0, "Ǆungla")
    assert EN.parse("élan") == Title(0, "Élan")
    assert EN.parse("ვიკი") == Title(0, "ვიკი")
    assert EN.parse("ıstanbul") == Title(0, "Istanbul")


def test_character_references() -> None:
    assert EN.parse("AT&amp;T") == Title(0, "AT&T")
    assert EN.parse("Caf&eacute;") == Title(0, "Café")
    assert EN.parse("A&apos;s") == Title(0, "A's")
    # A lone '&' still triggers MediaWiki's NFC normalisation.
    assert EN.parse("Cafe\u0301 & bar") == Title(0, "Caf\u00e9_&_bar")
    assert EN.parse("Cafe\u0301") == Title(0, "Cafe\u0301")
    # Decoded before splitting, so &#35; is a fragment separator.
    assert EN.parse("A&#35;B") == Title(0, "A", "B")
    for text, key in [
        ("A&nosuchentity;", "title-invalid-characters"),
        ("A&#1;", "title-invalid-utf8"),
        ("A&#xD800;", "title-invalid-utf8"),
        ("A&#60;B", "title-invalid-characters"),
    ]:
        with pytest.raises(InvalidTitle) as raised:
            EN.parse(text)
        assert raised.value.key == key, text


def test_make_title_safe_does_not_decode_references() -> None:
    assert EN.make_title_safe(0, "AT&amp;T") is None
    assert EN.make_title_safe(2, "alice") == Title(2, "Alice")


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("::1", "0:0:0:0:0:0:0:1"),
        ("::", "0:0:0:0:0:0:0:0"),
        ("2001:db8::ff00:42:8329", "2001:DB8:0:0:0:FF00:42:8329"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:DB8:0:0:0:FF00:42:8329"),
        ("fe80::", "FE80:0:0:0:0:0:0:0"),
        ("2001:db8::/32", "2001:DB8:0:0:0:0:0:0/32"),
        ("010.001.000.100", "10.1.0.100"),
        ("1.2.3.4/024", "1.2.3.4/024"),
        ("1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8:9"),
        ("1::2::3", "1::2::3"),
        ("Not an IP", "Not_an_IP"),
    ],
)
def test_ip_user_names(name: str, normalised: str) -> None:
    assert EN.parse(f"User:{name}") == Title(2, normalised)
    assert EN.parse(f"User talk:{name}").dbkey == normalised


def test_ip_normalisation_only_in_user_namespaces() -> None:
    assert EN.parse("Help:fe80::1") == Title(12, "Fe80::1")
    assert EN.parse("User:fe80::1") == Title(2, "FE80:0:0:0:0:0:0:1")


def test_utf8_errors() -> None:
    for text in ["A\udc96B", "A\ufffdB", "A#\ufffd"]:
        with pytest.raises(InvalidTitle) as raised:
            EN.parse(text)
        assert raised.value.key == "title-invalid-utf8"


def test_special_pages_may_be_longer() -> None:
    assert EN.parse("Special:" + "é" * 256).namespace == -1
    with pytest.raises(InvalidTitle) as raised:
        EN.parse("Special:" + "é" * 257)
    assert raised.value.key == "title-invalid-too-long"
    with pytest.raises(InvalidTitle):
        EN.parse("é" * 128)


def test_invalid_title_message() -> None:
    with pytest.raises(InvalidTitle) as raised:
        EN.parse("Foo [bar]")
    error = raised.value
    assert isinstance(error, ValueError) and isinstance(error, GitAccessError)
    assert error.key == "title-invalid-characters"
    assert error.title == "Foo [bar]"
    assert "Foo [bar]" in str(error) and "'['" in str(error)


def test_unknown_default_namespace() -> None:
    with pytest.raises(ValueError, match="unknown default namespace 4242"):
        EN.parse("Foo", 4242)
    assert EN.make_title_safe(4242, "Foo") is None
