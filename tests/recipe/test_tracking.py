"""Experiment tracking: `report_to: tensorboard` in an experiment writes each run's TensorBoard events under
OUT/tensorboard/VARIANT-seedS, readable by TensorBoard itself, with the run's evaluation metrics."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from recipe import experiments
from tests.support.train_helpers import make_dataset, tiny_config, write_config


@pytest.mark.slow
def test_experiment_runs_log_to_one_tensorboard_folder(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    cfg = tiny_config(training={"num_train_epochs": 2, "per_device_train_batch_size": 6, "logging_steps": 1})
    config = write_config(tmp_path / "cfg.yaml", cfg)
    out = tmp_path / "out"
    argv = ["--config", config, "--data", data, "--output", str(out), "--seeds", "1", "--variants", "baseline"]
    assert experiments.main([*argv, "--report_to", "tensorboard"]) == 0

    assert sorted(p.name for p in (out / "tensorboard").iterdir()) == ["baseline-seed42"]
    events = EventAccumulator(str(out / "tensorboard" / "baseline-seed42"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/uar", "eval/accuracy", "eval/macro_f1", "eval/loss", "train/loss"} <= tags
    logged = json.loads((out / "runs/baseline/seed-42/trainer_state.json").read_text())["log_history"]
    evals = [e for e in logged if "eval_uar" in e]
    assert [(s.step, s.value) for s in events.Scalars("eval/uar")] == [
        (e["step"], pytest.approx(e["eval_uar"])) for e in evals
    ]
    assert len(evals) == 2  # one evaluation per epoch
