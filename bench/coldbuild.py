"""The cold build, in a process of its own: an empty journal and cache brought to the wiki's full history.

:func:`cold_build` (the runner's side) starts ``python -m bench.coldbuild
WIKI_DIR [--every N]``, which runs exactly what the
first request to a new server runs (``WikiRepository(site).refresh()``:
the journal catches up with every revision and log entry, and the object
cache stores the commits) and prints JSON lines on standard output: a
``progress`` line every N units of activity (each gets a tree built, even
one that ends up making no commit; seconds; pages in the tree), then one
``done`` line (seconds, revisions, head commit, peak RSS). The runner
kills it at its deadline and extrapolates from the progress lines; the journal is written in one
transaction, so a killed build leaves the database as it was.

The progress lines come from wrapping ``builder.Builder.tree``, an
internal of gitaccess (no public surface reports a build's progress); if a
rewrite removes it, the build still runs and is timed, only without
progress lines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.generate import config_for
from gitaccess.journal import builder
from gitaccess.repository import WikiRepository
from gitaccess.site import Site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldbuild")
    parser.add_argument("wiki", type=Path)
    parser.add_argument("--every", type=int, default=500, help="commits between progress lines")
    args = parser.parse_args(argv)
    site = Site(config_for(args.wiki))
    started = time.perf_counter()
    made = 0
    tree = getattr(getattr(builder, "Builder", None), "tree", None)

    def counting_tree(self: Any) -> Any:
        nonlocal made
        result = tree(self)
        made += 1
        if made % args.every == 0:
            pages = len(getattr(getattr(self, "state", None), "pages", ()))
            print(json.dumps({"progress": made, "seconds": round(time.perf_counter() - started, 3),
                              "pages": pages}), flush=True)
        return result

    if tree is not None:  # else no progress lines: a killed build cannot be extrapolated
        builder.Builder.tree = counting_tree  # type: ignore[method-assign]
    writer = _ChildrenPeak()
    writer.start()
    repository = WikiRepository(site)
    repository.refresh()
    seconds = time.perf_counter() - started
    writer.stopped.set()
    with site.db.read() as conn:
        t = site.db.tables
        revisions = conn.execute(select(func.count()).select_from(t.revision)).scalar_one() + \
            conn.execute(select(func.count()).select_from(t.archive)).scalar_one()
    head = repository.refs().get(repository.head())
    print(json.dumps({"done": True, "seconds": round(seconds, 3), "revisions": revisions,
                      "head": head.decode() if head else None, "trees_built": made,
                      "peak_rss_mib": (_peak_kib("self") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) // 1024,
                      # the process that stored the commits, if one did (gitaccess.cache.writer)
                      "writer_peak_rss_mib": writer.peak_kib // 1024 if writer.peak_kib else None}),
          flush=True)
    repository.close()
    site.db.dispose()
    return 0


def _peak_kib(pid: str) -> int | None:
    """A process's peak resident memory (VmHWM), None where /proc does not tell. Not ru_maxrss,
    which also counts the process a child was started from until it ran its program: the
    benchmark's runner, hundreds of megabytes when it has just generated the wiki."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)


class _ChildrenPeak(threading.Thread):
    """The largest peak memory of this process's children (the cache's writer) while it runs,
    looked at ten times a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        children = Path(f"/proc/self/task/{os.getpid()}/children")
        while not self.stopped.wait(0.1):
            try:
                pids = children.read_text().split()
            except OSError:
                return
            self.peak_kib = max([self.peak_kib, *(_peak_kib(pid) or 0 for pid in pids)])


def cold_build(wiki: Path, deadline: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the build on a fresh working copy: its done line, or its progress lines when it ran out of time."""
    started = time.perf_counter()
    errors = wiki / "coldbuild.err"
    with errors.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "bench.coldbuild", str(wiki), "--every", "500"],
                                   cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, stderr=stderr,
                                   text=True)
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                lines.append(json.loads(line))
                if "progress" in lines[-1] and lines[-1]["progress"] % 5000 == 0:
                    log(f"  cold build: {lines[-1]['progress']} commits in {lines[-1]['seconds']:.0f} s")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process.wait(deadline)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader.join(10)
    progress = [line for line in lines if "progress" in line]
    done = [line for line in lines if line.get("done")]
    if done:
        (wiki / "coldbuild.json").write_text(json.dumps(done[0], indent=2) + "\n")
        return {**done[0], "progress_lines": progress}
    if process.returncode != -9:
        raise RuntimeError(f"the cold build failed:\n{errors.read_text('utf-8', 'replace')[-3000:]}")
    return {"done": False, "progress_lines": progress, "seconds": time.perf_counter() - started}


def extrapolate(progress: list[dict[str, Any]], total: int) -> tuple[float, str] | None:
    """Total seconds a killed build would have needed for ``total`` units.

    The cost of a unit is fitted as linear in the pages in the tree (building
    a tree from scratch places every page), on the intervals between
    progress lines; pages are assumed to keep growing in proportion to
    units, as the generator creates them.
    """
    if len(progress) < 3:
        return None
    xs, ys = [], []
    for a, b in zip(progress, progress[1:]):
        xs.append((a["pages"] + b["pages"]) / 2)
        ys.append((b["seconds"] - a["seconds"]) / (b["progress"] - a["progress"]))
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var if var else 0.0
    intercept = mean_y - slope * mean_x
    last = progress[-1]
    pages_per_unit = last["pages"] / last["progress"]
    remaining = sum(max(intercept + slope * pages_per_unit * unit, 0.0) for unit in range(last["progress"], total))
    model = (f"per unit {intercept * 1e3:.2f} ms + {slope * 1e6:.1f} us x pages in the tree "
             f"(fitted on {len(xs)} intervals)")
    return last["seconds"] + remaining, model


if __name__ == "__main__":
    sys.exit(main())
