"""Run a Python script the way a user without this repository would: a fresh, isolated interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np


def run_remote_code_script(script: str, model_dir: str, clip: np.ndarray, tmp_path: Path) -> dict[str, Any]:
    """Save `clip` to tmp_path/clip.npy, run `script MODEL_DIR CLIP.npy` with `python -I` (no PYTHONPATH, no cwd
    on sys.path) from tmp_path with an empty offline HF cache, and return the JSON of its last stdout line."""
    np.save(tmp_path / "clip.npy", clip)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, model_dir, str(tmp_path / "clip.npy")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_in_space(space: Path, script: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `script ARGS` with `env` in the Space folder `space` (what a Space runs, the recipe off the path) and
    return the JSON of its last stdout line."""
    ran = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=space, env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    return json.loads(ran.stdout.strip().splitlines()[-1])
