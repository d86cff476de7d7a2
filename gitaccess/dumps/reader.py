"""Streaming reader of MediaWiki XML dumps (Special:Export, dumpBackup.php).

`read_dump` turns an export (schema 0.10 and 0.11; older 0.3-0.9 read
leniently), plain or compressed with gzip or bzip2, into a stream of typed
records for the importer. It is pure: no database, no network, no title
normalisation (validating titles is the importer's job).

Dumps are far larger than memory, so the XML is pull-parsed chunk by chunk
and every record's subtree is freed as soon as the record is built: memory
is bounded by the largest single record, not by the dump. For the same
reason a page's revisions are yielded one by one, after the page itself,
never collected.

Elements are matched by local name, whatever the XML namespace, because real
dumps mix them (a version="0.11" dump in the export-0.6 namespace exists).
Unknown elements are skipped; a missing required element is a `DumpError`.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import contextlib
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from lxml import etree

__all__ = [
    "Contributor",
    "DumpError",
    "DumpNamespace",
    "LogItem",
    "Page",
    "Record",
    "Revision",
    "SiteInfo",
    "Slot",
    "Upload",
    "read_dump",
]

_CHUNK_SIZE = 1 << 16

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
# Formats people download dumps in but that we do not read: say so clearly
# instead of reporting "malformed XML" on the compressed bytes.
_UNSUPPORTED_MAGIC = {
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"\x28\xb5\x2f\xfd": "zstd",
}
_MAGIC_LENGTH = max(map(len, _UNSUPPORTED_MAGIC))

_DOCTYPE_REFUSED = (
    "DOCTYPE declarations are refused: MediaWiki never writes one, and its "
    "entities could expand or pull in content"
)
# The first markup that is neither a comment, a processing instruction nor
# the XML declaration: either a DOCTYPE or the root element's start tag.
_PROLOGUE_END = re.compile(rb"<!DOCTYPE|<[A-Za-z_:]")
_ISO_8601 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z")
_LXML_POSITION = re.compile(r", line \d+, column \d+$")
# The root's end tag, then nothing but white space: how every complete dump ends
# (MediaWiki writes no comment or processing instruction after it).
_ROOT_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?mediawiki\s*>\s*\Z")
_TAIL_SIZE = 256

# LogPage::DELETED_* bits of logging.log_deleted, as XmlDumpWriter maps them
# to deleted="deleted" attributes.
_LOG_DELETED_ACTION = 1
_LOG_DELETED_COMMENT = 2
_LOG_DELETED_USER = 4


class DumpError(ValueError):
    """The dump cannot be read: malformed XML, a truncated or corrupt file,
    or a record without a required element.

    `line` (when known) and `page` (the title of the page being read, if
    any) are also in the message, so an operator can find the spot.
    """

    def __init__(self, problem: str, *, line: int | None = None, page: str | None = None) -> None:
        self.problem = problem
        self.line = line
        self.page = page
        where = []
        if line is not None:
            where.append(f"line {line}")
        if page is not None:
            where.append(f"page {page!r}")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


@dataclass(frozen=True)
class DumpNamespace:
    id: int
    case: str
    name: str  # "" for the main namespace


@dataclass(frozen=True)
class SiteInfo:
    """<siteinfo>; absent elements are ""."""

    sitename: str
    dbname: str
    base: str
    generator: str
    case: str
    namespaces: tuple[DumpNamespace, ...]


@dataclass(frozen=True)
class Contributor:
    """Who made a revision, upload or log entry.

    All None with deleted False when the dump has no <contributor> (old
    dumps); all None with deleted True when it is hidden (revision deletion).
    """

    username: str | None
    id: int | None
    ip: str | None
    deleted: bool


@dataclass(frozen=True)
class Page:
    """A <page>, yielded before its revisions and uploads.

    `title` is exactly as in the dump. `namespace` is <ns>; dumps older than
    0.6 have none, and then it is found from the title's prefix and the
    siteinfo namespace names, as MediaWiki's importer does (None when the
    dump lists no namespaces). `redirect` is the target, "" for an old-style
    <redirect/> without one, None for no redirect.
    """

    title: str
    namespace: int | None
    id: int | None
    redirect: str | None
    restrictions: str | None


@dataclass(frozen=True)
class Slot:
    """An extra <content> slot of a 0.11 revision (the main slot's content is
    in the Revision itself)."""

    role: str
    origin: int | None
    model: str | None
    format: str | None
    text: str | None
    text_deleted: bool


@dataclass(frozen=True)
class Revision:
    """A <revision> of the most recently yielded Page.

    `timestamp` is YYYYMMDDHHMMSS. `text` is None when the dump does not
    carry it: no <text> (old dumps), hidden (`text_deleted`), or a stub
    dump's reference (an empty <text> with an id or location attribute).
    """

    id: int | None
    parent_id: int | None
    timestamp: str
    contributor: Contributor
    minor: bool
    comment: str | None
    comment_deleted: bool
    model: str | None
    format: str | None
    text: str | None
    text_deleted: bool
    sha1: str | None
    origin: int | None
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class Upload:
    """An <upload> (a file version) of the most recently yielded Page.

    `contents` is the decoded <contents encoding="base64">, None when the
    dump was made without file contents. `sha1` is <sha1base36>, which
    MediaWiki writes although export-0.11.xsd does not allow it.
    `archivename` is set for old versions of a file.
    """

    timestamp: str
    contributor: Contributor
    comment: str | None
    filename: str
    src: str | None
    size: int | None
    sha1: str | None
    contents: bytes | None
    rel: str | None
    archivename: str | None = None


@dataclass(frozen=True)
class LogItem:
    """A <logitem>.

    `namespace` is found from `logtitle`'s prefix like Page.namespace (the
    dump has no <ns> for log items). `deleted` is logging.log_deleted as
    far as the dump tells it: 1 action (<text deleted>), 2 comment,
    4 user.
    """

    id: int | None
    timestamp: str
    contributor: Contributor
    comment: str | None
    comment_deleted: bool
    type: str
    action: str
    text: str | None
    logtitle: str | None
    namespace: int | None
    params: str | None
    deleted: int


Record = SiteInfo | Page | Revision | Upload | LogItem


def read_dump(source: str | os.PathLike[str] | BinaryIO) -> Iterator[Record]:
    """Yield the records of a MediaWiki XML dump, in document order.

    `source` is a path or a binary stream (left open); gzip and bzip2 are
    recognised by their magic bytes, not the file name. The SiteInfo comes
    first if the dump has one, each Page precedes its Revisions and Uploads.
    Raises DumpError when the dump is malformed, truncated or empty; records yielded before the
    error stand, so importers should use one transaction. Errors opening or
    reading the file itself are OSError as usual.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(source, (str, os.PathLike)):
            source = stack.enter_context(open(source, "rb"))
        stream, compression = _decompressed(source)
        stack.enter_context(stream)
        yield from _parse(_Input(stream, compression))


