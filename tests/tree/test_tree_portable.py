"""gitaccess.tree.portable: file names every checkout (Windows, macOS, Linux) accepts."""

from __future__ import annotations

import pytest

from gitaccess.tree.portable import (
    collision_key,
    device_name,
    is_dotgit,
    is_portable_name,
    is_portable_path,
    path_problem,
    unportable_reason,
)

PORTABLE = [
    "Foo.wiki",
    "Main_Page.wiki",
    "(Main)",
    ".gitattributes",
    ".mailmap",
    "README.md",
    "Café.wiki",
    "日本語.wiki",
    "a%2Ab.wiki",
    "CONSOLE.wiki",
    "CON_.wiki",
    "COM10.wiki",
    "LPTX",
    "aux_.txt",
    "git~2",
    "gitx~1",
    ".gitx",
    "x.git",
    "a..b",
    ".hidden",
    "..x",
    "ZWNJ\u200cinside.wiki",
    "\u00e9" * 127,  # 254 bytes
    "x" * 255,
    "emoji\U0001f600.wiki",
]

UNPORTABLE = [
    "",
    ".",
    "..",
    "a/b",
    "a\\b",
    "a:b",
    "Who*",
    "why?",
    'say"hi"',
    "a<b",
    "a>b",
    "a|b",
    "tab\there",
    "nul\x00",
    "del\x7f",
    "\x1f",
    "trailing.",
    "trailing ",
    "dots...",
    "CON",
    "con",
    "Con.wiki",
    "aux.txt",
    "AUX.tar.gz",
    "nul",
    "PRN.md",
    "COM0",
    "com1",
    "COM9.wiki",
    "LPT0",
    "lpt9.txt",
    "COM\u00b9",
    "lpt\u00b2.wiki",
    "LPT\u00b3",
    "CONIN$",
    "conout$.txt",
    "CON .txt",
    "con  .x",
    ".git",
    ".GIT",
    ".Git",
    ".git.",
    ".git ",
    ".git. .",
    "git~1",
    "GIT~1",
    "git~1...",
    ".git::$INDEX_ALLOCATION",
    ".git:stream",
    ".g\u200cit",
    "\u200d.git",
    ".gi\u200et",
    ".\u202agit",
    ".g\u206ait",
    ".git\ufeff",
    "Cafe\u0301.wiki",  # NFD
    "\u212b.wiki",  # ANGSTROM SIGN: NFC turns it into U+00C5
    "x" * 256,
    "\u00e9" * 128,  # 256 bytes
    "bad\ufffe",
]


@pytest.mark.parametrize("name", PORTABLE)
def test_portable_names(name: str) -> None:
    assert unportable_reason(name) is None
    assert is_portable_name(name)


@pytest.mark.parametrize("name", UNPORTABLE)
def test_unportable_names_have_a_reason(name: str) -> None:
    reason = unportable_reason(name)
    assert reason and isinstance(reason, str)
    assert not is_portable_name(name)


@pytest.mark.parametrize(
    "name, device",
    [
        ("CON", "CON"),
        ("con.txt", "con"),
        ("Aux.tar.gz", "Aux"),
        ("CON .txt", "CON"),
        ("COM1", "COM1"),
        ("com\u00b9", "com\u00b9"),
        ("CONIN$", "CONIN$"),
        ("conout$.x", "conout$"),
        ("NUL:stream", "NUL"),
        ("CONSOLE", None),
        ("COM10", None),
        ("LPTx", None),
        ("xCON", None),
        ("CON_.wiki", None),
        ("aux%2Etxt.wiki", None),
    ],
)
def test_device_names(name: str, device: str | None) -> None:
    assert device_name(name) == device


@pytest.mark.parametrize(
    "name, expected",
    [
        (".git", True),
        (".GiT", True),
        (".git...", True),
        (".git  . ", True),
        ("git~1", True),
        ("Git~1. ", True),
        (".git::$INDEX_ALLOCATION", True),
        (".g\u200cit", True),
        ("\ufeff.\u206fgit", True),
        ("git~2", False),
        (".gitignore", False),
        (".git~1", False),
        ("%2Egit", False),
        ("git%7E1", False),
        (".gi", False),
    ],
)
def test_dotgit_spellings_follow_git(name: str, expected: bool) -> None:
    assert is_dotgit(name) is expected


def test_length_is_counted_in_utf8_bytes_with_the_extension() -> None:
    assert is_portable_name("\u00e9" * 125 + ".wiki")  # 250 + 5 = 255 bytes
    assert is_portable_name("\u00e9" * 126 + ".wiki") is False  # 257 bytes
    assert is_portable_name("\U0001f600" * 63 + ".wik") is False  # 252 + 4 = 256
    assert "256 bytes" in unportable_reason("x" * 251 + ".wiki")


def test_paths() -> None:
    assert is_portable_path("User/Alice/Sandbox.wiki")
    assert is_portable_path("README.md")
    for bad in ["", "/abs.wiki", "a//b", "a/", "a/../b", "a/./b", "a/.git/b", "User/CON/x.wiki", "a/b:c"]:
        assert not is_portable_path(bad), bad
        assert path_problem(bad)
    assert "'CON'" in path_problem("User/CON/x.wiki")


def test_collision_keys_fold_case_normalisation_and_hfs_ignorables() -> None:
    assert collision_key("Foo.wiki") == collision_key("FOO.WIKI")
    assert collision_key("Straße") == collision_key("STRASSE")
    assert collision_key("Café") == collision_key("Cafe\u0301")
    assert collision_key("ab") == collision_key("a\u200cb")
    assert collision_key("Σσς") == collision_key("σσσ")
    assert collision_key("Foo") != collision_key("Foo_")
