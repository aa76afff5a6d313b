"""One run per output folder, between live processes: a second `python -m recipe.train` (or `recipe.experiments`)
on a folder another process is writing exits 2 with one line naming the holder's pid, and leaves the holder running.
The lock is the kernel's (`fcntl.flock`): when the holder is killed with SIGKILL, which runs no clean-up at all, the
next run proceeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.train_helpers import REPO, tiny_config, write_config

pytestmark = pytest.mark.slow  # spawns processes that import torch and train

ENV = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
# Another process holding OUT's lock through the very function recipe.train and the runner use, then sleeping.
HOLD = """\
import sys, time
from common.atomic import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(3600)
"""


def lock_file(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600
    )


def refused_by(result: subprocess.CompletedProcess, pid: int, out: Path) -> None:
    """Exit 2 with one line on stderr naming the output folder and the pid holding it."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"{out} is being written by another run (pid {pid}," in lines[0]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; any still alive at the end is killed."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def hold(out: Path, processes: list[subprocess.Popen]) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True
    )
    processes.append(holder)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def wait_for_lock(out: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until `proc` (a live recipe.train) has written its pid into OUT's lock file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the first run ended early with {proc.returncode}"
        if lock_file(out).is_file() and lock_file(out).read_text().strip() == f"pid {proc.pid}":
            return
        time.sleep(0.2)
    raise AssertionError(f"{proc.pid} never took the lock of {out}")


def test_a_second_train_on_a_live_run_exits_2_and_a_killed_run_frees_the_folder(
    tmp_path, small_dataset, processes
) -> None:
    out = tmp_path / "out"
    endless = write_config(tmp_path / "endless.yaml", tiny_config(training={"num_train_epochs": 10000}))
    first = subprocess.Popen(
        [sys.executable, "-m", "recipe.train", "--config", endless, "--data", small_dataset, "--output_dir", str(out)],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(first)
    wait_for_lock(out, first)

    second = run_cli("recipe.train", "--config", endless, "--data", small_dataset, "--output_dir", str(out))
    refused_by(second, first.pid, out)
    assert first.poll() is None  # the refused run did not disturb the live one

    kill(first)  # no clean-up runs: the lock file still names the dead run, but the kernel has dropped its lock
    assert lock_file(out).read_text().strip() == f"pid {first.pid}"
    short = write_config(tmp_path / "short.yaml", tiny_config(training={"num_train_epochs": 1}))
    third = run_cli(
        "recipe.train", "--config", short, "--data", small_dataset, "--output_dir", str(out), "--overwrite_output_dir"
    )
    assert third.returncode == 0, third.stderr[-3000:]
    assert (out / "model.safetensors").is_file() and (out / "run_info.json").is_file()
    assert lock_file(out).read_text() == ""  # released on exit


def test_train_refused_while_another_process_holds_the_lock_then_runs_after_sigkill(
    tmp_path, small_dataset, processes
) -> None:
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 1}))
    holder = hold(out, processes)
    refused_by(
        run_cli("recipe.train", "--config", config, "--data", small_dataset, "--output_dir", str(out)), holder.pid, out
    )
    assert not out.exists()  # nothing written before the refusal
    kill(holder)
    result = run_cli("recipe.train", "--config", config, "--data", small_dataset, "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.safetensors").is_file()


def test_runner_refused_while_another_runner_holds_the_lock_then_runs_after_sigkill(
    tmp_path, small_dataset, processes
) -> None:
    out = tmp_path / "exp"
    config = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 1}))
    argv = ["--config", config, "--data", small_dataset, "--output", str(out), "--variants", "baseline", "--seeds", "1"]
    holder = hold(out, processes)  # a live runner on OUT, as far as the lock can tell
    refused_by(run_cli("recipe.experiments", *argv), holder.pid, out)
    assert not out.exists()
    kill(holder)
    result = run_cli("recipe.experiments", *argv)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "ablation_results.json").is_file()
    assert next(out.glob("runs/baseline/seed-*/run_result.json"), None) is not None


def test_search_refused_while_another_search_holds_the_lock(tmp_path, small_dataset, processes) -> None:
    out = tmp_path / "search"
    config = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 1}))
    holder = hold(out, processes)  # a live search on OUT, as far as the lock can tell
    argv = ["--config", config, "--data", small_dataset, "--output", str(out), "--n_trials", "1"]
    refused_by(run_cli("recipe.search", *argv), holder.pid, out)
    assert not out.exists()
