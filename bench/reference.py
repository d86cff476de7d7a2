"""The reference repository: the very commits gitaccess serves, kept as git itself would keep them.

- :func:`build_reference`: ``git clone --mirror`` from the gitaccess server
  (through its public clone URL, so the benchmark does not depend on how
  gitaccess caches objects), then ``git repack -adf``: one pack with git's
  own delta search, what ``git http-backend`` serves in the benchmarks.
- :func:`fast_import_seconds`: the same history as a ``git fast-export``
  stream imported into an empty repository, git's figure for building the
  history from scratch. The imported head must be the same commit, or the
  stream is not the same history and the comparison is refused.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.client import Client

BRANCH = "refs/heads/master"


@dataclass
class Reference:
    project_root: Path  # GIT_PROJECT_ROOT: holds wiki.git
    repository: Path
    head: str
    repack_seconds: float


def build_reference(client: Client, url: str, out: Path) -> Reference:
    """A fully repacked bare mirror of the repository at ``url``, at ``out/wiki.git``."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    repository = out / "wiki.git"
    client.run("clone", "--quiet", "--mirror", url, str(repository))
    client.run("config", "http.receivepack", "true", cwd=repository)
    client.run("config", "core.logAllRefUpdates", "false", cwd=repository)
    started = time.perf_counter()
    client.run("repack", "-adf", "-q", cwd=repository)
    client.run("prune-packed", cwd=repository)
    seconds = time.perf_counter() - started
    return Reference(out, repository, client.rev_parse(repository, BRANCH), seconds)


def fast_import_seconds(client: Client, reference: Reference, scratch: Path, repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` imports of the reference's history; empty if git made other commits."""
    stream = scratch / "history.fi"
    into = scratch / "fast-import.git"
    with stream.open("wb") as out:
        client.run("fast-export", "--reencode=no", "--signed-tags=verbatim", BRANCH, cwd=reference.repository,
                   stdout=out)
    runs: list[float] = []
    try:
        for _ in range(repeat):
            shutil.rmtree(into, ignore_errors=True)
            client.run("init", "--quiet", "--bare", str(into))
            started = time.perf_counter()
            with stream.open("rb") as source:
                client.run("fast-import", "--quiet", cwd=into, stdin=source)
            runs.append(time.perf_counter() - started)
            if client.rev_parse(into, BRANCH) != reference.head:
                return []
    finally:
        shutil.rmtree(into, ignore_errors=True)
        stream.unlink()
    return runs


def update_reference(client: Client, url: str, reference: Reference) -> str:
    """Bring commits gitaccess made since (say, one new edit) into the reference, as a push would."""
    client.run("fetch", "--quiet", url, f"+{BRANCH}:{BRANCH}", cwd=reference.repository)
    reference.head = client.rev_parse(reference.repository, BRANCH)
    return reference.head