class _Prefixed(io.RawIOBase):
    """`head`, then the rest of `rest`: sniffing the magic bytes must not
    consume them, and the caller's stream may not be seekable."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressed(source: BinaryIO) -> tuple[BinaryIO, str | None]:
    """The XML bytes of `source` and the name of the compression they were
    read through (None for a plain file).

    The stream wrappers do not close `source`. gzip and bz2 read
    multi-member files, like Wikimedia's multistream dumps, to the end.
    """
    head = source.read(_MAGIC_LENGTH)
    for magic, name in _UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            raise DumpError(
                f"{name}-compressed dumps are not supported: decompress it, or recompress with gzip or bzip2"
            )
    raw = io.BufferedReader(_Prefixed(head, source))
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb"), "gzip"
    if head.startswith(_BZIP2_MAGIC):
        return bz2.BZ2File(raw), "bzip2"
    return raw, None


class _Input:
    """The XML bytes a chunk at a time, keeping what tells a dump that was cut
    short from a malformed one: where the input stopped and how it ended.

    A truncated file is the common failure of a large download or copy, and
    its fix (fetch it again) differs from a bad page's, so it is recognised
    here, from the bytes, and not from how a given libxml2 reports (or
    quietly recovers from) an end of input inside an element.
    """

    def __init__(self, stream: BinaryIO, compression: str | None) -> None:
        self.line = 1  # the line the input stopped on
        self.size = 0  # bytes read
        self.cut_short: str | None = None  # why the compressed stream ended early
        self._stream = stream
        self._compression = compression
        self._tail = b""

    def chunks(self) -> Iterator[bytes]:
        """The chunks to the end of input. A compressed stream that ends
        early stops the chunks and sets `cut_short`; a corrupt one is a
        DumpError (gzip, zlib and bz2 report it as OSError or zlib.error)."""
        while True:
            try:
                chunk = self._stream.read(_CHUNK_SIZE)
            except EOFError:
                if self._compression is None:
                    raise
                self.cut_short = f"its {self._compression} stream ends early"
                return
            except (OSError, zlib.error) as exc:
                if self._compression is None:
                    raise
                raise DumpError(f"corrupt {self._compression}-compressed dump: {exc}", line=self.line) from None
            if not chunk:
                return
            self.line += chunk.count(b"\n")
            self.size += len(chunk)
            self._tail = (self._tail + chunk)[-_TAIL_SIZE:]
            yield chunk

    def ends_with_root_end_tag(self) -> bool:
        return _ROOT_END.search(self._tail) is not None


def _parse(source: _Input) -> Iterator[Record]:
    """Pull-parse the XML bytes into records."""
    parser = etree.XMLPullParser(
        events=("start", "end"),
        # Never expand entities, fetch anything or read a DTD: a dump is
        # untrusted input and needs none of that.
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        # Without huge_tree libxml2 refuses any text node over 10,000,000
        # bytes; base64 <contents> of uploads are routinely bigger, and so
        # are revision texts of wikis that raised $wgMaxArticleSize. It also
        # relaxes libxml2's guards against entity amplification, which
        # cannot happen here: entities are never expanded and a DOCTYPE is
        # refused before the root element.
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
    )
    reader = _Reader()
    try:
        for number, chunk in enumerate(source.chunks()):
            if number == 0:
                _check_prologue(chunk)
            parser.feed(chunk)
            yield from reader.records(parser.read_events())
        if source.size == 0 and not source.cut_short:
            raise DumpError("the dump is empty")
        if source.cut_short or not (reader.finished or source.ends_with_root_end_tag()):
            # Checked before close(): libxml2 would report the open elements,
            # or close them and hand over records missing their last fields.
            why = source.cut_short or "it ends before </mediawiki>"
            raise DumpError(
                f"the dump is truncated: {why}; the file was cut short, download or copy it again",
                line=source.line,
                page=reader.page_title,
            )
        parser.close()
    except etree.XMLSyntaxError as exc:
        # What was parsed before the error still yields its records, and
        # tells which page the error is in.
        yield from reader.records(parser.read_events())
        problem = "malformed XML: " + _LXML_POSITION.sub("", exc.msg or str(exc))
        raise DumpError(problem, line=exc.lineno or None, page=reader.page_title) from None
    yield from reader.records(parser.read_events())


def _check_prologue(head: bytes) -> None:
    """Refuse a DOCTYPE before libxml2 parses it (in the first chunk, which
    holds the prologue of any real dump; the root element check is the
    backstop for the others)."""
    match = _PROLOGUE_END.search(head)
    if match is not None and match.group() == b"<!DOCTYPE":
        raise DumpError(_DOCTYPE_REFUSED, line=head.count(b"\n", 0, match.start()) + 1)


class _Reader:
    """Turns parser events into records, keeping in the tree only what the
    current record still needs.

    Depth 1 is <mediawiki>, depth 2 its records (<siteinfo>, <page>,
    <logitem>), depth 3 the children of a <page>.
    """

    def __init__(self) -> None:
        self.page_title: str | None = None  # of the page being read, for errors
        self.finished = False  # the root element ended
        self._depth = 0
        self._in_page = False
        self._page_yielded = False
        self._namespaces: dict[str, int] = {}

    def records(self, events: Iterable[tuple[str, etree._Element]]) -> Iterator[Record]:
        try:
            for event, elem in events:
                if event == "start":
                    self._depth += 1
                    yield from self._start(elem)
                else:
                    yield from self._end(elem)
                    self._depth -= 1
        except DumpError as exc:
            if exc.page is not None or self.page_title is None:
                raise
            raise DumpError(exc.problem, line=exc.line, page=self.page_title) from None

    def _start(self, elem: etree._Element) -> Iterator[Record]:
        if self._depth == 1:
            _check_root(elem)
        elif self._depth == 2 and _name(elem) == "page":
            self._in_page = True
            self._page_yielded = False
        elif (
            self._depth == 3
            and self._in_page
            and not self._page_yielded
            and _name(elem) in ("revision", "upload")
        ):
            # The page's own fields precede its first revision and are
            # complete by now; the revisions must come after the Page.
            yield self._page(elem.getparent())

    def _end(self, elem: etree._Element) -> Iterator[Record]:
        if self._depth == 3 and self._in_page:
            name = _name(elem)
            if name == "title":
                self.page_title = elem.text or ""
            elif name == "revision":
                yield _revision(elem)
            elif name == "upload":
                yield _upload(elem)
            if self._page_yielded:
                _discard(elem)
        elif self._depth == 2:
            yield from self._end_record(elem)
            _discard(elem)
        elif self._depth == 1:
            self.finished = True

    def _end_record(self, elem: etree._Element) -> Iterator[Record]:
        name = _name(elem)
        if name == "siteinfo":
            site = _site_info(elem)
            self._namespaces = {_namespace_key(ns.name): ns.id for ns in site.namespaces if ns.name}
            yield site
        elif name == "page":
            if not self._page_yielded:
                yield self._page(elem)
            self._in_page = False
            self.page_title = None
        elif name == "logitem":
            yield _log_item(elem, self._namespaces)

    def _page(self, elem: etree._Element) -> Page:
        fields = _fields(elem)
        title = _required_text(fields, "title", elem)
        namespace = _optional_int(fields.get("ns"))
        if namespace is None:
            namespace = _namespace_of(title, self._namespaces)
        redirect = fields.get("redirect")
        page = Page(
            title=title,
            namespace=namespace,
            id=_optional_int(fields.get("id")),
            redirect=None if redirect is None else redirect.get("title", ""),
            restrictions=_optional_text(fields.get("restrictions")),
        )
        self._page_yielded = True
        return page


def _check_root(elem: etree._Element) -> None:
    if elem.getroottree().docinfo.doctype:
        raise DumpError(_DOCTYPE_REFUSED, line=elem.sourceline)
    if _name(elem) != "mediawiki":
        raise DumpError(f"not a MediaWiki export: the root element is <{_name(elem)}>", line=elem.sourceline)


def _discard(elem: etree._Element) -> None:
    """Free a consumed element and the consumed siblings before it, so the
    tree never grows with the dump."""
    elem.clear()
    parent = elem.getparent()
    while elem.getprevious() is not None:
        del parent[0]


def _site_info(elem: etree._Element) -> SiteInfo:
    fields = _fields(elem)
    case = _optional_text(fields.get("case")) or ""
    namespaces = fields.get("namespaces")
    return SiteInfo(
        sitename=_optional_text(fields.get("sitename")) or "",
        dbname=_optional_text(fields.get("dbname")) or "",
        base=_optional_text(fields.get("base")) or "",
        generator=_optional_text(fields.get("generator")) or "",
        case=case,
        namespaces=()
        if namespaces is None
        else tuple(_namespace(child, case) for child in namespaces if _name(child) == "namespace"),
    )


def _namespace(elem: etree._Element, site_case: str) -> DumpNamespace:
    """A <namespace>; old dumps give no case attribute, it is the site's."""
    key = elem.get("key")
    if key is None:
        raise DumpError("<namespace> without key attribute", line=elem.sourceline)
    return DumpNamespace(
        id=_int(key, "<namespace> key", elem.sourceline),
        case=elem.get("case") or site_case,
        name=elem.text or "",
    )


