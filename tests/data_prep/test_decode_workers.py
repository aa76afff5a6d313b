"""A decoding worker killed mid-file (SIGKILL, as the out-of-memory killer does) fails the run within seconds: exit 2,
one line naming the file being decoded, the output lock released and nothing written. Order stays deterministic."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from data_prep.decode import DecodeWorkerError, decoded_rows
from tests.support import fixture_corpora as fc
from tests.support.cli import REPO
from tests.support.decode_faults import KILL_MARKER, decode_or_die

KILL_SITE = REPO / "tests" / "support" / "kill_site"


def corpus(root: Path, n: int = 12, killer_at: int | None = None) -> list[dict[str, str]]:
    """`n` real WAV clips under root/<label>/ (as utterance dicts), the one at `killer_at` named with KILL_MARKER."""
    labels = ("happy", "sad", "anger")
    utterances = []
    for i in range(n):
        name = f"{KILL_MARKER}_{i}.wav" if i == killer_at else f"clip_{i}.wav"
        path = fc.write_clip(root / labels[i % 3] / name)
        utterances.append(
            {"path": str(path), "label": labels[i % 3], "speaker": f"s{i % 4}", "corpus": "c", "language": "en"}
        )
    return utterances


def consume(rows) -> tuple[list, BaseException | None]:
    """Drain `rows` in a thread (so a hang fails the test instead of blocking it); (rows, error)."""
    out: list = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            out.extend(rows)
        except BaseException as err:  # noqa: BLE001 - handed to the test
            error.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "decoding hangs after a worker died"
    return out, error[0] if error else None


def test_dead_worker_raises_naming_the_file(tmp_path: Path) -> None:
    utterances = corpus(tmp_path / "corpus", killer_at=7)
    rows, error = consume(decoded_rows(utterances, 16000, 8.0, 0.25, workers=2, decode=decode_or_die))
    assert isinstance(error, DecodeWorkerError)
    assert f"{KILL_MARKER}_7.wav" in str(error) and "\n" not in str(error)
    assert len(rows) < len(utterances)
    assert mp.active_children() == []  # the executor's workers are gone too


def test_parallel_decoding_keeps_input_order(tmp_path: Path) -> None:
    utterances = corpus(tmp_path / "corpus", n=20)
    serial, _ = consume(decoded_rows(utterances, 16000, 8.0, 0.25, workers=1))
    parallel, error = consume(decoded_rows(utterances, 16000, 8.0, 0.25, workers=2))
    assert error is None
    assert [r["path"] for r in parallel] == [u["path"] for u in utterances] == [r["path"] for r in serial]
    assert all(np.array_equal(a["audio"], b["audio"]) for a, b in zip(serial, parallel))


@pytest.mark.slow
def test_cli_exits_2_naming_the_file_and_releases_the_lock(tmp_path: Path) -> None:
    corpus(tmp_path / "corpus", n=24, killer_at=13)
    out = tmp_path / "prepared"
    env = {
        "PYTHONPATH": f"{KILL_SITE}{os.pathsep}{REPO}",
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "SER_TEST_KILL_DECODING": KILL_MARKER,
    }
    argv = ["--corpus", f"folder={tmp_path / 'corpus'}", "--output", str(out), "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "data_prep", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("python -m data_prep hangs after a decoding worker died")
    assert proc.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("decoding:")]  # no bar
    assert len(lines) == 1 and lines[0].startswith("data_prep: error: a decoding worker process died"), lines
    assert f"{KILL_MARKER}_13.wav" in lines[0]
    assert not out.exists()
    assert [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".prepared.") and not p.name.endswith(".lock")
    ] == []
    with open(tmp_path / ".prepared.lock", "a+") as fh:  # free: the run that held it is gone
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
