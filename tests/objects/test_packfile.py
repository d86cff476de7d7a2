"""Pack indexes written a table at a time: the bytes git's and dulwich's writers make."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path

import pytest
from dulwich.pack import write_pack_index_v2

from gitaccess.objects.packfile import LARGE_OFFSET, write_index


@pytest.mark.parametrize("count, large", [(0, 0), (1, 0), (5_000, 0), (300, 7)])
def test_an_index_is_the_bytes_dulwich_writes(count: int, large: int) -> None:
    """Ids spread over every first byte, CRCs of all 32 bits, and offsets past 2 GiB (a pack
    that large keeps them in a table of its own)."""
    rng = random.Random(count)
    entries = sorted((rng.randbytes(20), rng.randrange(12, LARGE_OFFSET), rng.randrange(1 << 32))
                     for _ in range(count))
    for index in rng.sample(range(count), large):
        entries[index] = (entries[index][0], LARGE_OFFSET + rng.randrange(1 << 40), entries[index][2])
    checksum = rng.randbytes(20)
    ours, dulwichs = io.BytesIO(), io.BytesIO()
    write_index(ours, entries, checksum)
    write_pack_index_v2(dulwichs, entries, checksum)
    assert ours.getvalue() == dulwichs.getvalue()


def test_git_reads_the_index_of_a_pack(tmp_path: Path) -> None:
    """git's own index of a real pack, rewritten by write_index: the same bytes."""
    source = tmp_path / "source"
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    for n in range(30):
        (source / f"file{n % 7}").write_text(f"version {n}\n" * (n + 1))
        subprocess.run(["git", "-C", str(source), "add", "."], check=True)
        subprocess.run(["git", "-C", str(source), "-c", "user.name=A", "-c", "user.email=a@example.org",
                        "commit", "-qm", f"commit {n}"], check=True)
    subprocess.run(["git", "-C", str(source), "repack", "-adq"], check=True)
    [index_path] = (source / ".git" / "objects" / "pack").glob("*.idx")
    shown = subprocess.run(["git", "show-index"], stdin=index_path.open("rb"), check=True,
                           capture_output=True, text=True).stdout
    entries = sorted((bytes.fromhex(sha), int(offset), int(crc.strip("()"), 16))
                     for offset, sha, crc in (line.split() for line in shown.splitlines()))
    written = io.BytesIO()
    write_index(written, entries, index_path.read_bytes()[-40:-20])
    assert written.getvalue() == index_path.read_bytes()
