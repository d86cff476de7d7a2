"""Tests for gitaccess.auth.passwords against hashes made and judged by MediaWiki 1.39 itself.

How tests/data/passwords.json was made (once; the generator is not in the repo): a
Maintenance script run with ``mw-peer.sh maint /tmp/mwp/sqlite /abs/path/script.php``
against the mw-peer wiki (Debian's MediaWiki 1.39, PHP 8.2) took
``MediaWikiServices::getPasswordFactory()`` and, for each type pbkdf2, argon2, bcrypt,
A, B, pbkdf2-legacyA and pbkdf2-legacyB, hashed eight passwords with
``newFromPlaintext($password, $factory->newFromType($type))``: ASCII, NFC and NFD
non-ASCII, whitespace, long ASCII and long multi-byte (over bcrypt's 72 bytes), one
with a NUL byte, and the empty one. Argon2 hashes after the first use a cheaper
argon2id cost (m=1024,t=2) to keep the tests fast. Extra entries: pbkdf2 sha256 and
bcrypt cost 5 from a PasswordFactory with non-default parameters, a salted ``:A:``
hash, a pbkdf2-legacyB made by ``partialCrypt`` as wrapOldPasswords.php does, the
Admin and Admin@peer hashes copied from the wiki's user and bot_passwords tables, and
hashes made by gitaccess's own ``hash_password`` ("gitaccess-made").

Every entry's "checks" lists candidate passwords (the password, a wrong prefix, a
suffix, a NUL-led tail, its NFC/NFD forms, a truncation) with the answer of
MediaWiki's ``Password::verify`` on that hash; the script refused to write a fixture
MediaWiki does not verify with its own password. So the fixture tests pin
verify_password to MediaWiki's decisions, quirks included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gitaccess.errors import GitAccessError
from gitaccess.auth.passwords import (
    UnsupportedHash,
    bot_password_allows_ip,
    bot_password_grants,
    hash_password,
    normalize_submitted_password,
    verify_password,
)

FIXTURES = json.loads((Path(__file__).parents[1] / "data" / "passwords.json").read_text("utf-8"))

PBKDF2 = next(e["hash"] for e in FIXTURES if e["type"] == "pbkdf2")
BCRYPT = next(e["hash"] for e in FIXTURES if e["type"] == "bcrypt")
ARGON2 = next(e["hash"] for e in FIXTURES if e["type"] == "argon2")
LEGACY_B = next(e["hash"] for e in FIXTURES if e["type"] == "pbkdf2-legacyB")
PEER_GRANTS = (
    '["basic","highvolume","editpage","editprotected","createeditmovepage","uploadfile",'
    '"uploadeditmovefile","delete","protect","patrol","rollback","editinterface"]'
)


# --- fixtures made by MediaWiki ----------------------------------------------------


def test_fixtures_cover_every_type() -> None:
    assert {e["type"] for e in FIXTURES} >= {
        "pbkdf2", "argon2", "bcrypt", "A", "B", "pbkdf2-legacyA", "pbkdf2-legacyB",
        "gitaccess-made",
    }


FIXTURE_IDS = [f"{entry['type']}-{i}" for i, entry in enumerate(FIXTURES)]


@pytest.mark.parametrize("entry", FIXTURES, ids=FIXTURE_IDS)
def test_verify_agrees_with_mediawiki(entry: dict) -> None:
    checks = {c["password"]: c["valid"] for c in entry["checks"]}
    assert checks[entry["password"]] is True and checks["not-" + entry["password"]] is False
    assert {candidate: verify_password(entry["hash"], candidate) for candidate in checks} == checks


def test_bcrypt_quirks_match_php_crypt() -> None:
    """PHP's crypt() reads to the first NUL and at most 72 bytes; MediaWiki inherits that."""
    long_one = next(e for e in FIXTURES if e["type"] == "bcrypt" and len(e["password"]) > 72)
    assert verify_password(long_one["hash"], long_one["password"][:72] + "-different-tail")
    with_nul = next(e for e in FIXTURES if e["type"] == "bcrypt" and "\0" in e["password"])
    assert verify_password(with_nul["hash"], with_nul["password"].split("\0")[0] + "\0other")
    pbkdf2_nul = next(e for e in FIXTURES if e["type"] == "pbkdf2" and "\0" in e["password"])
    assert not verify_password(pbkdf2_nul["hash"], pbkdf2_nul["password"].split("\0")[0])


def test_stored_value_may_be_bytes() -> None:
    """MySQL stores user_password in a BLOB, which database drivers return as bytes."""
    assert verify_password(PBKDF2.encode("ascii"), "AdminPass-1234")


# --- hash_password -----------------------------------------------------------------


