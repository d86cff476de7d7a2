"""The two servers of a benchmark run, on free ports of 127.0.0.1, with logs in a temporary directory.

- :func:`gitaccess_server`: gunicorn serving ``gitaccess.app:create_app()``
  configured by ``GITACCESS_CONFIG``, as ``gitaccess serve`` runs it
  (2 gthread workers of 4 threads, timeout 600 s); clones authenticate with
  HTTP Basic through gitaccess's gate against the wiki's own accounts.
- :func:`reference_server`: lighttpd running ``git http-backend`` as a CGI
  program (``GIT_PROJECT_ROOT``, ``GIT_HTTP_EXPORT_ALL``), behind lighttpd's
  own HTTP Basic authentication (mod_auth with a plain password file), the
  setup git's documentation gives. ``/gitmem/`` serves the same
  repositories through a wrapper that records the peak RSS of http-backend
  and its children (upload-pack, pack-objects) per request, for the memory
  scenario; ``/git/`` has no wrapper, for the timings.

Both write an access log whose lines end with the request's duration in
microseconds (:meth:`Running.server_seconds`): a fetch's time in the
server, apart from the git client's own work.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")
REPOSITORY = "wiki"
#: Seconds without a new line after which an access log holds a request's line, and the
#: longest wait for it.
LOG_QUIET = 1.2
LOG_WAIT = 5.0


class ServerUnavailable(RuntimeError):
    """A server this benchmark needs is not installed (the message says which package)."""


@dataclass
class Running:
    url: str  # the clone URL
    pid: int
    logs: Path
    rss_log: Path | None = None  # reference only: peak RSS (KiB) of each request through /gitmem/
    mem_url: str | None = None

    @property
    def access_log(self) -> Path:
        return self.logs / "access.log"

    def access_log_size(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def server_seconds(self, since: int) -> float:
        """Seconds the server spent on the requests it logged after byte ``since`` of its access
        log (each line ends with a duration in microseconds). lighttpd writes its log once a
        second: the lines are read once none came for longer than that."""
        size, changed = self.access_log_size(), time.monotonic()
        deadline = changed + LOG_WAIT
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if self.access_log_size() != size:
                size, changed = self.access_log_size(), time.monotonic()
            elif size > since and time.monotonic() - changed > LOG_QUIET:
                break
        with self.access_log.open("rb") as log:
            log.seek(since)
            return sum(int(line.split()[-1]) for line in log.read().splitlines() if line.strip()) / 1e6

    def workers(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lighttpd_binary() -> str:
    found = shutil.which("lighttpd") or ("/usr/sbin/lighttpd" if Path("/usr/sbin/lighttpd").exists() else None)
    if not found:
        raise ServerUnavailable("lighttpd is not installed (Debian package lighttpd)")
    if not HTTP_BACKEND.exists():
        raise ServerUnavailable(f"{HTTP_BACKEND} is missing (Debian package git)")
    return found


def wait_ready(url: str, user: str, password: str, process: subprocess.Popen[bytes], log: Path,
               timeout: float = 30) -> None:
    """Until an authenticated info/refs answers 200."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(f"{url}/info/refs?service=git-upload-pack",
                                     headers={"Authorization": f"Basic {token}"})
    deadline = time.monotonic() + timeout
    problem = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            problem = str(exc)
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"server at {url} did not get ready ({problem}):\n{_tail(log)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def gitaccess_server(config: Path, user: str, password: str, logs: Path | None = None,
                     workers: int = 2) -> Iterator[Running]:
    """gunicorn serving the wiki that ``config`` describes."""
    logs = logs or Path(tempfile.mkdtemp(prefix="gitaccess-bench-gunicorn-"))
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = logs / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    env = {**os.environ, "GITACCESS_CONFIG": str(config)}
    env.pop("GITACCESS_DB", None)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
             "--threads", "4", "--timeout", "600", "--no-control-socket",
             "--access-logfile", str(logs / "access.log"), "--access-logformat", '%(h)s "%(r)s" %(s)s %(D)s',
             "gitaccess.app:create_app()"],
            cwd=config.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/{REPOSITORY}.git"
    try:
        wait_ready(url, user, password, process, log, timeout=120)
        yield Running(url, process.pid, logs)
    finally:
        _stop(process)


RSS_WRAPPER = """\
#!{python}
# git http-backend as a CGI child; appends the peak RSS (KiB) of it and its children to {log}.
import os, resource, subprocess, sys
code = subprocess.call([{backend!r}])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open({log!r}, "a") as out:
    out.write(f"{{os.environ.get('REQUEST_METHOD', '')}} {{os.environ.get('PATH_INFO', '')}} {{peak}}\\n")
sys.exit(code)
"""

LIGHTTPD_CONFIG = """\
server.modules = ("mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi", "mod_accesslog")
server.document-root = "{root}/htdocs"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/error.log"
accesslog.filename = "{root}/access.log"
accesslog.format = "%h \\"%r\\" %>s %D"
server.max-request-size = 2097152
auth.backend = "plain"
auth.backend.plain.userfile = "{root}/users"
auth.require = ("/git" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
alias.url = ("/gitmem" => "{root}/rss-backend", "/git" => "{backend}")
$HTTP["url"] =~ "^/git" {{
    cgi.assign = ("" => "")
    setenv.add-environment = ("GIT_PROJECT_ROOT" => "{project_root}", "GIT_HTTP_EXPORT_ALL" => "")
}}
"""


@contextmanager
def reference_server(project_root: Path, user: str, password: str,
                     logs: Path | None = None) -> Iterator[Running]:
    """lighttpd + git http-backend serving ``project_root/wiki.git``."""
    binary = lighttpd_binary()
    root = logs or Path(tempfile.mkdtemp(prefix="gitaccess-bench-lighttpd-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "htdocs").mkdir(exist_ok=True)
    (root / "users").write_text(f"{user}:{password}\n")
    rss_log = root / "rss.log"
    wrapper = root / "rss-backend"
    wrapper.write_text(RSS_WRAPPER.format(python=sys.executable, backend=str(HTTP_BACKEND), log=str(rss_log)))
    wrapper.chmod(0o755)
    port = free_port()
    config = root / "lighttpd.conf"
    config.write_text(LIGHTTPD_CONFIG.format(root=root, port=port, backend=HTTP_BACKEND,
                                             project_root=project_root.resolve()))
    check = subprocess.run([binary, "-tt", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"lighttpd refuses its configuration:\n{check.stderr}{check.stdout}")
    log = root / "lighttpd.out"
    with log.open("ab") as out:
        process = subprocess.Popen([binary, "-D", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/git/{REPOSITORY}.git"
    try:
        wait_ready(url, user, password, process, root / "error.log")
        yield Running(url, process.pid, root, rss_log, f"http://127.0.0.1:{port}/gitmem/{REPOSITORY}.git")
    finally:
        _stop(process)


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS and its parts (RssAnon: the heap; RssFile: mapped files such as packs) of a process."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0])
    return found

