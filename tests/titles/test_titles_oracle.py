"""Titles exactly as MediaWiki makes them: every Unicode code point, at the start of a
title and inside one, against what the real MediaWiki answered.

tests/data/titles-oracle.php made tests/data/titles-oracle-<version>.tsv by running
in MediaWiki 1.39 and 1.43 on PHP 8 (its header says how); each line is a code point
whose titles are not the plain ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitaccess.titles.codec import InvalidTitle, TitleCodec
from gitaccess.titles.namespaces import Namespaces

DATA = Path(__file__).resolve().parents[1] / "data"
#: MediaWiki version -> the first-letter rule that is its behaviour.
VERSIONS = {"1.39": "upper", "1.43": "title"}


def oracle(version: str) -> dict[int, tuple[str, str]]:
    answers = {}
    for line in (DATA / f"titles-oracle-{version}.tsv").read_text("ascii").splitlines():
        if line.startswith("#"):
            continue
        code_point, first, inside = line.split("\t")
        answers[int(code_point, 16)] = (bytes.fromhex(first).decode(), bytes.fromhex(inside).decode())
    return answers


def normalised(codec: TitleCodec, text: str) -> str:
    try:
        title = codec.parse(text)
    except InvalidTitle:
        return "!"
    return f"{title.namespace}:{title.dbkey}"


@pytest.mark.parametrize("version, rule", VERSIONS.items())
def test_every_code_point_becomes_the_title_mediawiki_makes(version: str, rule: str) -> None:
    answers = oracle(version)
    codec = TitleCodec(Namespaces.standard(), first_letter=rule)
    wrong = []
    for code_point in range(0x110000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        char = chr(code_point)
        expected = answers.get(code_point, (f"0:{char}x", f"0:A{char}b"))
        got = (normalised(codec, char + "x"), normalised(codec, "A" + char + "b"))
        if got != expected:
            wrong.append(f"U+{code_point:04X}: MediaWiki {expected}, gitaccess {got}")
    assert not wrong, f"{len(wrong)} code points differ, e.g.\n" + "\n".join(wrong[:20])


def test_overrides_win_over_the_rule() -> None:
    """$wgOverrideUcfirstCharacters, as Wikimedia sets it to keep "ß" and Georgian."""
    codec = TitleCodec(Namespaces.standard(), first_letter="title", first_letter_overrides={"ß": "ß"})
    assert codec.parse("ßx").dbkey == "ßx"
    assert codec.parse("ǆx").dbkey == "ǅx"


def test_the_earlier_rule_is_kept_unless_configured() -> None:
    codec = TitleCodec(Namespaces.standard())
    assert codec.parse("ßx").dbkey == "ßx"
    assert codec.parse("ǆx").dbkey == "Ǆx"
