"""Changes the scenarios make: one new wiki edit (fetch), and commits to push."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.generate import config_for
from bench.plan import BENCH_USER
from gitaccess.site import Site
from gitaccess.wiki.reader import revision_text
from gitaccess.wiki.writer import Editor, WikiWriter

PUSH_PAGES = 1000


def one_edit(wiki: Path, n: int) -> int:
    """One edit of a main-namespace page, made as MediaWiki would (WikiWriter); its revision id."""
    site = Site(config_for(wiki))
    try:
        t = site.db.tables
        with site.db.write() as conn:
            page = conn.execute(select(t.page.c.page_title, t.page.c.page_latest)
                                .where(t.page.c.page_namespace == 0, t.page.c.page_is_redirect == 0)
                                .order_by(t.page.c.page_id).limit(1)).one()
            text = revision_text(site.db, conn, page[1]) + f"One more line, benchmark edit {n} at {time.time()}.\n"
            writer = WikiWriter(site.db, conn, titles=site.titles)
            saved = writer.save(0, page[0], text, editor=Editor(BENCH_USER, 1, frozenset({"sysop"})),
                                summary=f"benchmark edit {n}")
        assert saved.rev_id is not None
        return saved.rev_id
    finally:
        site.db.dispose()


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def push_stream(client: Any, clone: Path, *, one_commit: bool, salt: str) -> tuple[bytes, int]:
    """A fast-import stream on top of the clone's master: one commit changing up to 1,000 pages of
    (Main), or as many commits changing one page each."""
    listing = client.run("ls-tree", "-r", "-z", "refs/heads/master", "--", "(Main)", cwd=clone).stdout
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, path = item.split(b"\t", 1)
        if path.endswith(b".wiki") and not path.startswith(b'"') and b"\n" not in path:
            entries.append((meta.split()[2], path))
        if len(entries) == PUSH_PAGES:
            break
    batch = client.run("cat-file", "--batch", cwd=clone, input=b"".join(sha + b"\n" for sha, _ in entries)).stdout
    contents = []
    at = 0
    for _ in entries:
        header_end = batch.index(b"\n", at)
        size = int(batch[at:header_end].split()[2])
        contents.append(batch[header_end + 1:header_end + 1 + size])
        at = header_end + 1 + size + 1
    when = int(time.time())
    identity = b"Bench Pusher <bench@example.org> %d +0000\n" % when
    out = []
    for index, ((_, path), content) in enumerate(zip(entries, contents)):
        changed = content + f"Pushed line ({salt}).\n".encode()
        change = b"M 100644 inline %s\n%s" % (path, _data(changed))
        if one_commit:
            if index == 0:
                out.append(b"commit refs/heads/master\ncommitter " + identity
                           + _data(f"Change {len(entries)} pages ({salt})".encode()) + b"from refs/heads/master^0\n")
            out.append(change)
        else:
            out.append(b"commit refs/heads/master\ncommitter " + identity
                       + _data(f"Change {path.decode(errors='replace')} ({salt})".encode())
                       + (b"from refs/heads/master^0\n" if index == 0 else b"") + change)
    return b"".join(out), len(entries)