def test_hash_password_format_and_roundtrip() -> None:
    made = hash_password("Pässwörd \U0001f511")
    assert re.fullmatch(r":pbkdf2:sha512:30000:64:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]{86}==", made)
    assert verify_password(made, "Pässwörd \U0001f511")
    assert not verify_password(made, "Pässwörd")
    assert hash_password("same") != hash_password("same")  # fresh salt each time


# --- values that never match or cannot be checked -----------------------------------


@pytest.mark.parametrize("stored", ["", ":null:", ":null:anything", "::", None, b""])
def test_never_valid(stored: str | bytes | None) -> None:
    assert verify_password(stored, "") is False
    assert verify_password(stored, "AdminPass-1234") is False


@pytest.mark.parametrize(
    "stored",
    [
        ":bogus:abc",
        ":pbkdf2-encrypted:x",
        "5f4dcc3b5aa765d61d8327deb882cf99",  # pre-1.24 unprefixed md5
        ":pbkdf2",
        "pbkdf2:x:y",
    ],
)
def test_unknown_type_raises(stored: str) -> None:
    with pytest.raises(UnsupportedHash) as caught:
        verify_password(stored, "password")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, GitAccessError)
    assert "reset the password" in str(caught.value)
    if stored.startswith(":bogus:"):
        assert "'bogus'" in str(caught.value)


def test_unsupported_variants_of_known_types_raise() -> None:
    with pytest.raises(UnsupportedHash, match="whirlpool"):
        verify_password(":pbkdf2:whirlpool:1000:64:c2FsdA==:aGFzaA==", "x")
    with pytest.raises(UnsupportedHash, match="other than Argon2"):
        verify_password(":argon2:$2y$10$abcdefghijklmnopqrstuuMFdJu9yVgmagVAIC24fOZkaFqd3s9JC", "x")


def _malformed() -> list[str]:
    """Damaged copies of real hashes: field counts, encodings, numbers out of range."""
    pbkdf2_fields = PBKDF2.split(":")
    return [
        ":pbkdf2:sha512:30000:64:" + pbkdf2_fields[-1],  # salt missing
        ":pbkdf2:sha512:30000:64",
        ":pbkdf2:",
        PBKDF2 + ":extra",
        PBKDF2.replace(pbkdf2_fields[-2], "not base64!"),
        PBKDF2[:-4],  # truncated hash, bad padding
        PBKDF2.replace(":30000:", ":3e4:"),
        PBKDF2.replace(":30000:", ":0:"),
        PBKDF2.replace(":30000:", ":99999999999999999999999:"),
        PBKDF2.replace(":64:", ":99999999:"),
        PBKDF2.replace(":64:", ":-64:"),
        PBKDF2.replace(":30000:", ":３００００:"),  # fullwidth digits
        PBKDF2[:-3] + "é==",
        ":bcrypt:",
        ":bcrypt:9",
        BCRYPT + "$extra",
        BCRYPT.replace(":bcrypt:9$", ":bcrypt:99$"),
        BCRYPT.replace(":bcrypt:9$", ":bcrypt:x$"),
        BCRYPT[:-1],
        BCRYPT[:-1] + "é",
        ":argon2:",
        ":argon2:$argon2id$",
        ARGON2[:-10],
        ARGON2.replace("m=65536", "m=x"),
        ARGON2 + "é",
        ":A:",
        ":A:a:b:c",
        ":A:" + "é" * 32,
        ":B:",
        ":B:onlyonefield",
        ":B:a:b:c",
        ":pbkdf2-legacyA:",
        ":pbkdf2-legacyB:!!!!",
        LEGACY_B + "!extra",
        LEGACY_B.replace("!sha512:30000:64!", "!sha512:30000!"),
        LEGACY_B.replace(":pbkdf2-legacyB:!", ":pbkdf2-legacyB:x!"),
        ":pbkdf2-legacyB:!sha512:30000:64!!" + LEGACY_B.split("!", 3)[3],  # B without salt
    ]


@pytest.mark.parametrize("stored", _malformed())
def test_malformed_values_fail_cleanly(stored: str) -> None:
    assert verify_password(stored, "AdminPass-1234") is False
    assert verify_password(stored, "") is False


def test_password_that_is_not_bytes_does_not_raise() -> None:
    assert verify_password(PBKDF2, "lone \ud800 surrogate") is False


# --- what MediaWiki's web request does to a submitted password ------------------------


