"""Two-process data-parallel run on CPU (torchrun, gloo) of the unchanged recipe.train on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.train_helpers import REPO, make_dataset, tiny_config, write_config

# recipe.train.main plus a callback recording, per rank, a digest of the final weights and the step count.
DRIVER = """
import hashlib, json, os, sys
import torch
from transformers import TrainerCallback
from recipe.train import main

class Digest(TrainerCallback):
    def on_train_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        # One more pass over this rank's shard: a fingerprint (abs-sum) of every clip it is given.
        seen = [round(float(row.abs().sum()), 2) for batch in train_dataloader for row in batch["input_values"]]
        h = hashlib.sha256()
        for name, p in sorted(model.state_dict().items()):
            h.update(name.encode()); h.update(p.detach().cpu().numpy().tobytes())
        rank = int(os.environ.get("RANK", 0))
        out = os.path.join(args.output_dir, f"rank{rank}.json")
        json.dump({"digest": h.hexdigest(), "global_step": state.global_step, "world_size": args.world_size,
                   "seen": seen,
                   "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None},
                  open(out, "w"))

sys.exit(main(sys.argv[1:], extra_callbacks=[Digest()]))
"""


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=4, n_eval=2)  # 24 training clips
    # Frozen encoder for epoch 1 then unfrozen: gradients of the late-joining encoder must be all-reduced too.
    cfg = tiny_config(
        recipe={"freeze_encoder_epochs": 1}, training={"num_train_epochs": 2, "per_device_train_batch_size": 3}
    )
    config = write_config(tmp_path / "c.yaml", cfg)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(driver),
        "--config",
        config,
        "--data",
        data,
        "--output_dir",
        str(out),
    ]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]

    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["backend"] == "gloo"
    # 24 clips / (3 per device x 2 processes) = 4 steps per epoch, 2 epochs.
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == 8
    assert ranks[0]["digest"] == ranks[1]["digest"], "the two replicas diverged"
    # Each process gets its own half of the (length-grouped) epoch: disjoint shards covering all 24 clips.
    seen0, seen1 = set(ranks[0]["seen"]), set(ranks[1]["seen"])
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 12
    assert not seen0 & seen1 and len(seen0 | seen1) == 24
    run_info = json.loads((out / "run_info.json").read_text())
    assert run_info["world_size"] == 2 and run_info["unfreeze_epoch"] == 1
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    assert len([e for e in state["log_history"] if "train_accuracy" in e]) == 2
