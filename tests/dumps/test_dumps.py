"""Tests of gitaccess.dumps.reader, the streaming MediaWiki XML dump reader."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import os
import tracemalloc
from pathlib import Path

import pytest

from tests.conftest import SHARED
from gitaccess.dumps.reader import (
    Contributor,
    DumpError,
    DumpNamespace,
    LogItem,
    Page,
    Revision,
    SiteInfo,
    Slot,
    Upload,
    read_dump,
)

FIXTURES = SHARED / "fixtures" / "dumps"
HEADER = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">\n'
SITEINFO = """<siteinfo><sitename>T</sitename><dbname>t</dbname><base>http://t/</base>
<generator>MediaWiki 1.39</generator><case>first-letter</case><namespaces>
<namespace key="0" case="first-letter" /><namespace key="1" case="first-letter">Talk</namespace>
<namespace key="6" case="first-letter">File</namespace></namespaces></siteinfo>
"""
REVISION = (
    "<revision><id>{id}</id><timestamp>2020-01-01T00:00:00Z</timestamp>"
    "<contributor><username>U</username><id>1</id></contributor>"
    '<text xml:space="preserve">{text}</text></revision>'
)


def dump(body: str, siteinfo: str = SITEINFO) -> bytes:
    return (HEADER + siteinfo + body + "</mediawiki>\n").encode()


def records(data: bytes) -> list:
    return list(read_dump(io.BytesIO(data)))


def of_type(items: list, kind: type) -> list:
    return [item for item in items if isinstance(item, kind)]


def fixture(name: str) -> list:
    return list(read_dump(FIXTURES / name))


# --- The fixtures -------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.xml")), ids=lambda path: path.name)
def test_every_fixture_reads_and_pages_precede_their_revisions(path: Path) -> None:
    items = list(read_dump(path))
    assert items
    page = None
    for item in items:
        if isinstance(item, Page):
            page = item
        elif isinstance(item, (Revision, Upload)):
            assert page is not None
        elif isinstance(item, SiteInfo):
            assert item is items[0]


def test_docs_export_demo() -> None:
    items = fixture("mw1.39-docs-export-demo.xml")
    site = items[0]
    assert site == SiteInfo(
        sitename="DemoWiki",
        dbname="demowiki",
        base="http://example.com/wiki/Main_Page",
        generator="MediaWiki 1.24",
        case="first-letter",
        namespaces=site.namespaces,
    )
    assert len(site.namespaces) == 18
    assert site.namespaces[0] == DumpNamespace(id=-2, case="first-letter", name="Media")
    assert site.namespaces[2] == DumpNamespace(id=0, case="first-letter", name="")
    assert site.namespaces[5] == DumpNamespace(id=3, case="first-letter", name="User talk")
    assert [type(item).__name__ for item in items[1:]] == [
        "Page", "Revision", "Revision", "Page", "Revision", "Page", "Revision", "Upload", "LogItem",
    ]  # fmt: skip
    assert items[1] == Page(
        title="Page title", namespace=0, id=1, redirect="Target", restrictions="edit=sysop:move=sysop"
    )
    # The newer revision comes first in this file: order is the dump's.
    assert items[2] == Revision(
        id=100,
        parent_id=99,
        timestamp="20010115131500",
        contributor=Contributor(username="Foobar", id=42, ip=None, deleted=False),
        minor=True,
        comment="I have just one thing to say!",
        comment_deleted=False,
        model="wikitext",
        format="text/x-wiki",
        text="A bunch of [[text]] here.",
        text_deleted=False,
        sha1="5x0ux8iwjrbmfzgv6pkketxgkcnpr7h",
        origin=None,
        slots=(),
    )
    assert items[3].id == 99 and items[3].parent_id is None and not items[3].minor
    assert items[3].contributor == Contributor(username=None, id=None, ip="10.0.0.2", deleted=False)
    assert items[3].timestamp == "20010115131027"
    assert items[4].title == "Talk:Page title" and items[4].namespace == 1
    assert items[5].text == "WHYD YOU LOCK PAGE??!!! i was editing that jerk"
    assert items[6] == Page(title="File:Some image.jpg", namespace=6, id=3, redirect=None, restrictions=None)
    assert items[8] == Upload(
        timestamp="20010115203412",
        contributor=Contributor(username="Foobar", id=42, ip=None, deleted=False),
        comment="My awesomeest image!",
        filename="Some_image.jpg",
        src="http://upload.wikimedia.org/commons/2/22/Some_image.jpg",
        size=12345,
        sha1=None,
        contents=None,
        rel=None,
    )
    assert items[9] == LogItem(
        id=15,
        timestamp="20081023032032",
        contributor=Contributor(username="Wikimedian", id=12345, ip=None, deleted=False),
        comment="content was: 'I think this was a silly edit'",
        comment_deleted=False,
        type="delete",
        action="delete",
        text=None,
        logtitle="Silly page name",
        namespace=0,
        params="",
        deleted=0,
    )


def test_anon_user_dump_in_a_mismatched_xml_namespace() -> None:
    # xmlns export-0.6 but version="0.11": elements match by local name.
    items = fixture("mwcore-ImportAnonUserTest.xml")
    site, page, revision = items
    assert site.sitename == "dewiki.home.arpa" and site.dbname == "dewiki"
    assert site.namespaces[4] == DumpNamespace(id=2, case="first-letter", name="Benutzer")
    assert page == Page(title="Test", namespace=0, id=2, redirect=None, restrictions=None)
    assert revision.contributor == Contributor(username=None, id=None, ip="192.0.2.14", deleted=False)
    assert (revision.id, revision.parent_id, revision.origin) == (3, 2, 3)
    assert revision.timestamp == "20240724175245"
    assert revision.comment is None
    assert revision.text == "test\n[[Category:Test]]"
    assert revision.sha1 == "0xfsdg7qfs9179iudbmlqrbzi6uws92"


def test_link_cache_dump_of_mediawiki_1_19() -> None:
    items = fixture("mwcore-ImportLinkCacheIntegrationTest.xml")
    site = items[0]
    assert (site.sitename, site.dbname, site.generator, site.namespaces) == ("MW-19", "", "MediaWiki 1.19.7", ())
    pages = of_type(items, Page)
    assert [(p.title, p.namespace, p.id) for p in pages] == [
        ("Lorem ipsum", 0, 493),
        ("Category:Lorem ipsum", 14, 496),
    ]
    first, second = of_type(items, Revision)
    assert first.id == 1358 and first.contributor.username == "Tester" and first.contributor.id == 1
    assert first.model is None and first.format is None and first.sha1 is None
    assert first.text.startswith("[[Has text::Lorem ipsum dolor sit amet")
    assert first.text.endswith("\n\n[[Category:Lorem ipsum]]")
    # The fixture itself holds doubly UTF-8-encoded text; it is read as is.
    assert "10.25 km\u00c2\u00b2" in first.text
    assert second.text == "[[Category:Main]]" and second.timestamp == "20140404222918"


def test_slots_fixture_keeps_the_placeholder_title() -> None:
    items = fixture("mwcore-Slots.import-1.xml")
    _site, page, revision = items
    assert page.title == "{{page1_title}}"
    assert revision.text == "Hello" and revision.comment == "Testing slots" and revision.origin == 4
    assert revision.contributor == Contributor(username="Heffalump", id=3, ip=None, deleted=False)
    assert revision.slots == (
        Slot(
            role="importexporttest",
            origin=4,
            model="wikitext",
            format="text/x-wiki",
            text="This is a slot",
            text_deleted=False,
        ),
    )


def test_mwxml_dump_with_model_after_text() -> None:
    items = fixture("mwxml-dump.xml")
    assert items[0].dbname == "enwiki"
    assert [p.title for p in of_type(items, Page)] == ["Foo", "Bar"]
    revisions = of_type(items, Revision)
    assert [(r.id, r.text) for r in revisions] == [
        (1, "Revision 1 text"),
        (2, "Revision 2 text"),
        (3, "Revision 3 text"),
    ]
    assert revisions[0].contributor == Contributor(username="Gen0cide", id=92182, ip=None, deleted=False)
    assert revisions[1].contributor.ip == "222.152.210.109"
    assert revisions[1].comment == "Comment 2" and revisions[1].model == "wikitext"
    assert items[4] == Page(title="Bar", namespace=1, id=2, redirect=None, restrictions=None)


def test_mwxml_log_items() -> None:
    items = fixture("mwxml-test_dump-LOG_XML.xml")
    first, second = of_type(items, LogItem)
    assert len(items) == 3
    assert first.id == 1 and first.timestamp == "20041223032032"
    assert first.contributor == Contributor(username="Slowking Man", id=56299, ip=None, deleted=False)
    assert first.comment.startswith("content was: '[[Media:Example.og[http://www.example.com link title]")
    assert (first.type, first.action, first.logtitle, first.namespace) == ("delete", "delete", "Vivian Blaine", 0)
    assert first.params == "" and first.text is None and first.deleted == 0
    assert second.comment == "{{GFDL}} {{cc-by-sa-2.0}}"
    assert (second.type, second.action, second.logtitle) == ("upload", "upload", "File:Mini Christmas tree.png")
    assert second.namespace == 0  # this siteinfo lists only namespaces 0 and 1


def test_mwxml_old_dump_without_ns_or_contributor() -> None:
    items = fixture("mwxml-test_dump-OLD_XML.xml")
    assert items[1] == Page(title="Talk:Foo", namespace=1, id=1, redirect=None, restrictions=None)
    revisions = of_type(items, Revision)
    assert [(r.id, r.timestamp) for r in revisions] == [(1, "20040809090408"), (2, "20040810090408")]
    assert revisions[0].contributor == Contributor(username=None, id=None, ip=None, deleted=False)
    assert revisions[0].text is None and not revisions[0].text_deleted


def test_mwxml_sample_with_redirect_and_restrictions() -> None:
    items = fixture("mwxml-test_dump-SAMPLE_XML.xml")
    assert of_type(items, Page) == [
        Page(title="Foo", namespace=0, id=1, redirect=None, restrictions=None),
        Page(
            title="Talk:Bar",
            namespace=1,
            id=2,
            redirect="Computer accessibility",
            restrictions="edit=sysop:move=sysop",
        ),
    ]
    assert [r.id for r in of_type(items, Revision)] == [1, 2, 3, 4]
    assert [type(item).__name__ for item in items[3:6]] == ["Revision", "Page", "Revision"]


# --- Features beyond the fixtures ----------------------------------------------


def test_deleted_attributes_hide_values() -> None:
    items = records(
        dump(
            "<page><title>P</title><ns>0</ns><id>1</id><revision><id>1</id>"
            "<timestamp>2020-01-01T00:00:00Z</timestamp>"
            '<contributor deleted="deleted" /><comment deleted="deleted" />'
            '<text deleted="deleted" bytes="10" /><sha1 /></revision></page>'
            "<logitem><id>7</id><timestamp>2020-01-02T00:00:00Z</timestamp>"
            '<contributor deleted="deleted" /><comment deleted="deleted" />'
            '<type>delete</type><action>delete</action><text deleted="deleted" /></logitem>'
            "<logitem><id>8</id><timestamp>2020-01-03T00:00:00Z</timestamp>"
            "<contributor><username>A</username><id>2</id></contributor>"
            '<comment deleted="deleted" /><type>block</type><action>block</action>'
            "<logtitle>User:B</logtitle><params>x</params></logitem>"
        )
    )
    revision = of_type(items, Revision)[0]
    assert revision.contributor == Contributor(username=None, id=None, ip=None, deleted=True)
    assert (revision.comment, revision.comment_deleted) == (None, True)
    assert (revision.text, revision.text_deleted) == (None, True)
    assert revision.sha1 is None
    hidden, comment_hidden = of_type(items, LogItem)
    assert hidden.deleted == 7 and hidden.contributor.deleted and hidden.comment_deleted
    assert hidden.text is None and hidden.logtitle is None and hidden.namespace is None
    assert comment_hidden.deleted == 2 and comment_hidden.comment is None
    assert comment_hidden.namespace == 0  # "User" is not among this siteinfo's names
    assert comment_hidden.params == "x"


def test_upload_with_contents_and_sha1base36_like_mediawiki_1_39() -> None:
    payload = bytes(range(256)) * 40
    encoded = base64.encodebytes(payload).decode()  # wrapped at 76 columns, like chunk_split
    items = records(
        dump(
            "<page><title>File:A.png</title><ns>6</ns><id>5</id>"
            "<upload><timestamp>2022-03-04T05:06:07Z</timestamp>"
            '<contributor deleted="deleted" />'
            "<comment>up</comment><filename>A.png</filename>"
            "<archivename>20220304050607!A.png</archivename>"
            "<src>http://t/images/a/a9/A.png</src><size>10240</size>"
            "<sha1base36>abc123</sha1base36><rel>a/a9/A.png</rel>"
            f'<contents encoding="base64">\n{encoded}      </contents></upload></page>'
        )
    )
    page, upload = items[1:]
    assert page.namespace == 6
    assert upload == Upload(
        timestamp="20220304050607",
        contributor=Contributor(username=None, id=None, ip=None, deleted=True),
        comment="up",
        filename="A.png",
        src="http://t/images/a/a9/A.png",
        size=10240,
        sha1="abc123",
        contents=payload,
        rel="a/a9/A.png",
        archivename="20220304050607!A.png",
    )


def test_unknown_elements_are_skipped_and_pages_without_revisions_yielded() -> None:
    items = records(
        dump(
            "<unknown><x>1</x></unknown>"
            "<page><title>Empty</title><ns>0</ns><id>1</id><sha1>x</sha1></page>"
            "<page><title>Talk:T</title><id>2</id><redirect /><future>?</future>"
            "<revision><id>3</id><timestamp>2020-01-01T00:00:00Z</timestamp><new>x</new>"
            '<text bytes="0" xml:space="preserve" /></revision>'
            "<discussionthreadinginfo><ThreadSubject>s</ThreadSubject></discussionthreadinginfo></page>"
        )
    )
    assert [type(item).__name__ for item in items] == ["SiteInfo", "Page", "Page", "Revision"]
    assert items[1] == Page(title="Empty", namespace=0, id=1, redirect=None, restrictions=None)
    assert items[2] == Page(title="Talk:T", namespace=1, id=2, redirect="", restrictions=None)
    assert items[3].text == ""


def test_stub_dump_text_reference_is_no_text() -> None:
    items = records(
        dump(
            "<page><title>S</title><ns>0</ns><id>1</id><revision><id>1</id>"
            "<timestamp>2020-01-01T00:00:00Z</timestamp>"
            '<text bytes="12" id="99" location="tt:99" /></revision></page>'
        )
    )
    assert of_type(items, Revision)[0].text is None


def test_dump_without_siteinfo_gives_no_namespace_for_unprefixed_old_pages() -> None:
    page = "<page><title>Talk:X</title>" + REVISION.format(id=1, text="t") + "</page>"
    items = records(dump(page, siteinfo=""))
    assert items[0] == Page(title="Talk:X", namespace=None, id=None, redirect=None, restrictions=None)


@pytest.mark.parametrize("size", [5_000_000, 11_000_000], ids=["5MB", "11MB-over-libxml2-default-limit"])
def test_large_revision_text(size: int) -> None:
    text = ("Großes Wiki " * (size // 12 + 1))[:size]
    page = "<page><title>Big</title><ns>0</ns><id>1</id>" + REVISION.format(id=1, text=text) + "</page>"
    items = records(dump(page))
    assert of_type(items, Revision)[0].text == text


# --- Compression and sources ------------------------------------------------------


def sample() -> bytes:
    """A dump of 2,000 pages of one revision each."""
    return dump(
        "".join(
            f"<page><title>P{n}</title><ns>0</ns><id>{n}</id>"
            + REVISION.format(id=n, text=f"text {n} &amp; more")
            + "</page>"
            for n in range(1, 2001)
        )
    )


def titles_and_texts(items: list) -> tuple[list[str], list[str]]:
    return [p.title for p in of_type(items, Page)], [r.text for r in of_type(items, Revision)]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bzip2"])
def test_compressed_dumps_are_detected_by_magic_bytes(tmp_path: Path, compress) -> None:
    path = tmp_path / "dump.xml"  # the name does not tell
    path.write_bytes(compress(sample()))
    titles, texts = titles_and_texts(list(read_dump(path)))
    assert titles[0] == "P1" and titles[-1] == "P2000" and len(titles) == 2000
    assert texts[1999] == "text 2000 & more"
    assert titles_and_texts(list(read_dump(str(path)))) == (titles, texts)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bzip2"])
def test_multistream_compressed_dump(tmp_path: Path, compress) -> None:
    # Wikimedia's multistream dumps are concatenated compressed streams.
    data = sample()
    path = tmp_path / "dump.xml.bz2"
    path.write_bytes(b"".join(compress(data[start : start + 5000]) for start in range(0, len(data), 5000)))
    assert titles_and_texts(list(read_dump(path))) == titles_and_texts(records(data))


def test_unseekable_stream_source() -> None:
    class Pipe:
        def __init__(self, data: bytes) -> None:
            self._stream = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._stream.read(min(size, 1000))

    titles, _texts = titles_and_texts(list(read_dump(Pipe(gzip.compress(sample())))))
    assert len(titles) == 2000


def test_unsupported_compression_is_named() -> None:
    with pytest.raises(DumpError, match="7z-compressed dumps are not supported"):
        list(read_dump(io.BytesIO(b"7z\xbc\xaf\x27\x1c\x00\x04rest")))


# --- Errors -------------------------------------------------------------------------


def test_truncated_dump_raises_after_the_complete_records() -> None:
    data = sample()
    cut = data[: len(data) // 2]
    seen = []
    with pytest.raises(DumpError, match="the dump is truncated: it ends before </mediawiki>") as error:
        for item in read_dump(io.BytesIO(cut)):
            seen.append(item)
    assert len(of_type(seen, Page)) > 900
    assert error.value.line == cut.count(b"\n") + 1


#: Where a download can stop: each cut keeps the bytes before the marker's first (or,
#: for "after", last) occurrence. "between-pages" leaves only complete pages, which
#: a libxml2 that closes open elements at the end of input would accept silently.
CUTS = {
    "inside-page": (b"<ns>", "first"),
    "inside-revision": (b"<timestamp>", "first"),
    "inside-text": (b"</text>", "first"),
    "between-pages": (b"<page>", "last"),
    "before-root-end": (b"</mediawiki>", "first"),
    "inside-root-end": (b"wiki>", "last"),
}


def cut_at(data: bytes, marker: bytes, which: str) -> bytes:
    return data[: data.index(marker) if which == "first" else data.rindex(marker)]


@pytest.mark.parametrize("marker, which", CUTS.values(), ids=CUTS.keys())
def test_truncation_is_reported_as_such_with_its_line(marker: bytes, which: str) -> None:
    cut = cut_at(sample(), marker, which)
    with pytest.raises(DumpError, match=r"^line \d+(, page '[^']*')?: the dump is truncated") as error:
        records(cut)
    assert error.value.line == cut.count(b"\n") + 1


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bzip2"])
def test_truncated_compressed_dump(compress) -> None:
    data = compress(sample())
    with pytest.raises(DumpError, match=r"^line \d+(, page '[^']*')?: the dump is truncated: its (gzip|bzip2) stream ends early") as error:
        list(read_dump(io.BytesIO(data[: len(data) // 2])))
    assert error.value.line is not None  # bzip2 yields nothing before its first whole block


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bzip2"])
def test_compressed_dump_cut_at_a_page_boundary_is_truncated(compress) -> None:
    """The compressed stream is whole, the XML inside it is not."""
    data = compress(cut_at(sample(), b"<page>", "last"))
    with pytest.raises(DumpError, match="the dump is truncated: it ends before </mediawiki>"):
        list(read_dump(io.BytesIO(data)))


def test_corrupt_compressed_dump() -> None:
    data = bytearray(gzip.compress(sample()))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(DumpError, match="corrupt gzip-compressed dump"):
        list(read_dump(io.BytesIO(bytes(data))))


def test_empty_and_garbage_files() -> None:
    with pytest.raises(DumpError, match="^the dump is empty$"):
        records(b"")
    with pytest.raises(DumpError, match="not a MediaWiki export: the root element is <html>"):
        records(b"<html><body/></html>")
    with pytest.raises(DumpError, match="^line 1: malformed XML"):
        records(b"\x00garbage")


def test_malformed_xml_names_line_and_page() -> None:
    data = dump("<page><title>Broken</title><ns>0</ns>\n<id>1</id>\n<revision><id>1</wrong></revision></page>")
    with pytest.raises(DumpError) as error:
        records(data)
    assert error.value.page == "Broken"
    assert str(error.value).startswith("line 8, page 'Broken': malformed XML: Opening and ending tag")
    assert not isinstance(error.value.__cause__, Exception)


DOCTYPE_BODY = """<!DOCTYPE mediawiki [<!ENTITY boom "EXPANDED">]>
<mediawiki version="0.11" xml:lang="en" attr="&boom;"><page><title>&boom;</title><ns>0</ns>
<revision><timestamp>2020-01-01T00:00:00Z</timestamp><text>&boom;</text></revision></page></mediawiki>
"""


@pytest.mark.parametrize("prologue", ["", "<!--" + "x" * 100_000 + "-->\n"], ids=["plain", "after-long-comment"])
def test_doctype_is_refused_and_entities_never_expanded(prologue: str) -> None:
    seen = []
    with pytest.raises(DumpError, match="DOCTYPE declarations are refused") as error:
        for item in read_dump(io.BytesIO(('<?xml version="1.0"?>\n' + prologue + DOCTYPE_BODY).encode())):
            seen.append(item)
    assert seen == []
    assert "EXPANDED" not in str(error.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<page><ns>0</ns><id>1</id>" + REVISION.format(id=1, text="t") + "</page>", "<page> without <title>"),
        (
            "<page><title>T</title><revision><id>1</id><text>t</text></revision></page>",
            "page 'T': <revision> without <timestamp>",
        ),
        (
            "<page><title>T</title><revision><timestamp>2020-13-01T00:00:00Z</timestamp></revision></page>",
            "is not a UTC ISO 8601 time",
        ),
        ("<page><title>T</title><ns>main</ns></page>", "page 'T': <ns> is not an integer: 'main'"),
        ("<logitem><id>1</id><timestamp>2020-01-01T00:00:00Z</timestamp></logitem>", "<logitem> without <type>"),
        (
            "<page><title>F</title><upload><timestamp>2020-01-01T00:00:00Z</timestamp>"
            '<filename>F</filename><contents encoding="uuencode">x</contents></upload></page>',
            "encoding 'uuencode' is not supported",
        ),
    ],
)
def test_missing_or_invalid_required_values(body: str, message: str) -> None:
    with pytest.raises(DumpError, match=message.replace("(", r"\(")) as error:
        records(dump(body))
    assert str(error.value).startswith("line ")


# --- Memory -------------------------------------------------------------------------


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_memory_does_not_grow_with_the_dump(tmp_path: Path) -> None:
    """20,000 revisions of 2 kB (40 MB of text): without freeing consumed
    elements libxml2's tree would grow by ~100 MB. tracemalloc sees only
    Python's allocations (records kept by the reader), the resident set size
    also libxml2's."""
    count, bound = 20_000, 20_000_000
    path = tmp_path / "big.xml"
    body = "x" * 2000
    with open(path, "w") as out:
        out.write(HEADER + SITEINFO + "<page><title>Big</title><ns>0</ns><id>1</id>\n")
        for n in range(1, count + 1):
            out.write(REVISION.format(id=n, text=f"{n} {body}") + "\n")
        out.write("</page></mediawiki>\n")
    baseline = resident_bytes()
    growth = revisions = 0
    tracemalloc.start()
    try:
        for item in read_dump(path):
            if isinstance(item, Revision):
                revisions += 1
                if revisions % 1000 == 0:
                    growth = max(growth, resident_bytes() - baseline)
        _current, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert revisions == count
    assert traced_peak < bound
    assert growth < bound
