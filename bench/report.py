"""A benchmark's figures and the table they are printed as.

Every row pairs gitaccess's figure with the reference's, measured in the
same run on the same history, and their ratio gitaccess / reference (above
1: gitaccess is slower or larger), beside the target issue #5 set.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

TARGETS = {
    "cold": ">= 2,000 rev/s",
    "clone": "<= 1.5x",
    "pack": "<= 1.2x",
    "fetch": "<= 2x, flat 10k->100k (20%)",
    "fetch-server": "flat 10k->100k (20%)",
    "depth1": "",
    "rss": "< 300 MB per worker",
    "push-pages": "< 5 s",
    "push-commits": "< 15 s",
    "mediawiki": ">= 100x faster",
}

REFERENCES = {
    "cold": "git fast-import",
    "pack": "git repack -adf",
    "mediawiki": "git-remote-mediawiki",
}


@dataclass
class Result:
    scenario: str
    label: str
    unit: str  # "s" or "MiB"
    gitaccess: float | None = None
    reference: float | None = None
    status: str = "ok"  # ok | not implemented | incomplete | failed | skipped
    note: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.gitaccess is None or not self.reference:
            return None
        return self.gitaccess / self.reference

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "target": TARGETS.get(self.scenario, "")}


def timed_result(scenario: str, label: str, times: dict[str, list[float]], **extra: Any) -> Result:
    """A row of wall-clock times: the median of each side's runs (None for a side with no run)."""
    return Result(scenario, label, "s", *(statistics.median(times[side]) if times.get(side) else None
                                          for side in ("gitaccess", "reference")), runs=times, **extra)


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value:,.1f} MiB"
    if value < 1:
        return f"{value:.3f} s"
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


def format_row(r: Result) -> str:
    """One line of progress output."""
    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
    status = "" if r.status == "ok" else f" [{r.status}]"
    return f"{r.label}{status} | {_figure(r.gitaccess, r.unit)} | {_figure(r.reference, r.unit)} | {ratio}"


def table(results: list[Result]) -> str:
    """The results as a Markdown table (what bench/README.md's results section holds)."""
    header = ("| scenario | gitaccess | reference | ratio gitaccess/reference | target | notes |\n"
              "| --- | ---: | ---: | ---: | --- | --- |")
    rows = []
    for r in results:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        status = "" if r.status == "ok" else f" **{r.status}**"
        reference = (f"{_figure(r.reference, r.unit)} ({REFERENCES.get(r.scenario, 'git http-backend')})"
                     if r.reference else "-")
        rows.append(f"| {r.label}{status} | {_figure(r.gitaccess, r.unit)} | {reference} | {ratio} | "
                    f"{TARGETS.get(r.scenario, '')} | {r.note} |")
    return "\n".join([header, *rows])
