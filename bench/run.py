"""The benchmark runner: gitaccess against git's own tools on the same history, in the same run.

``python -m bench.run [--size tiny|mini|small|medium|large] [--scenarios a,b,...] [--repeat N] [--json FILE]``

Each scenario prints gitaccess's figure, the reference's figure and their
ratio, gitaccess / reference (above 1: gitaccess is slower or larger).
Times are wall-clock seconds of the real git client (median of N runs).
gitaccess runs under gunicorn with HTTP Basic authentication through its
gate; the reference is ``git http-backend`` under lighttpd's CGI with
lighttpd's HTTP Basic authentication, serving a fully repacked mirror of
the very commits gitaccess serves. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import reference as ref
from bench import servers, wikidir
from bench.client import Client, pack_bytes
from bench.coldbuild import cold_build, extrapolate
from bench.edits import one_edit, push_stream
from bench.plan import BENCH_PASSWORD, BENCH_USER, SIZES
from bench.report import Result, format_row, table, timed_result

SCENARIOS = ("cold", "clone", "depth1", "fetch", "rss", "push-pages", "push-commits", "mediawiki")
DEFAULT_SCENARIOS = SCENARIOS[:-1]
#: Scenarios that need both servers up.
SERVED = ("clone", "depth1", "fetch", "rss", "push-pages", "push-commits")
SIDES = ("gitaccess", "reference")


@dataclass
class Settings:
    size: str = "small"
    seed: int = 1
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    repeat: int = 3  # runs of each timed scenario; the median is reported
    root: Path = field(default_factory=wikidir.default_root)  # generated wikis and builds, reused
    cold_deadline: float = 1200  # seconds before a cold build is stopped and extrapolated
    cold_repeat: int = 1
    push_repeat: int = 1
    reuse_build: bool = False  # report the cold build an earlier run timed
    keep: bool = False  # keep the scratch directory (clones, server logs)
    quiet: bool = False


class Runner:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.results: list[Result] = []
        self.info: dict[str, Any] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix=f"gitaccess-bench-{settings.size}-"))
        self.client = Client(self.scratch / "home")
        self.base = wikidir.base(settings.root, settings.size, settings.seed)

    def log(self, message: str) -> None:
        if not self.settings.quiet:
            print(message, file=sys.stderr, flush=True)

    def add(self, result: Result) -> Result:
        self.results.append(result)
        self.log(f"  {format_row(result)}")
        return result

    def wanted(self, scenario: str) -> bool:
        return scenario in self.settings.scenarios

    def run(self) -> list[Result]:
        s = self.settings
        started = time.perf_counter()
        _, info = wikidir.pristine(s.root, s.size, s.seed)
        self.info["wiki"] = info
        self.log(f"wiki {s.size} (seed {s.seed}): {info['pages']} pages, {info['revisions']} revisions; "
                 f"generated in {info['seconds']} s ({time.perf_counter() - started:.1f} s here)")
        cold = self.cold_build() if self.wanted("cold") or wikidir.built(s.root, s.size, s.seed) is None else None
        wiki = wikidir.built(s.root, s.size, s.seed)
        if wiki is not None:
            self.serve(wiki, cold)
        else:
            if cold is not None:
                self.add(cold)
            for scenario in (x for x in SERVED if self.wanted(x)):
                self.add(Result(scenario, scenario, "s", status="skipped",
                                note="no complete cold build to serve (see the cold build row)"))
        if self.wanted("mediawiki"):
            from bench import mediawiki
            self.add(mediawiki.scenario(self))
        if not s.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self.results

    # --- cold build
    def cold_build(self) -> Result | None:
        """gitaccess's side of the cold build (the reference's needs the server: :meth:`cold_reference`);
        None when the build only had to be made for the served scenarios."""
        s = self.settings
        result = Result("cold", "cold build: empty cache to full history", "s")
        earlier = wikidir.built(s.root, s.size, s.seed)
        if s.reuse_build and earlier is not None and self.wanted("cold"):
            outcome = json.loads((earlier / "coldbuild.json").read_text())
            result.runs["gitaccess"] = [outcome["seconds"]]
            result.note = "build timed by an earlier run (--reuse-build); "
        else:
            repeats = s.cold_repeat if self.wanted("cold") else 1
            result.runs["gitaccess"] = []
            for attempt in range(repeats):
                wiki = wikidir.working_copy(s.root, s.size, s.seed)
                self.log(f"cold build {attempt + 1}/{repeats} (deadline {s.cold_deadline:.0f} s) ...")
                outcome = cold_build(wiki, s.cold_deadline, self.log)
                if not outcome.get("done"):
                    self.incomplete(result, outcome)
                    return result if self.wanted("cold") else None
                result.runs["gitaccess"].append(outcome["seconds"])
        if not self.wanted("cold"):
            return None
        result.gitaccess = statistics.median(result.runs["gitaccess"])
        writer = outcome.get("writer_peak_rss_mib")
        result.note += (f"{outcome['revisions'] / result.gitaccess:.0f} rev/s; "
                        f"peak RSS {outcome.get('peak_rss_mib', '?')} MiB"
                        + (f" (the cache's writer: {writer} MiB)" if writer else " (no second process)"))
        return result

    def incomplete(self, result: Result, outcome: dict[str, Any]) -> None:
        """A build stopped at its deadline: its extrapolated total, if its progress lines allow one."""
        wiki = self.info["wiki"]
        # Units of activity the build turns into trees: every revision (an upload's File page
        # revision shares its log entry's unit) and every move and deletion.
        total = wiki["revisions"] + wiki["moves"] + wiki["deletions"]
        progress = outcome["progress_lines"]
        got = progress[-1] if progress else {"progress": 0, "pages": 0}
        result.status = "incomplete"
        result.note = (f"stopped at the {self.settings.cold_deadline:.0f} s deadline after {got['progress']:,} of "
                       f"~{total:,} units ({got['pages']:,} pages in the tree)")
        guess = extrapolate(progress, total)
        if guess:
            result.gitaccess = guess[0]
            result.note += (f"; extrapolated total {guess[0] / 3600:.1f} h = "
                            f"{wiki['revisions'] / guess[0]:.1f} rev/s; {guess[1]}")
        self.info["cold_progress"] = progress

    def cold_reference(self, result: Result, reference: ref.Reference) -> None:
        runs = ref.fast_import_seconds(self.client, reference, self.scratch, self.settings.repeat)
        if not runs:
            result.note += "; git fast-import made other commits than gitaccess (not comparable)"
            return
        result.runs["reference"] = runs
        result.reference = statistics.median(runs)
        revisions = self.info["wiki"]["revisions"]
        result.note += (f"; {self.info['commits']:,} commits; git fast-import {revisions / result.reference:.0f} "
                        f"rev/s; git repack -adf of the mirror {reference.repack_seconds:.1f} s")

    # --- served scenarios
    def serve(self, wiki: Path, cold: Result | None) -> None:
        logs = self.scratch / "logs"
        with servers.gitaccess_server(wiki / "gitaccess.toml", BENCH_USER, BENCH_PASSWORD,
                                      logs / "gitaccess") as ga:
            # The mirror is also each worker's untimed first clone, as on a server up for a while.
            reference = ref.build_reference(self.client, ga.url, self.base / "reference")
            self.info["commits"] = int(self.client.run("rev-list", "--count", ref.BRANCH,
                                                       cwd=reference.repository).stdout.decode())
            if cold is not None:
                self.cold_reference(cold, reference)
                self.add(cold)
            if any(self.wanted(x) for x in SERVED):
                with servers.reference_server(reference.project_root, BENCH_USER, BENCH_PASSWORD,
                                              logs / "lighttpd") as rf:
                    self.served_scenarios(wiki, ga, rf, reference)
            problems = _log_problems(logs / "gitaccess" / "gunicorn.log")
            if problems:
                self.info["gunicorn_log_problems"] = problems

    def served_scenarios(self, wiki: Path, ga: servers.Running, rf: servers.Running,
                         reference: ref.Reference) -> None:
        urls = {"gitaccess": ga.url, "reference": rf.url}
        clones = {side: self.scratch / f"warm-{side}" for side in SIDES}
        for side in SIDES:  # untimed: each side opens its repository once (git: the page cache)
            self.client.run("clone", "-q", "--no-checkout", urls[side], str(clones[side]))
        if self.wanted("clone"):
            clones = self.scenario_clone(urls)
        if self.wanted("depth1"):
            self.scenario_depth1(urls)
        if self.wanted("rss"):
            self.scenario_rss(ga, rf)
        if self.wanted("fetch"):
            self.scenario_fetch(wiki, {"gitaccess": ga, "reference": rf}, reference, clones)
        if self.wanted("push-pages"):
            self.scenario_push(clones, one_commit=True)
        if self.wanted("push-commits"):
            self.scenario_push(clones, one_commit=False)

    def scenario_clone(self, urls: dict[str, str]) -> dict[str, Path]:
        """Warm clones; returns the last clone of each side (the fetch and push scenarios work in them)."""
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        last: dict[str, Path] = {}
        for n in range(self.settings.repeat):
            for side, url in urls.items():
                target = self.scratch / f"clone-{side}-{n}"
                elapsed, _ = self.client.timed("clone", "-q", "--no-checkout", url, str(target))
                self.log(f"    clone {side}: {elapsed:.2f} s")
                times[side].append(elapsed)
                if side in last:
                    shutil.rmtree(last[side])
                last[side] = target
        heads = {self.client.rev_parse(clone) for clone in last.values()}
        self.add(timed_result("clone", f"warm clone ({self.info['commits']:,} commits, --no-checkout)", times,
                              note="" if len(heads) == 1 else "DIFFERENT HEADS"))
        objects = self.client.run("count-objects", "-v", cwd=last["reference"]).stdout.decode()
        count = next((line.split()[1] for line in objects.splitlines() if line.startswith("in-pack:")), "?")
        self.add(Result("pack", f"pack size of the clone ({count} objects)", "MiB",
                        pack_bytes(last["gitaccess"]) / 2**20, pack_bytes(last["reference"]) / 2**20))
        return last

    def scenario_depth1(self, urls: dict[str, str]) -> None:
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        for n in range(self.settings.repeat):
            for side, url in urls.items():
                target = self.scratch / f"depth1-{side}-{n}"
                elapsed, _ = self.client.timed("clone", "-q", "--no-checkout", "--depth", "1", url, str(target))
                times[side].append(elapsed)
                shutil.rmtree(target)
        self.add(timed_result("depth1", "clone --depth 1", times))

    def scenario_rss(self, ga: servers.Running, rf: servers.Running) -> None:
        """Peak memory of the servers: gitaccess's workers after every clone so far, and git's for one clone."""
        target = self.scratch / "rss-clone"
        self.client.run("clone", "-q", "--no-checkout", rf.mem_url or rf.url, str(target))
        shutil.rmtree(target)
        memory = [servers.memory_kib(pid) for pid in ga.workers()]
        peaks = [m.get("VmHWM", 0) for m in memory]
        largest = max(memory, key=lambda m: m.get("VmHWM", 0), default={})
        reference_peak = 0
        if rf.rss_log and rf.rss_log.exists():
            reference_peak = max((int(line.split()[-1]) for line in rf.rss_log.read_text().splitlines()
                                  if line.startswith("POST")), default=0)
        self.add(Result("rss", "server peak RSS during the clones (largest process)", "MiB",
                        max(peaks, default=0) / 1024, reference_peak / 1024 or None,
                        note=f"gitaccess: VmHWM of {len(peaks)} gunicorn workers "
                             f"({', '.join(f'{p // 1024}' for p in peaks)} MiB; the largest now holds "
                             f"{largest.get('RssAnon', 0) // 1024} MiB heap + "
                             f"{largest.get('RssFile', 0) // 1024} MiB mapped files); "
                             "git: ru_maxrss of http-backend and its children (pack-objects)"))

    def scenario_fetch(self, wiki: Path, served: dict[str, servers.Running], reference: ref.Reference,
                       clones: dict[str, Path]) -> None:
        """The fetch of one new edit, timed at the client, and the time its requests took in the
        server (their access log's durations): what a server adds, apart from the client's own
        work, which grows with the size of its repository on either side."""
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        in_server: dict[str, list[float]] = {side: [] for side in SIDES}
        note = "gitaccess's time includes journaling the edit (the first request after it does)"
        for n in range(self.settings.repeat):
            one_edit(wiki, n)
            for side in SIDES:
                if side == "reference":
                    ref.update_reference(self.client, served["gitaccess"].url, reference)
                logged = served[side].access_log_size()
                elapsed, _ = self.client.timed("fetch", "-q", "origin", cwd=clones[side])
                times[side].append(elapsed)
                in_server[side].append(served[side].server_seconds(logged))
            heads = {self.client.rev_parse(clone, "origin/master") for clone in clones.values()}
            if heads != {reference.head}:
                note = "DIFFERENT HEADS after the fetch"
        revisions = self.info["wiki"]["revisions"]
        result = timed_result("fetch", f"fetch one new edit (after {revisions:,} revisions)", times, note=note)
        server = timed_result("fetch-server", f"the same fetch's time in the server (after {revisions:,} revisions)",
                              in_server, note="the sum of its requests' durations in each server's access log")
        result.note += self.fetch_flatness(result, server)
        self.add(result)
        self.add(server)

    def fetch_flatness(self, result: Result, server: Result) -> str:
        """Keeps this size's fetch figures, and compares them with the other sizes' (the target:
        flat from 10,000 to 100,000 revisions)."""
        revisions = self.info["wiki"]["revisions"]
        (self.base / "fetch.json").write_text(json.dumps({
            "revisions": revisions, "gitaccess": result.gitaccess, "reference": result.reference,
            "server": {"gitaccess": server.gitaccess, "reference": server.reference}}) + "\n")
        others = []
        for path in sorted(self.settings.root.glob(f"*-s{self.settings.seed}/fetch.json")):
            other = json.loads(path.read_text())
            if other["revisions"] == revisions or not other["gitaccess"]:
                continue
            compared = f"{result.gitaccess / other['gitaccess']:.2f}x the figure after {other['revisions']:,} revisions"
            if other.get("reference") and result.reference:
                compared += f" (git: {result.reference / other['reference']:.2f}x)"
            theirs = other.get("server", {})
            if theirs.get("gitaccess") and server.gitaccess:
                compared += (f", in the server {server.gitaccess / theirs['gitaccess']:.2f}x "
                             f"({server.gitaccess * 1e3:.0f} ms against {theirs['gitaccess'] * 1e3:.0f} ms)")
            others.append(compared)
        return f"; {', '.join(others)} (an earlier run)" if others else ""

    def scenario_push(self, clones: dict[str, Path], *, one_commit: bool) -> None:
        scenario = "push-pages" if one_commit else "push-commits"
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        refused = ""
        pages = 0
        for n in range(self.settings.push_repeat):
            for side, clone in clones.items():
                self.client.run("update-ref", "refs/heads/master", "refs/remotes/origin/master", cwd=clone)
                stream, pages = push_stream(self.client, clone, one_commit=one_commit, salt=f"{scenario}-{n}")
                self.client.run("fast-import", "--quiet", "--force", cwd=clone, input=stream)
                elapsed, pushed = self.client.timed("push", "-q", "origin", "master", cwd=clone, check=False)
                self.log(f"    {scenario} {side}: {elapsed:.2f} s{'' if pushed.returncode == 0 else ' (refused)'}")
                if pushed.returncode == 0:
                    times[side].append(elapsed)
                    continue
                message = pushed.stderr.decode(errors="replace").strip().splitlines()
                if side == "reference":
                    raise RuntimeError(f"push to git http-backend failed: {message}")
                refused = next((m for m in message if "rejected" in m or "error" in m),
                               message[0] if message else "git push failed")
        label = f"push: 1 commit changing {pages:,} pages" if one_commit else f"push: {pages:,} single-page commits"
        self.info[f"{scenario} commits"] = len(times["gitaccess"]) * (1 if one_commit else pages)
        result = timed_result(scenario, label, times)
        if refused:
            result.status = "failed"
            result.note = f"gitaccess refused the push: {refused[:200]}"
        self.add(result)


def _log_problems(log: Path) -> list[str]:
    try:
        text = log.read_text("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if "Traceback" in line or "[ERROR]" in line][:20]


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default=defaults.size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                        help=f"comma-separated, from: {', '.join(SCENARIOS)} (pack size comes with clone)")
    parser.add_argument("--repeat", type=int, default=defaults.repeat,
                        help="runs per scenario; the median is reported")
    parser.add_argument("--cold-repeat", type=int, default=defaults.cold_repeat,
                        help="cold builds to time (the median is reported)")
    parser.add_argument("--push-repeat", type=int, default=defaults.push_repeat,
                        help="pushes to time per push scenario (each adds 1,000 revisions to the wiki)")
    parser.add_argument("--reuse-build", action="store_true",
                        help="report the cold build an earlier run timed instead of building again")
    parser.add_argument("--cold-deadline", type=float, default=defaults.cold_deadline,
                        help="seconds the cold build may take before it is stopped and extrapolated")
    parser.add_argument("--with-mediawiki", action="store_true",
                        help="add the git-remote-mediawiki comparison (small or tiny size; needs mw-peer.sh)")
    parser.add_argument("--root", type=Path, default=defaults.root,
                        help="where generated wikis and builds are kept (reused across runs)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (clones, server logs)")
    args = parser.parse_args(argv)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.with_mediawiki and "mediawiki" not in scenarios:
        scenarios += ("mediawiki",)
    if "mediawiki" in scenarios and args.size not in ("tiny", "mini", "small"):
        parser.error("the git-remote-mediawiki comparison is for the tiny, mini and small sizes only")
    settings = Settings(args.size, args.seed, scenarios, args.repeat, args.root, args.cold_deadline,
                        args.cold_repeat, args.push_repeat, args.reuse_build, args.keep)
    runner = Runner(settings)
    started = datetime.now(timezone.utc)
    results = runner.run()
    command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n{command}  ({started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, repeat {args.repeat}, "
          f"median wall clock)\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "date": started.isoformat(), "cores": os.cpu_count(),
                                         "size": args.size, "seed": args.seed, "repeat": args.repeat,
                                         "info": runner.info, "results": [r.as_dict() for r in results]},
                                        indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
