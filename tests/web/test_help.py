"""``gitaccess --help`` lists gitaccess's own options, not Flask's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_help_shows_gitaccess_options_only(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GITACCESS_", "FLASK_"))}
    shown = subprocess.run([sys.executable, "-m", "gitaccess", "--help"], cwd=tmp_path, env=environment,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    assert "--db URL" in shown.stdout and "--config FILE" in shown.stdout and "serve" in shown.stdout
    for flask_option in ("--env-file", "--app", "--debug", "-A,", "-e,"):
        assert flask_option not in shown.stdout
    assert list(tmp_path.iterdir()) == []  # asking for help creates no data directory
