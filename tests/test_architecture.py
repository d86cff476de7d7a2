"""The layers written down in .importlinter (docs/architecture.md) hold, and the check is live."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the gitaccess package found in `package_parent`."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(ROOT / ".importlinter")],
                          cwd=package_parent, env=env, capture_output=True, text=True, timeout=300)


def test_the_layers_hold() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BROKEN" not in run.stdout


def test_a_forbidden_import_breaks_the_check(tmp_path: Path) -> None:
    """The wire importing the database layer (as it once imported accounts) is caught."""
    shutil.copytree(ROOT / "gitaccess", tmp_path / "gitaccess", ignore=shutil.ignore_patterns("__pycache__"))
    gate = tmp_path / "gitaccess" / "protocol" / "gate.py"
    gate.write_text(gate.read_text() + "\nfrom gitaccess.wiki import database  # noqa: E402\n")
    run = lint_imports(tmp_path)
    assert run.returncode != 0
    assert "gitaccess.protocol.gate -> gitaccess.wiki.database" in run.stdout
