"""The techniques in a real (tiny) training run: what run_info records, the averaged weights, exact resume with
augmentation, and the runner's variant names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from datasets import DatasetDict, load_from_disk
from safetensors.torch import load_file

from recipe import experiments
from recipe.components.ablation import TECHNIQUE_VARIANTS
from tests.recipe.test_resume import DRIVER, _env
from tests.support.train_helpers import REPO, make_dataset, tiny_config, write_config

TECHNIQUES = {
    "loss": "focal",
    "focal_gamma": 2.0,
    "class_weights": "inverse_frequency",
    "speed_perturb": {"default": 0.5, "surprise": 1.0},
    "noise_augment": {"default": 0.5},
}


def _unbalanced_data(tmp_path) -> str:
    """Train split with 4 clips of each class but 2 of surprise (the last class)."""
    path = make_dataset(tmp_path / "full", n_train=4, n_eval=2)
    dsd = load_from_disk(path)
    train = dsd["train"]
    keep = [i for i, y in enumerate(train["label"]) if y != 5] + [i for i, y in enumerate(train["label"]) if y == 5][:2]
    out = tmp_path / "data"
    DatasetDict({"train": train.select(keep), "validation": dsd["validation"], "test": dsd["test"]}).save_to_disk(out)
    return str(out)


def _run(args: list[str], driver: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", DRIVER, *args] if driver else [sys.executable, "-m", "recipe.train", *args]
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_techniques_run_records_weights_and_averages_checkpoints(tmp_path):
    data = _unbalanced_data(tmp_path)
    cfg = tiny_config(
        recipe={**TECHNIQUES, "checkpoint_average": 2},
        training={"num_train_epochs": 3, "save_total_limit": 3},
    )
    out = tmp_path / "out"
    done = _run(["--config", write_config(tmp_path / "c.yaml", cfg), "--data", data, "--output_dir", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((out / "run_info.json").read_text())
    t = info["techniques"]
    assert t["loss"] == "focal" and t["focal_gamma"] == 2.0
    # N = 22 clips, C = 6: 22 / (6 * 4) for the classes with 4 clips, 22 / (6 * 2) for surprise
    assert t["class_weights"]["anger"] == pytest.approx(0.916667, abs=1e-6)
    assert t["class_weights"]["surprise"] == pytest.approx(1.833333, abs=1e-6)
    assert t["augmentation"]["speed_perturb"] == {"default": 0.5, "surprise": 1.0}
    # 22 clips / batch 4 = 6 steps per epoch: checkpoints 6, 12, 18; the last two averaged
    assert t["checkpoint_average"] == {"k": 2, "checkpoints": ["checkpoint-12", "checkpoint-18"]}
    assert set(info["collapse"]) == {"collapsed_evaluations", "final_model_collapsed"}
    final = load_file(out / "model.safetensors")
    a, b = load_file(out / "checkpoint-12/model.safetensors"), load_file(out / "checkpoint-18/model.safetensors")
    for key in final:
        assert torch.allclose(final[key], (a[key] + b[key]) / 2, atol=1e-6), key
    validation = json.loads((out / "validation_results.json").read_text())
    assert "eval_uar" in validation


@pytest.mark.slow
def test_augmented_run_resumes_exactly(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=4, n_eval=2)
    config = write_config(tmp_path / "c.yaml", tiny_config(recipe=TECHNIQUES, training={"num_train_epochs": 2}))
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _run(["--config", config, "--data", data, "--output_dir", str(full)]).returncode == 0
    crashed = _run(["--config", config, "--data", data, "--output_dir", str(killed)], driver=True)
    assert crashed.returncode == 137 and "killing at step 6" in crashed.stdout
    resumed = _run(["--config", config, "--data", data, "--output_dir", str(killed), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    w_full, w_resumed = load_file(full / "model.safetensors"), load_file(killed / "model.safetensors")
    for key in w_full:
        assert (w_full[key] - w_resumed[key]).abs().max() < 1e-5, key


def test_technique_variants_are_listed_and_resolve(tmp_path, capsys):
    with pytest.raises(SystemExit):
        experiments.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in TECHNIQUE_VARIANTS:
        assert name in help_text
    data = make_dataset(tmp_path / "data", n_train=1, n_eval=1)
    config = write_config(tmp_path / "c.yaml", tiny_config())
    names = ["baseline", "speed_perturb", "noise_augment", "checkpoint_average"]
    variants = experiments.resolve_variants(names, {}, config, data, tmp_path, [], explicit=True)
    assert [v.name for v in variants] == names
    assert variants[3].overrides == {"recipe.checkpoint_average": 3, "training.save_total_limit": 4}
    # focal_loss and class_weights train on the split before balancing: a clear error without it
    with pytest.raises(experiments.VariantError, match="train_unbalanced"):
        experiments.resolve_variants(["focal_loss"], {}, config, data, tmp_path, [], explicit=True)
