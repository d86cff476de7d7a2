"""Where the benchmark keeps its wikis: a pristine generated wiki per size and seed, and working copies.

``<root>/<size>-s<seed>/pristine/`` is the generated wiki (never served);
``<root>/<size>-s<seed>/wiki/`` is a copy of its database with a journal
and an object cache (``data/cache/wiki/objects.git``) once the cold build
ran, sharing the pristine upload directory. ``<root>`` is
``$GITACCESS_BENCH_DIR`` or ``/tmp/gitaccess-bench``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

from bench.generate import GENERATOR_VERSION, create_wiki
from bench.plan import SIZES

CONFIG = """\
# A working copy of a generated benchmark wiki; see bench/README.md.
[wiki]
server_name = "bench.example"
data_directory = "{data}"
upload_directory = "{images}"

[database]
url = "sqlite:///{database}"
"""


def default_root() -> Path:
    return Path(os.environ.get("GITACCESS_BENCH_DIR", "/tmp/gitaccess-bench"))


def base(root: Path, size: str, seed: int) -> Path:
    return root / f"{size}-s{seed}"


def pristine(root: Path, size: str, seed: int) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """The generated wiki of this size and seed, made now unless an up-to-date one exists."""
    directory = base(root, size, seed) / "pristine"
    stamp = directory / "generated.json"
    if stamp.exists():
        info = json.loads(stamp.read_text("utf-8"))
        if info.get("version") == GENERATOR_VERSION:
            return directory, info
    shutil.rmtree(base(root, size, seed), ignore_errors=True)
    create_wiki(directory, SIZES[size], seed)
    return directory, json.loads(stamp.read_text("utf-8"))


def working_copy(root: Path, size: str, seed: int) -> Path:
    """A fresh working copy of the pristine wiki: no journal, no cache."""
    source, _ = pristine(root, size, seed)
    directory = base(root, size, seed) / "wiki"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    database = directory / "wiki.sqlite"
    with sqlite3.connect(source / "wiki.sqlite") as src, sqlite3.connect(database) as dst:
        src.backup(dst)
    (directory / "gitaccess.toml").write_text(CONFIG.format(
        data=directory / "data", images=(source / "images").resolve(), database=database.resolve()), "utf-8")
    return directory


def built(root: Path, size: str, seed: int) -> Path | None:
    """The working copy, if a cold build finished in it."""
    directory = base(root, size, seed) / "wiki"
    return directory if (directory / "coldbuild.json").exists() else None
