"""Run a project CLI in a fresh interpreter, as a user would, with a minimal offline environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_data_prep(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -m data_prep ARGS` from `cwd`, the repository importable, no Hub access; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "data_prep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
