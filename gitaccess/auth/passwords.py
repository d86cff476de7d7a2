"""MediaWiki password hashes and BotPassword restrictions, checked without MediaWiki.

gitaccess authenticates git clients against the wiki's own accounts, so it must
accept exactly the passwords MediaWiki accepts: same hash formats, same quirks
(bcrypt's 72-byte limit, PHP strings ending at NUL for crypt()), same refusal of
anything MediaWiki would refuse. The reference is MediaWiki 1.39's
includes/password/*.php with the default $wgPasswordConfig; a stored value is
``:<type>:<type-specific fields>``.

Password classes compare the password's bytes as given. MediaWiki's login form and
API first pass non-ASCII input through Unicode normalisation (WebRequest); to accept
what they accept, run a password from an HTTP header through
:func:`normalize_submitted_password` before :func:`verify_password`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import unicodedata
from collections.abc import Callable

import argon2
import bcrypt

from gitaccess.errors import DatabaseError

__all__ = [
    "UnsupportedHash",
    "bot_password_allows_ip",
    "bot_password_grants",
    "hash_password",
    "normalize_submitted_password",
    "verify_password",
]

# $wgPasswordConfig['pbkdf2'] in MediaWiki 1.39, its $wgPasswordDefault.
_DEFAULT_DIGEST = "sha512"
_DEFAULT_ROUNDS = 30000
_DEFAULT_LENGTH = 64
_SALT_BYTES = 16  # Pbkdf2Password::crypt uses random_bytes( 16 )

# PHP hash_pbkdf2() names of the digests a wiki could plausibly configure.
_PBKDF2_DIGESTS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "sha3-256": "sha3_256",
    "sha3-512": "sha3_512",
}
_MAX_PBKDF2_ROUNDS = 2**31 - 1  # hashlib's limit; no real wiki comes close

_BCRYPT_MAX_BYTES = 72  # crypt() ignores the rest, and python-bcrypt refuses it
_BCRYPT_SALT = re.compile(r"[./A-Za-z0-9]{22}")
_BCRYPT_HASH = re.compile(r"[./A-Za-z0-9]{31}")

_ARGON2 = argon2.PasswordHasher()

# WebRequest::getGPCVal leaves values made only of these characters alone.
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
# UtfNormal\Validator::replaceForNativeNormalize turns these into U+FFFD.
_UTFNORMAL_REPLACED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class UnsupportedHash(DatabaseError, ValueError):
    """A stored password value gitaccess cannot check (unknown or unusual type).

    The message names the type and what to do: it is logged for an admin, while
    the client just sees a failed login.
    """


def verify_password(stored: str | bytes | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``, as MediaWiki's Password::verify decides.

    ``stored`` is user.user_password or bot_passwords.bp_password (bytes from a
    MySQL BLOB column are accepted). Empty and ``:null:`` values never match;
    malformed values of a known type return False, like MediaWiki which fails the
    login. Raises UnsupportedHash for a type this module does not know.
    """
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    if not stored:
        return False
    hash_type, fields = _split_type(stored)
    verifier = _VERIFIERS.get(hash_type)
    if verifier is None:
        raise UnsupportedHash(
            f"password hash type {hash_type!r} is not supported by gitaccess (it knows "
            f"{_KNOWN_TYPES}); set $wgPasswordDefault to 'pbkdf2' and have "
            "the user log in to the wiki once, or reset the password, so that MediaWiki "
            "stores a supported hash"
        )
    try:
        secret = password.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False  # not a byte string at all, so no stored hash can match it
    return verifier(fields, secret)


