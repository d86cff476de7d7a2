"""gitaccess.tree.naming: readable, portable alias names no title can claim."""

from __future__ import annotations

import pytest

from gitaccess.tree.naming import alias_file_name
from gitaccess.tree.portable import is_portable_name


def name(stem: str, extension: str = ".wiki", *, taken=(), kept: bool = False, seed: str | None = None) -> str:
    result = alias_file_name(
        stem, extension, seed=seed or stem, extension_in_title=kept, is_free=lambda n: n not in taken
    )
    assert is_portable_name(result), result
    return result


@pytest.mark.parametrize(
    "stem, extension, expected",
    [
        ("Who*", ".wiki", "Who%2A.wiki"),
        ('a:b?c"d<e>f|g\\h', ".wiki", "a%3Ab%3Fc%22d%3Ce%3Ef%7Cg%5Ch.wiki"),
        ("AC/DC", ".wiki", "AC%2FDC.wiki"),
        ("CON", ".wiki", "CON_.wiki"),
        ("com1", ".wiki", "com1_.wiki"),
        ("Aux.txt", ".wiki", "Aux%2Etxt.wiki"),
        ("CONOUT$", ".wiki", "CONOUT$_.wiki"),
        ("Cafe\u0301", ".wiki", "Cafe%CC%81.wiki"),
        ("\u212b", ".wiki", "%E2%84%AB.wiki"),
        (".git", "", "%2Egit"),
        (".GIT.", "", ".GIT%2E"),
        (".git::$INDEX_ALLOCATION", "", ".git%3A%3A$INDEX_ALLOCATION"),
        (".g\u200cit", "", "%2Eg\u200cit"),
        ("git~1", "", "git%7E1"),
        ("README.", "", "README%2E"),
        ("CON", "", "CON_"),
        ("aux.txt", "", "aux%2Etxt"),
        ("Who*.png", "", "Who%2A.png"),
    ],
)
def test_readable_first_choice(stem: str, extension: str, expected: str) -> None:
    assert name(stem, extension) == expected


def test_unmarked_or_taken_names_get_a_stable_hash() -> None:
    first = name("FOO")  # a case conflict: 'FOO.wiki' could be a title's own path
    assert first.startswith("FOO__") and first.endswith(".wiki") and len(first) == len("FOO__123456.wiki")
    assert name("FOO") == first  # stable
    assert name("FOO", seed="Talk:FOO") != first  # from the full title
    second = name("FOO", taken={first})
    assert second != first and second.startswith("FOO__")
    assert name("Who*", taken={"Who%2A.wiki"}).startswith("Who%2A__")
    css = name("Foo", ".css", kept=True)  # a css page whose title lacks '.css'
    assert css.startswith("Foo__") and css.endswith(".css")
    assert name("CON.css", ".css", kept=True) != "CON_.css"  # 'CON_.css' is a valid title
    assert name("Aliases.xml", "").startswith("Aliases__") and name("Aliases.xml", "").endswith(".xml")


def test_long_names_are_shortened_within_255_bytes() -> None:
    for stem in ["X" * 255, "*" * 200, "\u00e9" * 127, "\U0001f600" * 63, "a" * 250 + "*"]:
        result = name(stem)
        assert len(result.encode()) <= 255 and "__" in result and result.endswith(".wiki")
    assert not name("*" * 200).endswith("%.wiki")  # never a broken escape
    assert "%2" not in name("*" * 200)[-14:-11]
