"""MediaWiki's title codec: text a user types <-> (namespace, dbkey, fragment, interwiki).

A port of MediaWiki 1.39's MediaWikiTitleCodec (TitleParser::splitTitleString,
parseTitle, makeTitleValueSafe), of the parts of Title, Sanitizer, UtfNormal,
Language and IPUtils that it relies on. gitaccess must agree with MediaWiki on
every title, or a page pushed through git would land on a different page than
the wiki shows; so the odd corners (an IPv6 user name, "Talk:" followed by an
interwiki prefix, an entity such as ``&amp;``) are kept as MediaWiki has them.

Pure: no database, no I/O. The wiki's configuration comes in as a Namespaces
table and the interwiki prefixes.
"""

from __future__ import annotations

import html.entities
import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Callable, Collection, Mapping

from gitaccess.errors import GitAccessError
from gitaccess.titles.namespaces import MAIN, SPECIAL, TALK, USER, USER_TALK, Namespaces

_MESSAGES = {
    "title-invalid-empty":
        "Invalid title {title!r}: it has no page name (only a namespace or nothing); add one.",
    "title-invalid-utf8":
        "Invalid title {title!r}: it is not valid UTF-8 or contains U+FFFD; type it again.",
    "title-invalid-talk-namespace":
        "Invalid title {title!r}: a talk page cannot be in a second namespace or on another "
        "wiki; remove the prefix after 'Talk:'.",
    "title-invalid-characters":
        "Invalid title {title!r}: {detail!r} is not allowed in titles (neither are # < > [ ] | "
        "{{ }}, control characters, %XX escapes or HTML entities); remove or replace it.",
    "title-invalid-relative":
        "Invalid title {title!r}: '.' and '..' path segments (./, ../, /./, /../) are not "
        "allowed; rename the page.",
    "title-invalid-magic-tilde":
        "Invalid title {title!r}: '~~~' is signature markup and not allowed; use fewer tildes.",
    "title-invalid-too-long":
        "Invalid title {title!r}: the page name is longer than {detail} bytes of UTF-8; shorten it.",
    "title-invalid-leading-colon":
        "Invalid title {title!r}: the page name starts with a colon; remove it.",
    "title-invalid":
        "Invalid title {title!r}: {detail}.",
}


class InvalidTitle(GitAccessError, ValueError):
    """A title MediaWiki would reject (its MalformedTitleException).

    ``key`` is MediaWiki's message key, so callers can report the same error
    the wiki would; ``title`` is the text as given.
    """

    def __init__(self, key: str, title: str, detail: str = "") -> None:
        self.key = key
        self.title = title
        shown = title if len(title) <= 100 else title[:99] + "\u2026"
        super().__init__(_MESSAGES[key].format(title=shown, detail=detail))


@dataclass(frozen=True)
class Title:
    """A normalised title. ``dbkey`` uses underscores, ``fragment`` spaces, as MediaWiki."""

    namespace: int
    dbkey: str
    fragment: str = ""
    interwiki: str = ""

    @property
    def text(self) -> str:
        """The page name in text form (spaces), without the namespace."""
        return self.dbkey.replace("_", " ")


