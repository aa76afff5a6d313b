"""recipe.components.executors and `recipe.experiments --executor`: options from flags and YAML, the submit loop
(parallelism cap, failures reported while the others go on), a failed run retried on the next call, and the same
variant and seed giving the same metrics in this process, as a Ray task and as a submitit job."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from common.ablation_results import check_schema
from recipe import experiments
from recipe.components import executors
from tests.support.train_helpers import make_dataset, tiny_config, write_config


def _options(argv: list[str]) -> executors.ExecutorOptions:
    ap = argparse.ArgumentParser()
    executors.add_arguments(ap)
    return executors.options_from(ap.parse_args(argv))


def test_options_come_from_yaml_and_flags_win(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text("executor: slurm\nslurm_partition: gpu\nslurm_time: 240\ngpus_per_run: 1\nmax_parallel: 4\n")
    opts = _options(["--executor_config", str(path), "--max_parallel", "2"])
    assert (opts.executor, opts.slurm_partition, opts.slurm_time, opts.gpus_per_run) == ("slurm", "gpu", 240, 1)
    assert opts.max_parallel == 2  # the flag, not the file's 4
    assert opts.cpus_per_run == 1  # neither: the default
    assert executors.describe(opts) == {
        "name": "slurm",
        "max_parallel": 2,
        "cpus_per_run": 1,
        "gpus_per_run": 1,
        "cluster": "slurm",
        "partition": "gpu",
        "time_min": 240,
    }
    assert executors.describe(_options([])) == {"name": "local"}


def test_bad_executor_options_name_the_key(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text("executor: ray\npartition: gpu\n")
    with pytest.raises(executors.ExecutorError, match=r"cluster.yaml: unknown executor option 'partition'"):
        _options(["--executor_config", str(path)])
    with pytest.raises(executors.ExecutorError, match="local executor runs one run at a time"):
        _options(["--max_parallel", "3"])
    with pytest.raises(executors.ExecutorError, match="max_parallel must be >= 1"):
        _options(["--executor", "ray", "--max_parallel", "0"])


class ThreadedExecutor:
    """Runs each submitted call on a thread (a stand-in for a cluster), counting how many run at once."""

    name = "threads"

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def submit(self, label, fn, *args) -> Future:
        def tracked():
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                return fn(*args)
            finally:
                with self.lock:
                    self.running -= 1

        return self.pool.submit(tracked)

    def shutdown(self, cancel: bool = False) -> None:
        self.pool.shutdown()


def _job(i: int) -> int:
    time.sleep(0.05)
    if i == 2:
        raise RuntimeError("recipe.train exited with status 1")
    return i * i


def test_run_all_caps_parallel_runs_and_goes_on_after_a_failure():
    executor = ThreadedExecutor()
    tasks = [executors.Task(f"run {i}", _job, (i,)) for i in range(6)]
    submitted, done, failed = [], {}, {}
    executors.run_all(
        executor,
        tasks,
        2,
        submitted.append,
        done.__setitem__,
        lambda i, err: failed.__setitem__(i, str(err)) or False,
    )
    executor.shutdown()
    assert submitted == [0, 1, 2, 3, 4, 5]
    assert done == {0: 0, 1: 1, 3: 9, 4: 16, 5: 25}
    assert failed == {2: "recipe.train exited with status 1"}
    assert executor.most == 2


def test_run_all_stops_submitting_when_told():
    tasks = [executors.Task(f"run {i}", _job, (i,)) for i in range(5)]
    submitted, done = [], {}
    executors.run_all(executors.LocalExecutor(), tasks, None, submitted.append, done.__setitem__, lambda i, e: True)
    assert submitted == [0, 1, 2] and sorted(done) == [0, 1]  # local: one at a time, nothing after the failure


@pytest.fixture()
def tiny_experiment(tmp_path: Path) -> list[str]:
    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    cfg = tiny_config(training={"num_train_epochs": 1, "per_device_train_batch_size": 6, "logging_steps": 1})
    config = write_config(tmp_path / "cfg.yaml", cfg)
    return ["--config", config, "--data", data, "--seeds", "1"]


def _results(out: Path) -> dict:
    results = json.loads((out / experiments.RESULTS_JSON).read_text())
    check_schema(results)
    return results


@pytest.mark.slow
def test_failed_run_is_reported_and_retried_on_the_next_call(tmp_path, tiny_experiment, monkeypatch, capsys):
    argv = [*tiny_experiment, "--output", str(tmp_path / "out"), "--variants", "baseline,no_mixup"]
    real_train_run = experiments.train_run
    trained: list[str] = []

    def train_run(run, config, launcher):
        trained.append(run.variant.name)
        if run.variant.name == "baseline" and trained.count("baseline") == 1:
            raise RuntimeError(f"{run.label}: recipe.train exited with status 1")
        real_train_run(run, config, launcher)

    monkeypatch.setattr(experiments, "train_run", train_run)
    assert experiments.main(argv) == 1
    err = capsys.readouterr().err
    assert "baseline seed 42 failed: baseline seed 42: recipe.train exited with status 1" in err
    assert [v["name"] for v in _results(tmp_path / "out")["variants"]] == ["no_mixup"]  # the other run went on
    assert not (tmp_path / "out/runs/baseline/seed-42" / experiments.RESULT_FILE).exists()
    assert experiments.main(argv) == 0
    assert trained == ["baseline", "no_mixup", "baseline"]  # only the failed run again
    results = _results(tmp_path / "out")
    assert [v["name"] for v in results["variants"]] == ["baseline", "no_mixup"]
    assert results["executor"] == {"name": "local", "runs_by_executor": {"local": 2}}


@pytest.mark.slow
def test_same_run_same_metrics_here_on_ray_and_as_a_submitit_job(tmp_path, tiny_experiment):
    """baseline seed 42 three times: in this process, as a Ray task on a 2-CPU local cluster, as a submitit job."""
    runs = {
        "local": [],
        "ray": ["--executor", "ray", "--ray_num_cpus", "2", "--cpus_per_run", "1"],
        "slurm": ["--executor", "slurm", "--slurm_cluster", "local", "--slurm_time", "10"],
    }
    metrics, configs, losses = {}, {}, {}
    for name, flags in runs.items():
        out = tmp_path / name
        assert experiments.main([*tiny_experiment, "--output", str(out), "--variants", "baseline", *flags]) == 0
        results = _results(out)
        assert results["executor"]["name"] == name
        assert results["executor"]["runs_by_executor"] == {name: 1}
        run_folder = out / "runs/baseline/seed-42"
        assert json.loads((run_folder / experiments.RESULT_FILE).read_text())["executor"] == name
        metrics[name] = {k: v for k, v in results["variants"][0]["runs"][0].items() if k != "train_seconds"}
        configs[name] = yaml.safe_load((run_folder / "train_config.yaml").read_text())
        assert configs[name]["training"].pop("output_dir") == str(run_folder)
        history = json.loads((run_folder / "trainer_state.json").read_text())["log_history"]
        losses[name] = [entry[k] for entry in history for k in ("loss", "eval_loss") if k in entry]
    assert metrics["ray"] == metrics["local"] and metrics["slurm"] == metrics["local"]
    assert configs["ray"] == configs["local"] == configs["slurm"]
    # every logged training and validation loss: the same training, not only the same rounded metrics (the thread
    # count differs between here and a 1-CPU worker, so float sums may differ in the last digits)
    assert len(losses["local"]) == 3
    assert losses["ray"] == pytest.approx(losses["local"], rel=1e-5)
    assert losses["slurm"] == pytest.approx(losses["local"], rel=1e-5)
    assert configs["local"]["training"]["seed"] == 42
    assert list((tmp_path / "slurm/slurm").glob("*/*_log.out"))  # submitit's job log


def test_environ_sets_then_restores(monkeypatch):
    monkeypatch.setenv("SER_KEEP", "before")
    monkeypatch.delenv("SER_NEW", raising=False)
    with executors.environ({"SER_KEEP": "inside", "SER_NEW": "x"}):
        assert os.environ["SER_KEEP"] == "inside" and os.environ["SER_NEW"] == "x"
    assert os.environ["SER_KEEP"] == "before" and "SER_NEW" not in os.environ


def test_record_counts_runs_by_executor():
    opts = _options(["--executor", "ray", "--ray_address", "head:6379", "--gpus_per_run", "1"])
    runs = [{"executor": "ray"}, {"executor": "local"}, {}, {"executor": "ray"}]  # {}: recorded before executors
    assert executors.record(opts, runs) == {
        "name": "ray",
        "max_parallel": None,
        "cpus_per_run": 1,
        "gpus_per_run": 1,
        "ray_address": "head:6379",
        "runs_by_executor": {"local": 2, "ray": 2},
    }


def test_a_run_failing_on_bad_input_stops_the_experiment_with_exit_2(tmp_path, tiny_experiment, monkeypatch, capsys):
    calls: list[str] = []

    def execute(run, *args):
        calls.append(run.label)
        raise FileNotFoundError(f"{run.data_dir}/train: no such split")

    monkeypatch.setattr(experiments, "execute", execute)
    argv = [*tiny_experiment, "--output", str(tmp_path / "out"), "--variants", "baseline,no_mixup"]
    assert experiments.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("recipe.experiments: error: baseline seed 42: ") and "no such split" in err
    assert err.count("\n") == 1
    assert calls == ["baseline seed 42"]  # nothing submitted after bad input
