"""Deltas against an object's previous version: they rebuild the object, in dulwich and in git."""

from __future__ import annotations

import hashlib
import random
import subprocess
import zlib
from pathlib import Path

import pytest
from dulwich.object_format import SHA1
from dulwich.objects import Blob
from dulwich.pack import OFS_DELTA, apply_delta, create_delta, pack_header_chunks, pack_object_header

from gitaccess.objects.deltas import QUICK_MIDDLE, _quick_delta, _record_delta, alike, compose, make_delta, text_records, \
    tree_records
from gitaccess.objects.packing import deflate
from gitaccess.objects.ends import common_ends


def _text(rng: random.Random, lines: int) -> bytes:
    return "".join(f"line {n}: {rng.random():.12f} of the page\n" for n in range(lines)).encode()


def _versions(rng: random.Random) -> list[tuple[str, bytes, bytes]]:
    """(what, base, new version) pairs of the shapes a wiki's history has, and their edges."""
    big = _text(rng, 6000)  # 240 KB: copies longer than one copy instruction
    middle = len(big) // 2
    small = _text(rng, 40)
    return [
        ("one region replaced", big, big[:middle] + b"changed\n" * 20 + big[middle + 300:]),
        ("inserted at the start", big, b"new first line\n" + big),
        ("appended", big, big + b"x" * 300),  # an insert longer than one insert instruction
        ("cut at the end", big, big[:-1000]),
        ("a line removed", small, small[:200] + small[260:]),
        ("identical", small, small),
        ("two distant edits", big, big[:1000] + b"A" + big[1001:-1000] + b"B" + big[-999:]),
        ("rewritten", small, _text(rng, 40)),
        ("emptied", small, b""),
        ("from empty", b"", small),
        ("repeated bytes", b"a" * 5000, b"a" * 4000 + b"b" + b"a" * 2000),
    ]


def test_deltas_rebuild_every_kind_of_change() -> None:
    rng = random.Random(7)
    for what, base, data in _versions(rng):
        delta = make_delta(base, data)
        if delta is not None:
            assert len(delta) < len(data), what
            assert b"".join(apply_delta(base, delta)) == data, what
        quick = _quick_delta(base, data)
        if quick is not None:
            assert b"".join(apply_delta(base, quick)) == data, what


def test_one_changed_region_takes_three_instructions_and_others_a_search() -> None:
    rng = random.Random(8)
    big = _text(rng, 6000)
    edited = big[:5000] + b"a new sentence.\n" + big[5000:]
    assert len(_quick_delta(big, edited) or b"") < 64  # with copies split at 64 KB
    spread = big[:1000] + b"A" + big[1001:-1000] + b"B" + big[-999:]
    assert _quick_delta(big, spread) is None  # the middle is nearly all of it
    delta = make_delta(big, spread)
    assert delta is not None and len(delta) < 200  # copies around both edited lines
    small = big[:3000]
    delta = make_delta(small, small[:1000] + b"A" + small[1001:-1000] + b"B" + small[-999:])
    assert delta is not None and len(delta) < 80  # the two changed sentences inserted, the rest copied
    inserted = big[:100] + b"z" * 5000 + big[100:]
    assert _quick_delta(big, inserted) is not None and _quick_delta(inserted, big) is not None
    rewritten = big[:100] + b"z" * (QUICK_MIDDLE + 1) + big[100 + QUICK_MIDDLE + 1:]
    assert _quick_delta(big, rewritten) is None


def test_only_alike_contents_are_searched_for_a_delta() -> None:
    rng = random.Random(9)
    page = _text(rng, 200)
    assert alike(page, page[:3000] + b"an inserted paragraph\n" * 5 + page[3000:])
    assert not alike(page, _text(rng, 200))  # rewritten
    assert not alike(rng.randbytes(30000), rng.randbytes(30000))  # a re-uploaded image
    assert alike(b"short", b"other")  # small enough to just try
    assert make_delta(page, _text(rng, 200)) is None