class TitleCodec:
    """Parses and formats titles the way one configured wiki does.

    ``interwikis`` are the prefixes of the wiki's interwiki table;
    ``local_interwikis`` ($wgLocalInterwikis) are prefixes that name this
    wiki itself, which the parser strips (they are valid prefixes whether or
    not ``interwikis`` lists them). ``main_page`` is where an empty link to
    this wiki ("localprefix:") leads.
    """

    def __init__(
        self,
        namespaces: Namespaces,
        *,
        interwikis: Collection[str] = (),
        local_interwikis: Collection[str] = (),
        main_page: str = "Main_Page",
        first_letter: str = "simple",
        first_letter_overrides: Mapping[str, str] | None = None,
    ) -> None:
        """``first_letter`` and ``first_letter_overrides`` say how a first letter is
        capitalised (see :data:`FIRST_LETTER_RULES`; the overrides are
        $wgOverrideUcfirstCharacters). Raises InvalidTitle if ``main_page`` is not
        a valid title, ValueError for an unknown rule."""
        if first_letter not in FIRST_LETTER_RULES:
            raise ValueError(f"first_letter must be one of {', '.join(FIRST_LETTER_RULES)}, not {first_letter!r}")
        self._first_letter = FIRST_LETTER_RULES[first_letter]
        self._first_letter_overrides = dict(first_letter_overrides or {})
        self._namespaces = namespaces
        self._local_interwikis = frozenset(prefix.lower() for prefix in local_interwikis)
        self._interwikis = frozenset(prefix.lower() for prefix in interwikis) | self._local_interwikis
        self._main_page = self.parse(main_page)

    @property
    def namespaces(self) -> Namespaces:
        """The namespace table the codec was built with."""
        return self._namespaces

    def parse(self, text: str, default_namespace: int = MAIN) -> Title:
        """Title::newFromText / TitleParser::parseTitle: what a link or a form field means.

        Character references (``&eacute;``, ``&#233;``) are decoded first, as
        MediaWiki does for user input. A text decoded from bytes with
        ``errors="surrogateescape"`` fails as title-invalid-utf8 where its
        bytes were not UTF-8. Raises InvalidTitle, or ValueError if
        ``default_namespace`` is not in the table.
        """
        if default_namespace not in self._namespaces:
            raise ValueError(f"unknown default namespace {default_namespace}")
        return self._split(_decode_char_references(text), default_namespace)

    def make_title_safe(
        self, namespace: int, text: str, fragment: str = "", interwiki: str = ""
    ) -> Title | None:
        """Title::makeTitleSafe / TitleParser::makeTitleValueSafe: None if invalid.

        MediaWiki parses "<canonical namespace name>:<text>": a namespace
        prefix in ``text`` stays part of the name (2, "Talk:X" is "User:Talk:X"),
        and an unknown namespace gives None. Character references are not decoded.
        """
        if namespace not in self._namespaces:
            return None
        canonical = self._namespaces[namespace].canonical
        full_text = f"{canonical}:{text}" if canonical else text
        if interwiki:
            full_text = f"{interwiki}:{full_text}"
        if fragment:
            full_text += "#" + fragment
        try:
            return self._split(full_text, MAIN)
        except InvalidTitle:
            return None

    def full_text(self, title: Title, *, canonical: bool = True) -> str:
        """"interwiki:Namespace:Page name#fragment" in text form (Title::getFullText).

        ``canonical`` picks the canonical English namespace name, which any
        wiki accepts; otherwise the wiki's local name, as MediaWiki shows it.
        """
        text = title.text
        if title.namespace != MAIN:
            namespace = self._namespaces[title.namespace]
            text = f"{namespace.canonical if canonical else namespace.name}:{text}"
        if title.interwiki:
            text = f"{title.interwiki}:{text}"
        if title.fragment:
            text += "#" + title.fragment
        return text.replace("_", " ")

    def root_text(self, title: Title) -> str:
        """Title::getRootText: "Foo" for "Foo/Bar/Baz" where the namespace has subpages."""
        return self._before_divider(title, last=False)

    def base_text(self, title: Title) -> str:
        """Title::getBaseText: "Foo/Bar" for "Foo/Bar/Baz" where the namespace has subpages."""
        return self._before_divider(title, last=True)

    def subpage_text(self, title: Title) -> str:
        """Title::getSubpageText: "Baz" for "Foo/Bar/Baz" where the namespace has subpages."""
        text = title.text
        divider = self._subpage_divider(title, last=True)
        return text if divider is None else text[divider + 1 :]

    def _before_divider(self, title: Title, *, last: bool) -> str:
        text = title.text
        divider = self._subpage_divider(title, last=last)
        return text if divider is None else text[:divider]

    def _subpage_divider(self, title: Title, *, last: bool) -> int | None:
        """Title::findSubpageDivider: the index of the first or last dividing slash.

        Leading slashes divide nothing (a root or base name is never empty),
        but a trailing slash does (a subpage name may be empty).
        """
        if not self._namespaces[title.namespace].subpages:
            return None
        text = title.text
        if last:
            index = text.rfind("/")
        else:
            leading = len(text[:-1]) - len(text[:-1].lstrip("/"))
            index = text.find("/", leading)
        return index if index > 0 else None

    def _split(self, text: str, default_namespace: int) -> Title:
        """MediaWikiTitleCodec::splitTitleString, step by step."""
        if _SURROGATE.search(text):
            raise InvalidTitle("title-invalid-utf8", text)
        dbkey = _collapse_whitespace(_BIDI_MARKS.sub("", text.replace(" ", "_")))
        if "\ufffd" in dbkey:
            raise InvalidTitle("title-invalid-utf8", text)

        namespace = default_namespace
        if dbkey.startswith(":"):
            # Initial colon: main namespace rather than the default one.
            namespace = MAIN
            dbkey = dbkey[1:].strip("_")
        if not dbkey:
            raise InvalidTitle("title-invalid-empty", text)

        prefixes = self._split_prefixes(text, dbkey, namespace)
        if prefixes is None:
            return self._main_page
        namespace, interwiki, dbkey = prefixes
        dbkey, fragment = _split_fragment(dbkey)
        _check_characters(text, dbkey, max_bytes=512 if namespace == SPECIAL else 255)

        # Don't capitalise interwiki links: the other site may be case-sensitive.
        if not interwiki and self._namespaces[namespace].capitalize:
            dbkey = self._ucfirst(dbkey)
        if not dbkey and not interwiki and namespace != MAIN:
            raise InvalidTitle("title-invalid-empty", text)
        if namespace in (USER, USER_TALK):
            # One page per IP address however it is written ("::1", "0:0:0:0:0:0:0:1").
            dbkey = _sanitize_ip(dbkey)
        if dbkey.startswith(":"):
            raise InvalidTitle("title-invalid-leading-colon", text)
        if not dbkey and namespace != MAIN:
            # TitleValue::assertValidSpec: "remotewiki:" parsed with default namespace User.
            raise InvalidTitle("title-invalid", text, "only a main-namespace title can be empty")
        return Title(namespace, dbkey, fragment, interwiki)

    def _split_prefixes(
        self, text: str, dbkey: str, namespace: int
    ) -> tuple[int, str, str] | None:
        """Strip the namespace or interwiki prefix: (namespace, interwiki, rest).

        A local interwiki prefix is dropped and the rest split again; None
        means the text was only such a prefix (a link to the main page).
        """
        while match := _PREFIX.match(dbkey):
            prefix, rest = match.groups()
            prefix_namespace = self._namespaces.find(prefix)
            if prefix_namespace is not None:
                if prefix_namespace == TALK:
                    self._check_talk_target(text, rest)
                return prefix_namespace, "", rest
            if not self._is_interwiki(prefix):
                break
            dbkey = rest
            if prefix.lower() in self._local_interwikis:
                if not dbkey:
                    return None
                continue
            if dbkey.startswith(":"):
                # A colon after the interwiki prefix also means the main namespace.
                namespace = MAIN
                dbkey = dbkey[1:].strip("_")
            return namespace, prefix.lower(), dbkey
        return namespace, "", dbkey

    def _check_talk_target(self, text: str, rest: str) -> None:
        """Disallow "Talk:File:X" and "Talk:interwiki:X": such talk pages cannot exist."""
        match = _PREFIX.match(rest)
        if not match:
            return
        # find() is tested for truth as MediaWiki does: the main namespace (0) does not count.
        if self._namespaces.find(match[1]) or self._is_interwiki(match[1]):
            raise InvalidTitle("title-invalid-talk-namespace", text)

    def _ucfirst(self, text: str) -> str:
        """The first character capitalised as the wiki's MediaWiki does (Language::ucfirst)."""
        if not text:
            return text
        first = text[0]
        capital = self._first_letter_overrides.get(first)
        return (capital if capital is not None else self._first_letter(first)) + text[1:]

    def _is_interwiki(self, prefix: str) -> bool:
        return prefix.lower() in self._interwikis


