"""`python -m recipe.predict` streams: files are decoded, classified and written a group at a time, so its peak
memory does not grow with the number of files (40 vs 400 three-second clips)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
CLIP_S = 3.0
# Holding every decoded clip, as a decode-all-then-classify loop does, costs 360 x 3 s x 16000 x 4 bytes = 66 MiB
# more for 400 files than for 40; a streaming run stays within this margin.
MARGIN_MIB = 20

PEAK_RSS = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(proc.stderr[-2000:])
"""


def _peak_rss_mib(model_dir: str, folder: Path, out: Path) -> float:
    """Peak resident memory of a predict run over `folder`, measured by a fresh parent whose only child it is."""
    cmd = [sys.executable, "-m", "recipe.predict", model_dir, str(folder), "--format", "jsonl", "--output", str(out)]
    cmd += ["--precision", "fp32", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *cmd], capture_output=True, text=True, env=env, cwd=REPO)
    code, kib = proc.stdout.split()
    assert code == "0", proc.stderr
    return int(kib) / 1024


@pytest.mark.slow
def test_peak_memory_is_flat_in_the_number_of_files(tiny_ser_model: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(CLIP_S * 16000)) / 16000
    source = tmp_path / "clip.wav"
    sf.write(source, (0.3 * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(t.size)), 16000)
    peaks = {}
    for count in (40, 400):
        folder = tmp_path / f"files_{count}"
        folder.mkdir()
        for i in range(count):  # hard links: distinct files to predict, one copy on disk
            os.link(source, folder / f"clip_{i:03d}.wav")
        out = tmp_path / f"out_{count}.jsonl"
        peaks[count] = _peak_rss_mib(tiny_ser_model, folder, out)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(lines) == count and all("label" in line for line in lines)
    assert peaks[400] - peaks[40] < MARGIN_MIB, peaks