def hash_password(password: str) -> str:
    """A new hash in MediaWiki 1.39's default format, which MediaWiki verifies as its own."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac(
        _DEFAULT_DIGEST,
        password.encode("utf-8", "surrogateescape"),
        salt,
        _DEFAULT_ROUNDS,
        _DEFAULT_LENGTH,
    )
    return (
        f":pbkdf2:{_DEFAULT_DIGEST}:{_DEFAULT_ROUNDS}:{_DEFAULT_LENGTH}:"
        f"{_b64(salt)}:{_b64(digest)}"
    )


def normalize_submitted_password(password: str) -> str:
    """``password`` as MediaWiki's login form and API hand it to the password check.

    WebRequest runs every submitted value that is not plain printable ASCII through
    UtfNormal\\Validator::cleanUp: C0 controls other than tab/LF/CR and U+FFFE/U+FFFF
    become U+FFFD, then NFC. A wiki password set through the web was normalised the
    same way before hashing, so a git client sending the decomposed form must still
    get in. ($wgAllUnicodeFixes, off by default, is not applied.)
    """
    if _PRINTABLE_ASCII.fullmatch(password):
        return password
    return unicodedata.normalize("NFC", _UTFNORMAL_REPLACED.sub("\ufffd", password))


def bot_password_allows_ip(restrictions_json: str | bytes | None, address: str) -> bool:
    """Whether bot_passwords.bp_restrictions lets a client at ``address`` log in.

    Follows MWRestrictions (1.39): the JSON must be an object with exactly the key
    ``IPAddresses``, a list of addresses or CIDR ranges. MediaWiki throws on
    anything else, including an empty value, so the bot password cannot be used
    at all: this denies. An IPv4-mapped IPv6 client address counts as IPv4.
    """
    networks = _restriction_networks(restrictions_json)
    client = _parse_address(address)
    if networks is None or client is None:
        return False
    return any(client in network for network in networks)


def bot_password_grants(grants_json: str | bytes | None) -> frozenset[str]:
    """The grant names in bot_passwords.bp_grants (a JSON list); empty if unreadable.

    An unreadable value grants nothing, so a damaged row fails closed.
    """
    grants = _load_json(grants_json)
    if not isinstance(grants, list):
        return frozenset()
    return frozenset(grant for grant in grants if isinstance(grant, str))


# --- stored value layout -------------------------------------------------------


def _split_type(stored: str) -> tuple[str, str]:
    """Split ``:type:rest`` the way PasswordFactory::newFromCiphertext does."""
    end = stored.find(":", 1)
    if not stored.startswith(":") or end == -1:
        raise UnsupportedHash(
            f"stored password value ({len(stored)} characters) does not start with "
            "':type:' as MediaWiki hashes do; reset the password in the wiki"
        )
    return stored[1:end], stored[end + 1 :]


# --- verifiers: (fields after ':type:', password bytes) -> match ---------------


def _never(fields: str, secret: bytes) -> bool:
    """':null:' marks an account that must not log in with a password."""
    return False


def _verify_pbkdf2(fields: str, secret: bytes) -> bool:
    """Pbkdf2Password: ``digest:rounds:length:<salt b64>:<hash b64>``."""
    parts = fields.split(":")
    if len(parts) != 5:
        return False
    digest, rounds, length, salt, expected = parts
    return _pbkdf2_matches(digest, rounds, length, salt, expected, secret)


def _verify_bcrypt(fields: str, secret: bytes) -> bool:
    """BcryptPassword: ``cost$<22-char salt>$<31-char hash>`` ('$', not ':', separates).

    MediaWiki hands the password to PHP's crypt(), which stops at a NUL byte and
    after 72 bytes; python-bcrypt does neither, so do it here.
    """
    parts = fields.split("$")
    if len(parts) != 3:
        return False
    cost, salt, expected = parts
    if not (
        _is_decimal(cost)
        and _BCRYPT_SALT.fullmatch(salt)
        and _BCRYPT_HASH.fullmatch(expected)
    ):
        return False
    crypt_input = secret.split(b"\0", 1)[0][:_BCRYPT_MAX_BYTES]
    full_hash = f"$2y${int(cost):02d}${salt}{expected}".encode("ascii")
    try:
        return bcrypt.checkpw(crypt_input, full_hash)
    except ValueError:  # cost out of range
        return False


def _verify_argon2(fields: str, secret: bytes) -> bool:
    """Argon2Password: the rest is PHP password_hash()'s own ``$argon2id$...`` string."""
    if fields.startswith("$") and not fields.startswith("$argon2"):
        raise UnsupportedHash(
            "':argon2:' value holds a hash other than Argon2; "
            "reset the password so that MediaWiki stores a supported hash"
        )
    try:
        return _ARGON2.verify(fields, secret)
    except (argon2.exceptions.VerificationError, ValueError):  # ValueError: malformed
        return False


def _verify_md5_a(fields: str, secret: bytes) -> bool:
    """MWOldPassword: ``<md5>``, or ``<salt>:<md5>`` (a B hash an old bug labelled A)."""
    parts = fields.split(":")
    if len(parts) > 2:
        return False
    *salt, expected = parts
    return _same(_legacy_md5(secret, salt[0] if salt else None), expected)


def _verify_md5_b(fields: str, secret: bytes) -> bool:
    """MWSaltedPassword: ``<salt>:<md5>``."""
    parts = fields.split(":")
    if len(parts) != 2:
        return False
    salt, expected = parts
    return _same(_legacy_md5(secret, salt), expected)


def _verify_layered(legacy_type: str, fields: str, secret: bytes) -> bool:
    """LayeredParameterizedPassword over [legacy_type, 'pbkdf2'] ('!' separates).

    The layout is ``<A/B params>!<pbkdf2 params>!<A/B salt>!<pbkdf2 salt>!<hash>``:
    A and B have no params (always empty), A has an empty salt unless it is a
    salted A, and the pbkdf2 layer hashes the legacy layer's hex digest.
    """
    parts = fields.split("!")
    if len(parts) != 5 or parts[0] != "":
        return False
    _, pbkdf2_params, legacy_salt, pbkdf2_salt, expected = parts
    if legacy_type == "B" and not legacy_salt:
        return False
    legacy = _legacy_md5(secret, legacy_salt or None).encode("ascii")
    params = pbkdf2_params.split(":")
    if len(params) != 3:
        return False
    digest, rounds, length = params
    return _pbkdf2_matches(digest, rounds, length, pbkdf2_salt, expected, legacy)