# --- Normalisation ----------------------------------------------------------

#: Left-to-right/right-to-left marks and embedding/override characters,
#: which slip into titles copied from lists.
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e]+")

#: Every character MediaWiki treats as a space in titles.
_WHITESPACE = re.compile("[ _\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")

#: "prefix:rest", with underscores around the colon dropped. As in PCRE, "."
#: stops at a newline and "$" also matches before a final newline.
_PREFIX = re.compile(r"(.+?)_*:_*(.*)$")


def _collapse_whitespace(dbkey: str) -> str:
    return _WHITESPACE.sub("_", dbkey).strip("_")


def _split_fragment(dbkey: str) -> tuple[str, str]:
    """Split at the first '#': the fragment keeps its case, in text form."""
    dbkey, hash_mark, fragment = dbkey.partition("#")
    if not hash_mark:
        return dbkey, ""
    # Strip again, or "Foo_bar_#x" would become "Foo_bar_".
    return dbkey.rstrip("_"), fragment.replace("_", " ")


def _simple_capital(char: str) -> str:
    """The rule gitaccess applied before it knew MediaWiki's: a one-to-one upper case only
    ("ß" and "ﬁ" kept), Georgian Mkhedruli kept. Journals recorded under it keep it."""
    if "\u10d0" <= char <= "\u10ff":
        return char
    upper = char.upper()
    return upper if len(upper) == 1 else char