def _namespace_key(name: str) -> str:
    """Namespace names match like in MediaWiki: case-insensitively, with
    underscores for spaces."""
    return name.replace("_", " ").strip().lower()


def _namespace_of(title: str, namespaces: dict[str, int]) -> int | None:
    """The namespace of a prefixed title, or None if the dump listed no
    namespace names to tell it by."""
    if not namespaces:
        return None
    prefix, colon, _ = title.partition(":")
    return namespaces.get(_namespace_key(prefix), 0) if colon else 0


def _revision(elem: etree._Element) -> Revision:
    fields = _fields(elem)
    comment, comment_deleted = _deletable_text(fields.get("comment"))
    text, text_deleted = _content_text(fields.get("text"))
    return Revision(
        id=_optional_int(fields.get("id")),
        parent_id=_optional_int(fields.get("parentid")),
        timestamp=_timestamp(_required(fields, "timestamp", elem)),
        contributor=_contributor(fields.get("contributor")),
        minor="minor" in fields,
        comment=comment,
        comment_deleted=comment_deleted,
        model=_optional_text(fields.get("model")),
        format=_optional_text(fields.get("format")),
        text=text,
        text_deleted=text_deleted,
        # MediaWiki writes <sha1/> when it does not know the hash.
        sha1=_optional_text(fields.get("sha1")) or None,
        origin=_optional_int(fields.get("origin")),
        slots=tuple(_slot(child) for child in elem if _name(child) == "content"),
    )


