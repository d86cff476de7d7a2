"""gitaccess.toml from the wiki's own siteinfo (`gitaccess config from-wiki`), and `serve`
saying where a configuration disagrees with the wiki, against a real MediaWiki."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitaccess.config import load_config
from gitaccess.siteinfo import disagreements, fetch_siteinfo
from tests.mediawiki import MediaWikiPeer

pytestmark = pytest.mark.mediawiki
GITACCESS = Path(sys.executable).parent / "gitaccess"


def from_wiki(peer: MediaWikiPeer, directory: Path) -> Path:
    toml = directory / "gitaccess.toml"
    run = subprocess.run([str(GITACCESS), "config", "from-wiki", peer.api_url, "--output", str(toml)],
                         cwd=directory, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "GITACCESS_DB": f"sqlite:///{directory}/unused.sqlite"})
    assert run.returncode == 0, run.stderr
    return toml


def test_the_written_configuration_is_the_wikis(peer: MediaWikiPeer, tmp_path: Path) -> None:
    toml = from_wiki(peer, tmp_path)
    config = load_config(toml, environ={})
    info = peer.api().siteinfo("general|namespaces|fileextensions")
    general = info["general"]
    assert (config.site_name, config.server, config.script_path) == (
        general["sitename"], general["server"], general["scriptpath"])
    assert list(config.upload_extensions) == [entry["ext"] for entry in info["fileextensions"]]
    assert (config.max_upload_size, config.max_page_size) == (general["maxuploadsize"], general["maxarticlesize"])
    assert sorted(config.subpages or ()) == sorted(ns["id"] for ns in info["namespaces"].values() if ns.get("subpages"))
    assert config.api_url == peer.api_url
    assert config.first_letter == {"1.39": "upper", "1.43": "title"}[peer.version]
    assert disagreements(config, fetch_siteinfo(peer.api_url)) == []
    again = subprocess.run([str(GITACCESS), "config", "from-wiki", peer.api_url, "--output", str(toml)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "--force" in again.stderr


def test_serve_says_where_the_configuration_disagrees(peer: MediaWikiPeer, tmp_path: Path) -> None:
    toml = from_wiki(peer, tmp_path)
    text = toml.read_text()
    text = "\n".join("max_upload_size = 1" if line.startswith("max_upload_size") else line
                     for line in text.splitlines()) + "\n"
    toml.write_text(text)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(GITACCESS), "--config", str(toml), "serve", "--port", str(port)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "GITACCESS_DB": f"sqlite:///{tmp_path}/wiki.sqlite"})
    try:
        deadline = time.monotonic() + 60
        said = ""
        while "Listening at" not in said and time.monotonic() < deadline and server.poll() is None:
            said += server.stdout.readline() if server.stdout else ""
    finally:
        server.terminate()
        server.wait(20)
    assert "warning: [wiki] max_upload_size is 1 here but" in said, said
    assert "upload_extensions" not in said