#: How MediaWiki capitalises a title's first letter (Language::ucfirst), by name:
#: "upper" is PHP 8's mb_strtoupper, a full case mapping ("ß" -> "SS", "ǆ" -> "Ǆ", Georgian to
#: Mtavruli), what MediaWiki 1.39 on PHP 8 does; "title" is mb_convert_case's title case
#: ("ß" -> "Ss", "ǆ" -> "ǅ"), what MediaWiki 1.43 does; "simple" is gitaccess's earlier rule.
#: tests/data/titles-oracle-*.tsv hold each MediaWiki's answer for every code point.
FIRST_LETTER_RULES: dict[str, Callable[[str], str]] = {
    "simple": _simple_capital,
    "upper": str.upper,
    "title": str.title,
}


# --- Validity ---------------------------------------------------------------

#: $wgLegalTitleChars, whose \x80-\xFF bytes allow every non-ASCII character;
#: plus the %XX escapes and HTML entities, which would not round-trip in links.
_ILLEGAL = re.compile(
    r"[^ %!\"$&'()*,\-./0-9:;=?@A-Z\\^_`a-z~+\u0080-\U0010ffff]"
    r"|%[0-9A-Fa-f]{2}"
    r"|&[A-Za-z0-9\u0080-\U0010ffff]+;"
)

def _check_characters(text: str, dbkey: str, *, max_bytes: int) -> None:
    """Reject illegal characters, relative paths, '~~~' and over-long names."""
    if illegal := _ILLEGAL.search(dbkey):
        raise InvalidTitle("title-invalid-characters", text, illegal[0])
    if _is_relative(dbkey):
        raise InvalidTitle("title-invalid-relative", text)
    if "~~~" in dbkey:
        raise InvalidTitle("title-invalid-magic-tilde", text)
    if len(dbkey.encode("utf-8")) > max_bytes:
        raise InvalidTitle("title-invalid-too-long", text, str(max_bytes))


def _is_relative(dbkey: str) -> bool:
    """".", "..", or a "./" or "../" segment anywhere: browsers would resolve it away."""
    return (
        dbkey in (".", "..")
        or dbkey.startswith(("./", "../"))
        or "/./" in dbkey
        or "/../" in dbkey
        or dbkey.endswith(("/.", "/.."))
    )


# --- Character references (Sanitizer::decodeCharReferencesAndNormalize) -----

_CHAR_REFERENCE = re.compile(
    r"&([A-Za-z0-9\u0080-\U0010ffff]+);|&#([0-9]+);|&#[xX]([0-9A-Fa-f]+);"
)

#: MediaWiki 1.39 knows the HTML 4.01 entities, &apos;, and two spellings of &rlm;.
_ENTITIES = html.entities.name2codepoint | {"apos": 0x27}
_ENTITY_ALIASES = {"רלמ": "rlm", "رلم": "rlm"}