def _slot(elem: etree._Element) -> Slot:
    fields = _fields(elem)
    text, text_deleted = _content_text(fields.get("text"))
    return Slot(
        role=_required_text(fields, "role", elem),
        origin=_optional_int(fields.get("origin")),
        model=_optional_text(fields.get("model")),
        format=_optional_text(fields.get("format")),
        text=text,
        text_deleted=text_deleted,
    )


def _upload(elem: etree._Element) -> Upload:
    fields = _fields(elem)
    return Upload(
        timestamp=_timestamp(_required(fields, "timestamp", elem)),
        contributor=_contributor(fields.get("contributor")),
        comment=_optional_text(fields.get("comment")),
        filename=_required_text(fields, "filename", elem),
        src=_optional_text(fields.get("src")),
        size=_optional_int(fields.get("size")),
        sha1=_optional_text(fields.get("sha1base36")) or None,
        contents=_contents(fields.get("contents")),
        rel=_optional_text(fields.get("rel")),
        archivename=_optional_text(fields.get("archivename")),
    )


def _contents(elem: etree._Element | None) -> bytes | None:
    if elem is None:
        return None
    encoding = elem.get("encoding")
    if encoding != "base64":
        raise DumpError(
            f"<contents> encoding {encoding!r} is not supported, only 'base64'", line=elem.sourceline
        )
    try:
        # MediaWiki wraps the base64 at 76 columns.
        return base64.b64decode("".join((elem.text or "").split()), validate=True)
    except binascii.Error as exc:
        raise DumpError(f"<contents> is not valid base64: {exc}", line=elem.sourceline) from None