_VERIFIERS: dict[str, Callable[[str, bytes], bool]] = {
    "": _never,  # PasswordFactory's InvalidPassword
    "null": _never,
    "pbkdf2": _verify_pbkdf2,
    "bcrypt": _verify_bcrypt,
    "argon2": _verify_argon2,
    "A": _verify_md5_a,
    "B": _verify_md5_b,
    "pbkdf2-legacyA": functools.partial(_verify_layered, "A"),
    "pbkdf2-legacyB": functools.partial(_verify_layered, "B"),
}
_KNOWN_TYPES = ", ".join(name for name, check in _VERIFIERS.items() if check is not _never)


# --- hash primitives -----------------------------------------------------------


def _pbkdf2_matches(
    digest: str, rounds: str, length: str, salt_b64: str, expected_b64: str, secret: bytes
) -> bool:
    """PBKDF2 of ``secret`` compared, as base64 text, with ``expected_b64``.

    MediaWiki compares the re-encoded strings, so a stored hash in any other
    base64 spelling does not match there either. Checking the decoded length
    first keeps a damaged length field from costing a huge derivation.
    """
    if digest not in _PBKDF2_DIGESTS:
        raise UnsupportedHash(
            f"pbkdf2 with digest {digest!r} is not supported by gitaccess (it knows "
            f"{', '.join(_PBKDF2_DIGESTS)}); have the user log in to the wiki once so "
            "that MediaWiki rehashes the password with the default settings"
        )
    if not (_is_decimal(rounds) and _is_decimal(length)):
        return False
    salt = _unb64(salt_b64)
    stored_hash = _unb64(expected_b64)
    if salt is None or not stored_hash or len(stored_hash) != int(length):
        return False
    if not 0 < int(rounds) <= _MAX_PBKDF2_ROUNDS:
        return False
    derived = hashlib.pbkdf2_hmac(
        _PBKDF2_DIGESTS[digest], secret, salt, int(rounds), int(length)
    )
    return _same(_b64(derived), expected_b64)


def _legacy_md5(secret: bytes, salt: str | None) -> str:
    """MWOldPassword / MWSaltedPassword: md5(pw), or md5(salt . '-' . md5(pw)), as hex."""
    inner = hashlib.md5(secret).hexdigest()
    if salt is None:
        return inner
    return hashlib.md5(salt.encode("utf-8") + b"-" + inner.encode("ascii")).hexdigest()


def _same(computed: str, stored: str) -> bool:
    """Constant-time string equality that accepts any text (compare_digest needs ASCII str)."""
    return hmac.compare_digest(
        computed.encode("utf-8", "surrogatepass"), stored.encode("utf-8", "surrogatepass")
    )


def _is_decimal(text: str) -> bool:
    """1 to 10 ASCII digits (str.isdigit alone accepts '²'; the cap keeps int() cheap)."""
    return 0 < len(text) <= 10 and text.isascii() and text.isdigit()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    """Strict base64 decoding; None for anything PHP's base64_encode could not have made."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        return None


# --- bot password restrictions ---------------------------------------------------

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _load_json(value: str | bytes | None) -> object:
    """Parsed JSON, or None for an empty or unparseable column value."""
    if not value:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # bad JSON or UTF-8; absurdly deep nesting
        return None


def _restriction_networks(restrictions_json: str | bytes | None) -> list[_Network] | None:
    """The IPAddresses networks, or None where MWRestrictions::newFromJson would throw."""
    restrictions = _load_json(restrictions_json)
    if not isinstance(restrictions, dict) or set(restrictions) != {"IPAddresses"}:
        return None
    entries = restrictions["IPAddresses"]
    if not isinstance(entries, list):
        return None
    networks = []
    for entry in entries:
        network = _parse_network(entry)
        if network is None:
            return None  # MediaWiki rejects the whole row for one invalid entry
        networks.append(network)
    return networks


def _parse_network(entry: object) -> _Network | None:
    """An address or ``address/prefix`` (IPUtils::isIPAddress); host bits may be set."""
    if not isinstance(entry, str):
        return None
    _, slash, prefix = entry.partition("/")
    if slash and not _is_decimal(prefix):
        return None  # no netmask or empty-prefix forms, which Python would accept
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def _parse_address(address: str) -> _Address | None:
    """The client address, an IPv4-mapped IPv6 one unwrapped to its IPv4 address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
