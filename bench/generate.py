"""Synthetic wikis for the benchmarks, written straight into a standalone gitaccess database.

``python -m bench.generate --size small --out DIR`` makes ``DIR/wiki.sqlite``
(``gitaccess init`` schema), ``DIR/images/`` (the upload directory) and
``DIR/gitaccess.toml``.

A wiki is a deterministic plan (:mod:`bench.plan`) written by
:class:`~bench.bulk.BulkWriter`: the rows MediaWiki 1.39 (and gitaccess's
:class:`~gitaccess.wiki.writer.WikiWriter`, which writes them the same way)
would have written for those edits - text, content, slots, revision,
revision_comment_temp, comment, actor, page, redirect, archive, logging,
log_search, recentchanges, image, oldimage, user, user_groups, site_stats -
with the same ids in the same order. Left out, as after MediaWiki's job
runner and without affecting history: the job queue, change tags, link
tables. :func:`apply_with_writer` writes the same plan through WikiWriter,
one edit at a time; ``tests/test_bench_smoke.py`` checks both give the
same rows and the same commits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.bulk import BulkWriter
from bench.plan import BENCH_PASSWORD, SIZES, DeleteOp, EditOp, MoveOp, Op, Person, Size, plan
from gitaccess.config import Config, load_config
from gitaccess.auth.passwords import hash_password
from gitaccess.site import Site
from gitaccess.wiki import standalone
from gitaccess.wiki.writer import WikiWriter

#: Bump when the plan or the rows change: generated wikis are reused only with the same version.
GENERATOR_VERSION = 3


@dataclass
class Generated:
    pages: int = 0
    revisions: int = 0
    ops: int = 0
    uploads: int = 0
    moves: int = 0
    deletions: int = 0
    seconds: float = 0.0


def write_bulk(site: Site, persons: list[Person], ops: Iterator[Op]) -> Generated:
    """Write a plan into an empty standalone wiki with :class:`BulkWriter`, in one transaction."""
    started = time.perf_counter()
    result = Generated()
    password = hash_password(BENCH_PASSWORD)
    with site.db.write() as conn:
        writer = BulkWriter(site, conn)
        for person in persons:
            if person.user_id:
                writer.create_user(person.name, password, person.groups)
        editors = [p.editor for p in persons]
        for op in ops:
            result.ops += 1
            editor = editors[op.user]
            if isinstance(op, EditOp):
                writer.save(op, editor)
            elif isinstance(op, DeleteOp):
                writer.delete(op, editor)
                result.deletions += 1
            elif isinstance(op, MoveOp):
                writer.move(op, editor)
                result.moves += 1
            else:
                writer.upload(op, editor)
                result.uploads += 1
        writer.finish()
        result.revisions = writer.next["rev"]
        result.pages = writer.next["page"]
    result.seconds = time.perf_counter() - started
    return result


def apply_with_writer(site: Site, persons: list[Person], ops: Iterator[Op]) -> None:
    """Write the same plan through WikiWriter, one edit at a time (the slow, obviously faithful way)."""
    password = hash_password(BENCH_PASSWORD)
    with site.db.write() as conn:
        w = WikiWriter(site.db, conn, titles=site.titles, upload_directory=site.config.upload_directory)
        for person in persons:
            if person.user_id:
                w.create_user(person.name, password, person.groups)
        editors = [p.editor for p in persons]
        for op in ops:
            editor = editors[op.user]
            if isinstance(op, EditOp):
                w.save(op.namespace, op.dbkey, op.text, editor=editor, summary=op.summary, model=op.model,
                       minor=op.minor, timestamp=op.timestamp)
            elif isinstance(op, DeleteOp):
                w.delete(op.namespace, op.dbkey, editor=editor, reason=op.reason, timestamp=op.timestamp)
            elif isinstance(op, MoveOp):
                w.move(op.namespace, op.dbkey, op.new_namespace, op.new_dbkey, editor=editor, reason=op.reason,
                       redirect=op.redirect, timestamp=op.timestamp)
            else:
                w.upload(op.name, op.data, editor=editor, comment=op.comment, page_text=op.page_text,
                         timestamp=op.timestamp)


# ---------------------------------------------------------------------- a wiki directory
CONFIG_TEMPLATE = """\
# A generated benchmark wiki ({size}, seed {seed}); see bench/README.md.
[wiki]
server_name = "bench.example"
data_directory = "data"
upload_directory = "images"

[database]
url = "sqlite:///{database}"
"""


def config_for(directory: Path) -> Config:
    return load_config(directory / "gitaccess.toml", environ={})


def create_wiki(directory: Path, size: Size, seed: int = 1, *, with_writer: bool = False) -> Generated:
    """A new wiki in ``directory`` (which must not hold one): config, database, upload directory."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "wiki.sqlite"
    if database.exists():
        raise FileExistsError(f"{database} exists")
    (directory / "gitaccess.toml").write_text(
        CONFIG_TEMPLATE.format(size=size.name, seed=seed, database=database.resolve()), "utf-8")
    site = Site(config_for(directory))
    try:
        standalone.create(site.db)
        persons, ops = plan(size, seed, site.titles)
        if with_writer:
            started = time.perf_counter()
            apply_with_writer(site, persons, ops)
            result = Generated(seconds=time.perf_counter() - started)
        else:
            result = write_bulk(site, persons, ops)
    finally:
        site.db.dispose()
    (directory / "generated.json").write_text(json.dumps({
        "version": GENERATOR_VERSION, "size": size.name, "seed": seed, "pages": result.pages,
        "revisions": result.revisions, "uploads": result.uploads, "moves": result.moves,
        "deletions": result.deletions, "seconds": round(result.seconds, 2)}, indent=2) + "\n", "utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="a new directory for the wiki")
    parser.add_argument("--with-writer", action="store_true", help="write through WikiWriter (slow; for checks)")
    args = parser.parse_args(argv)
    result = create_wiki(args.out, SIZES[args.size], args.seed, with_writer=args.with_writer)
    print(f"{args.out}: {result.pages} pages, {result.revisions} revisions ({result.uploads} uploads, "
          f"{result.moves} moves, {result.deletions} deletions) in {result.seconds:.1f} s "
          f"({result.revisions / max(result.seconds, 1e-9):.0f} revisions/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