def _log_item(elem: etree._Element, namespaces: dict[str, int]) -> LogItem:
    fields = _fields(elem)
    contributor = _contributor(fields.get("contributor"))
    comment, comment_deleted = _deletable_text(fields.get("comment"))
    text, text_deleted = _deletable_text(fields.get("text"))
    logtitle = _optional_text(fields.get("logtitle"))
    deleted = (
        (_LOG_DELETED_ACTION if text_deleted else 0)
        | (_LOG_DELETED_COMMENT if comment_deleted else 0)
        | (_LOG_DELETED_USER if contributor.deleted else 0)
    )
    return LogItem(
        id=_optional_int(fields.get("id")),
        timestamp=_timestamp(_required(fields, "timestamp", elem)),
        contributor=contributor,
        comment=comment,
        comment_deleted=comment_deleted,
        type=_required_text(fields, "type", elem),
        action=_required_text(fields, "action", elem),
        text=text,
        logtitle=logtitle,
        namespace=None if logtitle is None else _namespace_of(logtitle, namespaces),
        params=_optional_text(fields.get("params")),
        deleted=deleted,
    )


def _contributor(elem: etree._Element | None) -> Contributor:
    if elem is None:
        return Contributor(username=None, id=None, ip=None, deleted=False)
    if _is_deleted(elem):
        return Contributor(username=None, id=None, ip=None, deleted=True)
    fields = _fields(elem)
    return Contributor(
        username=_optional_text(fields.get("username")),
        id=_optional_int(fields.get("id")),
        ip=_optional_text(fields.get("ip")),
        deleted=False,
    )