def test_git_reads_the_deltas(tmp_path: Path) -> None:
    """A pack of each base and its new version as an offset delta (three instructions, or
    create_delta's), deflated as the cache deflates: git indexes it and every object has the id
    of its contents."""
    rng = random.Random(10)
    pairs = [(base, data) for _what, base, data in _versions(rng)
             if base != data and make_delta(base, data) is not None]
    assert len(pairs) >= 6
    body = bytearray()
    offsets: dict[bytes, int] = {}  # each object once: several versions share a base
    for base, data in pairs:
        if base not in offsets:
            offsets[base] = 12 + len(body)
            body += pack_object_header(Blob.type_num, None, len(base), SHA1) + deflate(base)
        if data not in offsets:
            delta = make_delta(base, data)
            assert delta is not None
            offsets[data] = 12 + len(body)
            body += pack_object_header(OFS_DELTA, offsets[data] - offsets[base], len(delta), SHA1) + \
                deflate(delta)
    pack = b"".join(pack_header_chunks(len(offsets))) + bytes(body)
    pack += hashlib.sha1(pack).digest()
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "r.git")], check=True)
    subprocess.run(["git", "index-pack", "--stdin", "--strict"], input=pack, cwd=tmp_path / "r.git",
                   check=True, capture_output=True)
    for base, data in pairs:
        for contents in (base, data):
            sha = Blob.from_string(contents).id.decode()
            shown = subprocess.run(["git", "cat-file", "blob", sha], cwd=tmp_path / "r.git",
                                   check=True, capture_output=True).stdout
            assert shown == contents


@pytest.mark.parametrize("seed", range(20))
def test_random_edits_rebuild(seed: int) -> None:
    rng = random.Random(seed)
    base = rng.randbytes(rng.choice([0, 10, 300, 5000, 70000]))
    data = bytearray(base)
    for _edit in range(rng.randint(1, 3)):
        at = rng.randint(0, len(data))
        data[at:at + rng.randint(0, 50)] = rng.randbytes(rng.randint(0, 400))
    for delta in (_quick_delta(base, bytes(data)), make_delta(base, bytes(data)),
                  _record_delta(base, bytes(data), text_records), _record_delta(base, bytes(data), tree_records)):
        if delta is not None:
            assert b"".join(apply_delta(base, delta)) == bytes(data)


def test_deltas_git_would_make_compose_too() -> None:
    """compose() reads any delta, not only ours: copies with every offset and size byte, copies
    of 64 KB (size 0), and the longest inserts, from dulwich's create_delta."""
    rng = random.Random(13)
    base = rng.randbytes(300_000)
    data = base[70_000:200_000] + rng.randbytes(500) + base[:70_000] + base[16_777_216:] + base[250_000:]
    delta = b"".join(create_delta(base, data))
    assert b"".join(apply_delta(base, compose([delta]))) == data
    with pytest.raises(ValueError):
        compose([b"\x03\x01\x00"])


def test_a_directory_changed_in_many_places_is_matched_entry_by_entry() -> None:
    rng = random.Random(11)
    names = sorted(f"Page {n} {rng.random():.8f}.wiki".encode() for n in range(5000))
    ids = [rng.randbytes(20) for _ in names]
    base = b"".join(b"100644 " + name + b"\0" + sha for name, sha in zip(names, ids))
    for at in rng.sample(range(len(ids)), 25):
        ids[at] = rng.randbytes(20)
    ids[100] = ids[200]  # two pages with the same text
    data = b"".join(b"100644 " + name + b"\0" + sha for name, sha in zip(names, ids))
    assert b"".join(tree_records(data)) == data and b"".join(tree_records(data + b"tail")) == data + b"tail"
    delta = make_delta(base, data, tree=True)
    assert delta is not None and len(delta) < 26 * 32  # each changed id inserted, the rest copied
    assert b"".join(apply_delta(base, delta)) == data


def test_common_ends_agree_with_a_byte_by_byte_walk() -> None:
    """Where two versions begin and end to differ, across sizes on both sides of the blocks
    compared at once, checked against the obvious loop."""
    rng = random.Random(7)

    def walk(a: bytes, b: bytes) -> tuple[int, int]:
        prefix = 0
        while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
            prefix += 1
        suffix = 0
        while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
            suffix += 1
        return prefix, suffix

    for _ in range(300):
        size = rng.choice([0, 1, 7, 4095, 4096, 4097, 12_289, 70_000])
        a = bytes(rng.getrandbits(8) for _ in range(min(size, 97))) * (size // 97 + 1)
        a = a[:size]
        b = bytearray(a)
        for _ in range(rng.randint(0, 2)):
            at = rng.randrange(len(b) + 1)
            b[at:at + rng.randint(0, 3)] = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3)))
        pair = (a, bytes(b)) if rng.random() < 0.5 else (bytes(b), a)
        assert common_ends(*pair) == walk(*pair), (size, len(b))


