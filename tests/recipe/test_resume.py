"""Resume: a run hard-killed right after a checkpoint continues with --resume and ends like an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from recipe.train import main
from tests.support.train_helpers import REPO, make_dataset, tiny_config, write_config

# Runs recipe.train in this process and kills it (no cleanup, like SIGKILL) right after the first checkpoint.
DRIVER = """
import os, sys
from transformers import TrainerCallback
from recipe.train import main

class KillAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        print(f"killing at step {state.global_step}", flush=True)
        os._exit(137)

sys.exit(main(sys.argv[1:], extra_callbacks=[KillAfterFirstCheckpoint()]))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _run(args: list[str], driver: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", DRIVER, *args] if driver else [sys.executable, "-m", "recipe.train", *args]
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_end(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=4, n_eval=2)
    # 24 clips / batch 4 = 6 steps per epoch, 3 epochs = 18 steps; a checkpoint every epoch.
    config = write_config(tmp_path / "c.yaml", tiny_config(training={"num_train_epochs": 3}))
    full, killed = tmp_path / "full", tmp_path / "killed"

    reference = _run(["--config", config, "--data", data, "--output_dir", str(full)])
    assert reference.returncode == 0, reference.stderr[-3000:]

    crashed = _run(["--config", config, "--data", data, "--output_dir", str(killed)], driver=True)
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    assert "killing at step 6" in crashed.stdout
    assert (killed / "checkpoint-6").is_dir() and not (killed / "run_info.json").exists()

    resumed = _run(["--config", config, "--data", data, "--output_dir", str(killed), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    state_full = json.loads((full / "trainer_state.json").read_text())
    state_resumed = json.loads((killed / "trainer_state.json").read_text())
    assert state_full["global_step"] == state_resumed["global_step"] == 18
    assert state_resumed["epoch"] == state_full["epoch"] == 3.0
    run_info = json.loads((killed / "run_info.json").read_text())
    assert run_info["resumed_from"].endswith("checkpoint-6")
    # The epoch-1 records survive in the checkpoint's log history; one eval entry per epoch overall.
    assert [e["epoch"] for e in state_resumed["log_history"] if "eval_uar" in e] == [1.0, 2.0, 3.0]
    # Same data order, RNG and optimizer state: the last checkpoint (step 18, written after the last update; the
    # final model.safetensors may be an earlier best one) holds bit-identical weights and AdamW state.
    last_full, last_resumed = full / "checkpoint-18", killed / "checkpoint-18"
    w_full, w_resumed = load_file(last_full / "model.safetensors"), load_file(last_resumed / "model.safetensors")
    assert w_full.keys() == w_resumed.keys() and w_full
    assert [key for key in w_full if not torch.equal(w_full[key], w_resumed[key])] == []
    opt_full = torch.load(last_full / "optimizer.pt", weights_only=True)
    opt_resumed = torch.load(last_resumed / "optimizer.pt", weights_only=True)
    assert opt_full["param_groups"] == opt_resumed["param_groups"]
    assert opt_full["state"].keys() == opt_resumed["state"].keys() and opt_full["state"]
    for index, state in opt_full["state"].items():
        assert state.keys() == opt_resumed["state"][index].keys()
        for name, value in state.items():
            assert torch.equal(value, opt_resumed["state"][index][name]), (index, name)


def test_resume_and_overwrite_guards(tmp_path, capsys, small_dataset):
    data = small_dataset
    config = write_config(tmp_path / "c.yaml", tiny_config())
    out = tmp_path / "out"
    assert main(["--config", config, "--data", data, "--output_dir", str(out), "--resume"]) == 2
    assert "no checkpoint-* folder" in capsys.readouterr().err
    (out / "checkpoint-999").mkdir(parents=True)
    (out / "checkpoint-999" / "trainer_state.json").write_text("{}")
    assert main(["--config", config, "--data", data, "--output_dir", str(out)]) == 2
    assert "pass --resume to continue" in capsys.readouterr().err
    assert main(["--config", config, "--data", data, "--output_dir", str(out), "--overwrite_output_dir"]) == 0
    assert "removed checkpoint-999 of an earlier run" in capsys.readouterr().out
    assert not (out / "checkpoint-999").exists() and (out / "run_info.json").is_file()
    assert main(["--config", config, "--data", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "o2")]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


def test_unknown_encoder_is_a_clear_error(tmp_path, capsys, small_dataset):
    data = small_dataset
    cfg = tiny_config(model={"from_scratch": False, "encoder": str(tmp_path / "no-such-encoder")})
    config = write_config(tmp_path / "c.yaml", cfg)
    assert main(["--config", config, "--data", data, "--output_dir", str(tmp_path / "out")]) == 2
    assert "no-such-encoder' cannot be loaded" in capsys.readouterr().err
