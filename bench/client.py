"""The git client of the benchmarks: the real git, as a user runs it, isolated from this machine's settings.

Every git command of a run goes through :class:`Client`: an empty HOME and
no system configuration (so nobody's settings change the figures),
protocol v2, and a credential helper answering with the bench account, so
both servers see HTTP Basic authentication on every request.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

from bench.plan import BENCH_PASSWORD, BENCH_USER

GIT = shutil.which("git") or "/usr/bin/git"


class Client:
    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LC_ALL": "C",
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
        helper = f"!f() {{ echo username={BENCH_USER}; echo password={BENCH_PASSWORD}; }}; f"
        self.options = ["-c", f"credential.helper={helper}", "-c", "protocol.version=2",
                        "-c", "http.postBuffer=1048576"]

    def run(self, *args: str, cwd: Path | None = None, input: bytes | None = None, stdin: IO[bytes] | None = None,
            stdout: IO[bytes] | None = None, check: bool = True,
            timeout: float = 7200) -> subprocess.CompletedProcess[bytes]:
        """git with these arguments; its output is captured unless ``stdout`` is a file (large streams)."""
        result = subprocess.run([GIT, *self.options, *args], cwd=cwd, input=input, stdin=stdin,
                                stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace')[-2000:]}")
        return result

    def timed(self, *args: str, cwd: Path | None = None,
              check: bool = True) -> tuple[float, subprocess.CompletedProcess[bytes]]:
        """Wall-clock seconds of a git command, and the command's outcome."""
        started = time.perf_counter()
        result = self.run(*args, cwd=cwd, check=check)
        return time.perf_counter() - started, result

    def rev_parse(self, repository: Path, revision: str = "HEAD") -> str:
        return self.run("rev-parse", revision, cwd=repository).stdout.decode().strip()


def pack_bytes(repository: Path) -> int:
    """Size of the packs of a clone (or a bare repository): what the clone received."""
    git_dir = repository / ".git" if (repository / ".git").exists() else repository
    return sum(p.stat().st_size for p in (git_dir / "objects" / "pack").glob("*.pack"))