def test_a_paragraph_edited_in_two_places_costs_the_sentences_changed() -> None:
    """Wiki text keeps a paragraph on one line: an edit changing a word in two of them (too far
    apart for three instructions) inserts the two sentences changed, not the paragraphs."""
    rng = random.Random(12)
    words = "the river city castle bridge museum was built in by and of a new old".split()

    def paragraph() -> str:
        return " ".join(" ".join(rng.choice(words) for _ in range(15)).capitalize() + "." for _ in range(12))

    paragraphs = [paragraph() for _ in range(8)]
    base = "\n\n".join(paragraphs).encode()
    for at in (1, 6):
        sentences = paragraphs[at].split(". ")
        sentences[5] = sentences[5].replace(" ", " and ", 1)
        paragraphs[at] = ". ".join(sentences)
    data = "\n\n".join(paragraphs).encode()
    delta = make_delta(base, data)
    assert delta is not None and b"".join(apply_delta(base, delta)) == data
    assert len(delta) < 2 * 130 < len(paragraphs[1])  # two sentences of about 100 bytes, and copies


@pytest.mark.parametrize("seed", range(5))
def test_any_bytes_split_into_text_records_join_back(seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.choice(b"ab .\n\t\0\xff") for _ in range(rng.choice([0, 1, 50, 3000])))
    records = text_records(data)
    assert b"".join(records) == data and all(records)


@pytest.mark.parametrize("seed", range(4))
def test_a_chain_of_deltas_composes_into_one(seed: int) -> None:
    """Versions changed in a few places each (inserts, cuts, replacements, copies longer than one
    instruction): the composed delta makes the last from the first, in dulwich, and costs what
    changed, not the versions between."""
    rng = random.Random(seed)
    versions = [_text(rng, rng.choice([0, 50, 3000]))]
    for _ in range(rng.randrange(2, 70)):
        version = bytearray(versions[-1])
        for _ in range(rng.randrange(1, 4)):
            start = rng.randrange(len(version) + 1)
            version[start:start + rng.randrange(0, 300)] = rng.randbytes(rng.randrange(0, 200))
        versions.append(bytes(version))
    deltas = [b"".join(create_delta(a, b)) for a, b in zip(versions, versions[1:])]
    deltas += [make_delta(versions[-1], versions[-1] + b"end\n") or b""]  # one of this module's too
    versions.append(versions[-1] + b"end\n")
    composed = compose(deltas)
    assert b"".join(apply_delta(versions[0], composed)) == versions[-1]
    if len(versions[0]) > 100_000:
        assert len(composed) < sum(map(len, deltas)) + 100
        assert len(composed) < len(b"".join(create_delta(versions[0], versions[-1]))) * 2


def test_one_delta_composes_into_itself_and_copies_stay_joined() -> None:
    base = b"x" * 200_000
    delta = b"".join(create_delta(base, base[:150_000] + b"new" + base[150_000:]))
    assert b"".join(apply_delta(base, compose([delta]))) == base[:150_000] + b"new" + base[150_000:]
    assert compose([delta, make_delta(base[:150_000] + b"new" + base[150_000:], base[:150_000] + base[150_000:])
                    or b""]) == _quick_delta(base, base)


@pytest.mark.parametrize("size", [0, 1, 60, 250, 3_000, 16_121, 16_122, 200_000])
def test_deflate_sizes_zlib_to_the_object_and_deflates_as_its_defaults(size: int) -> None:
    """The stream's header names a window just large enough, and the rest is what zlib's
    defaults make (a 32 KB window and the largest tables), for text and random bytes alike."""
    data = (random.Random(size).randbytes(size // 3) + b"a line of text\n" * size)[:size]
    stream = deflate(data)
    assert zlib.decompress(stream) == data
    assert stream[2:] == zlib.compress(data)[2:]
    window_bits = (stream[0] >> 4) + 8  # the smallest window that holds the object and zlib's lookahead
    assert 2 ** window_bits > size + 262 or window_bits == 15
    assert 2 ** (window_bits - 1) <= size + 262 or window_bits == 9