#: What UtfNormal's clean-up replaces with U+FFFD: C0 controls XML forbids,
#: surrogates, and the non-characters U+FDD0..U+FDEF, U+FFFE, U+FFFF.
_NOT_XML_SAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _decode_char_references(text: str) -> str:
    """Decode ``&name;``, ``&#N;`` and ``&#xN;``, then clean up and NFC-normalise.

    MediaWiki normalises whenever its pattern matched, and it matches any
    '&', even one that starts no reference: so does this.
    """
    if "&" not in text:
        return text
    decoded = _CHAR_REFERENCE.sub(_decode_char_reference, text)
    return unicodedata.normalize("NFC", _NOT_XML_SAFE.sub("\ufffd", decoded))


def _decode_char_reference(match: re.Match[str]) -> str:
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        codepoint = _ENTITIES.get(_ENTITY_ALIASES.get(name, name))
        # An unknown entity stays, and makes the title invalid.
        return match[0] if codepoint is None else chr(codepoint)
    codepoint = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return chr(codepoint) if _is_html_and_xml_char(codepoint) else "\ufffd"


def _is_html_and_xml_char(codepoint: int) -> bool:
    """Sanitizer::validateCodepoint: allowed in both HTML5 and XML."""
    return (
        codepoint in (0x09, 0x0A)
        or 0x20 <= codepoint <= 0x7E
        or 0xA0 <= codepoint <= 0xD7FF
        or 0xE000 <= codepoint <= 0xFFFD
        or 0x10000 <= codepoint <= 0x10FFFF
    )


# --- IP addresses as user names (Wikimedia\IPUtils::sanitizeIP) --------------

_IPV4_BYTE = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|0?[0-9]?[0-9])"
_IPV4 = re.compile(rf"{_IPV4_BYTE}(?:\.{_IPV4_BYTE}){{3}}(?:/(?:3[0-2]|[12][0-9]|[0-9]))?")
_IPV4_LEADING_ZEROS = re.compile(r"(?:^|(?<=\.))0+(?=[1-9]|0[./]|0$)")
_IPV6_WORD = re.compile(r"[0-9A-Fa-f]{1,4}")
_IPV6_PREFIX_LENGTH = re.compile(r"12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9]")
_IPV6_LEADING_ZEROS = re.compile(r"(^|:)0+([0-9A-Fa-f]{1,4})")


def _sanitize_ip(name: str) -> str:
    """An IPv4 address without leading zeros, an IPv6 one in full upper-case form.

    Anything else is returned unchanged.
    """
    if _IPV4.fullmatch(name):
        return _IPV4_LEADING_ZEROS.sub("", name)
    if _is_ipv6(name):
        return _expand_ipv6(name)
    return name


def _is_ipv6(name: str) -> bool:
    """IPUtils::isIPv6: eight words, or fewer with one "::"; an optional /prefix."""
    address, slash, prefix_length = name.partition("/")
    if slash and not _IPV6_PREFIX_LENGTH.fullmatch(prefix_length):
        return False
    head, gap, tail = address.partition("::")
    if gap:
        words = (head.split(":") if head else []) + (tail.split(":") if tail else [])
        if len(words) > 7:
            return False
    else:
        words = address.split(":")
        if len(words) != 8:
            return False
    return all(_IPV6_WORD.fullmatch(word) for word in words)


def _expand_ipv6(address: str) -> str:
    """IPUtils::sanitizeIPv6: expand "::" to zero words, drop leading zeros, upper-case."""
    address = address.upper()
    gap = address.find("::")
    if gap != -1:
        slash = address.find("/")
        address_end = (slash if slash != -1 else len(address)) - 1
        if gap == 0:
            repeat, extra, pad = "0:", "0" if address == "::" else "", 9
        elif gap == address_end - 1:
            repeat, extra, pad = ":0", "", 9
        else:
            repeat, extra, pad = ":0", ":", 8
        address = address.replace("::", repeat * (pad - address.count(":")) + extra)
    return _IPV6_LEADING_ZEROS.sub(r"\1\2", address)