@pytest.mark.parametrize(
    ("submitted", "normalised"),
    [
        # Checked against UtfNormal\Validator::cleanUp with PHP intl (ICU 72).
        ("plain ASCII", "plain ASCII"),
        ("e\u0301te\u0301", "\u00e9t\u00e9"),
        ("ctl\x01x\x7f\ttab\r\n", "ctl\ufffdx\x7f\ttab\r\n"),
        ("\ufffe\uffff ok", "\ufffd\ufffd ok"),
        ("A\u030a\u212b", "\u00c5\u00c5"),
    ],
)
def test_normalize_submitted_password(submitted: str, normalised: str) -> None:
    assert normalize_submitted_password(submitted) == normalised


def test_ascii_controls_alone_are_left_as_mediawiki_leaves_them() -> None:
    """WebRequest skips cleanUp only for printable ASCII; a control character is not that."""
    assert normalize_submitted_password("a\x01b") == "a\ufffdb"
    assert normalize_submitted_password("a b~") == "a b~"


def test_decomposed_input_logs_in_after_normalisation() -> None:
    nfc = next(e for e in FIXTURES if e["type"] == "pbkdf2" and "ü" in e["password"])
    decomposed = nfc["password"].replace("ü", "u\u0308")
    assert not verify_password(nfc["hash"], decomposed)
    assert verify_password(nfc["hash"], normalize_submitted_password(decomposed))


# --- bot password restrictions and grants ---------------------------------------------

DEFAULT_RESTRICTIONS = '{"IPAddresses":["0.0.0.0/0","::/0"]}'


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "203.0.113.9", "::1", "2001:db8::5", "::ffff:10.0.0.1"]
)
def test_default_restrictions_allow_everyone(address: str) -> None:
    assert bot_password_allows_ip(DEFAULT_RESTRICTIONS, address)
    assert bot_password_allows_ip(DEFAULT_RESTRICTIONS.encode(), address)


@pytest.mark.parametrize(
    ("entries", "address", "allowed"),
    [
        (["10.1.2.0/24"], "10.1.2.200", True),
        (["10.1.2.0/24"], "10.1.3.1", False),
        (["10.1.2.77/24"], "10.1.2.1", True),  # host bits in the range are ignored
        (["192.0.2.7"], "192.0.2.7", True),
        (["192.0.2.7"], "192.0.2.8", False),
        (["192.0.2.7"], "::ffff:192.0.2.7", True),  # dual-stack socket, IPv4 client
        (["2001:db8::/32"], "2001:db8:ffff::1", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["2001:DB8::1"], "2001:db8::1", True),
        (["::/0"], "192.0.2.7", False),  # the families are separate
        (["0.0.0.0/0"], "2001:db8::1", False),
        ([], "127.0.0.1", False),
        (["0.0.0.0/0"], "not an address", False),
        (["0.0.0.0/0"], "", False),
    ],
)
def test_ip_restrictions(entries: list[str], address: str, allowed: bool) -> None:
    assert bot_password_allows_ip(json.dumps({"IPAddresses": entries}), address) is allowed


@pytest.mark.parametrize(
    "restrictions",
    [
        None,
        "",
        "{not json",
        b"\xff\xfe",
        "null",
        "[]",
        "{}",
        '"0.0.0.0/0"',
        '["0.0.0.0/0"]',
        '{"IPAddresses":"0.0.0.0/0"}',
        '{"IPAddresses":{"a":"0.0.0.0/0"}}',
        '{"IPAddresses":["0.0.0.0/0","::/0"],"Referer":["x"]}',  # MediaWiki rejects unknown keys
        '{"IPAddresses":["0.0.0.0/0","bogus"]}',
        '{"IPAddresses":["0.0.0.0/0",5]}',
        '{"IPAddresses":["0.0.0.0/255.255.255.0"]}',
        '{"IPAddresses":["0.0.0.0/"]}',
        '{"IPAddresses":["0.0.0.0/33"]}',
        '{"ipaddresses":["0.0.0.0/0"]}',
        '{"IPAddresses":' + "[" * 100_000,
    ],
)
def test_restrictions_mediawiki_would_reject_deny(restrictions: str | bytes | None) -> None:
    assert bot_password_allows_ip(restrictions, "127.0.0.1") is False


def test_grants() -> None:
    assert bot_password_grants(PEER_GRANTS) >= {"basic", "editpage", "createeditmovepage", "delete"}
    assert bot_password_grants('["basic"]') == frozenset({"basic"})
    assert bot_password_grants(b'["basic","uploadfile"]') == frozenset({"basic", "uploadfile"})
    assert bot_password_grants('["basic", 5, null]') == frozenset({"basic"})


@pytest.mark.parametrize(
    "grants", [None, "", "[", "null", "{}", '{"a":"basic"}', '"basic"', b"\xff", "[" * 100_000]
)
def test_unreadable_grants_grant_nothing(grants: str | bytes | None) -> None:
    assert bot_password_grants(grants) == frozenset()