def _timestamp(elem: etree._Element) -> str:
    """The dump's ISO 8601 "2001-01-15T13:15:00Z" as MediaWiki's database
    format "20010115131500"."""
    text = (elem.text or "").strip()
    match = _ISO_8601.fullmatch(text)
    if match is None or not _is_real_time(match.groups()):
        raise DumpError(
            f"<timestamp> is not a UTC ISO 8601 time like 2001-01-15T13:15:00Z: {text!r}", line=elem.sourceline
        )
    return "".join(match.groups())


def _is_real_time(numbers: tuple[str, ...]) -> bool:
    """Whether year, month, day, hour, minute and second exist (no month 13,
    no February 30)."""
    try:
        datetime(*map(int, numbers))
    except ValueError:
        return False
    return True


def _is_deleted(elem: etree._Element) -> bool:
    """MediaWiki marks hidden (revision-deleted) data with deleted="deleted"
    and leaves the element empty; any value counts, to never expose it."""
    return elem.get("deleted") is not None


def _deletable_text(elem: etree._Element | None) -> tuple[str | None, bool]:
    """(text, deleted) of an element that revision deletion may hide."""
    if elem is None:
        return None, False
    if _is_deleted(elem):
        return None, True
    return elem.text or "", False


def _content_text(elem: etree._Element | None) -> tuple[str | None, bool]:
    """(text, deleted) of a <text>; a stub dump's <text id=".." /> or
    <text location=".." /> points at content that is not in the dump."""
    text, deleted = _deletable_text(elem)
    if text == "" and (elem.get("id") is not None or elem.get("location") is not None):
        return None, False
    return text, deleted


def _fields(elem: etree._Element) -> dict[str, etree._Element]:
    """The children by local name (the first of each; order varies across
    schema versions)."""
    fields: dict[str, etree._Element] = {}
    for child in elem:
        fields.setdefault(_name(child), child)
    return fields


def _name(elem: etree._Element) -> str:
    """The local name: "{http://www.mediawiki.org/xml/export-0.11/}page" -> "page"."""
    return elem.tag.rpartition("}")[2]


def _required(fields: dict[str, etree._Element], name: str, owner: etree._Element) -> etree._Element:
    child = fields.get(name)
    if child is None:
        raise DumpError(f"<{_name(owner)}> without <{name}>", line=owner.sourceline)
    return child


def _required_text(fields: dict[str, etree._Element], name: str, owner: etree._Element) -> str:
    return _required(fields, name, owner).text or ""


def _optional_text(elem: etree._Element | None) -> str | None:
    return None if elem is None else elem.text or ""


def _optional_int(elem: etree._Element | None) -> int | None:
    """An integer element's value; None when absent, and leniently also when
    empty: an empty id carries no information worth failing an import for."""
    if elem is None or not (elem.text or "").strip():
        return None
    return _int(elem.text, f"<{_name(elem)}>", elem.sourceline)


def _int(text: str, what: str, line: int | None) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DumpError(f"{what} is not an integer: {text!r}", line=line) from None
