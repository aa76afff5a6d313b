"""Encoder freezing/unfreezing (bit-for-bit), early stopping and per-epoch train accuracy, on tiny training runs."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from recipe import SERConfig, SERForAudioClassification
from recipe.components.trainer import SERTrainer
from recipe.train import main
from tests.support.train_helpers import make_dataset, tiny_config, tiny_encoder_config, write_config


class Snapshots(TrainerCallback):
    """Copies of the model's parameters at train begin and at the end of every epoch; the optimizer's params."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []
        self.optimizer_param_ids: set[int] = set()
        self.model_param_ids: set[int] = set()

    def _grab(self, model) -> None:
        self.states.append({k: v.detach().clone() for k, v in model.named_parameters()})

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        self._grab(model)
        self.optimizer_param_ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
        self.model_param_ids = {id(p) for p in model.parameters()}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self._grab(model)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str) -> bool:
    keys = [k for k in a if k.startswith(prefix)]
    assert keys, prefix
    return all(torch.equal(a[k], b[k]) for k in keys)


@pytest.mark.slow  # trains 3 epochs
def test_encoder_frozen_bit_for_bit_then_trained(tmp_path, tiny_encoder):
    encoder_dir = tiny_encoder
    data = make_dataset(tmp_path / "data")
    cfg = tiny_config(
        model={
            "from_scratch": False,
            "encoder": encoder_dir,
            "encoder_config": {"mask_time_prob": 0.0},
            "freeze_feature_encoder": True,
        },
        recipe={"freeze_encoder_epochs": 2, "mixup_alpha": 0.3},
        training={
            "num_train_epochs": 3,
            "weight_decay": 0.1,
            "learning_rate": 1e-2,
            "save_strategy": "no",
            "load_best_model_at_end": False,
        },
    )
    snaps = Snapshots()
    out = tmp_path / "out"
    rc = main(
        ["--config", write_config(tmp_path / "c.yaml", cfg), "--data", data, "--output_dir", str(out)],
        extra_callbacks=[snaps],
    )
    assert rc == 0
    assert snaps.model_param_ids <= snaps.optimizer_param_ids, "optimizer must hold every parameter"
    initial, epoch1, epoch2, epoch3 = snaps.states
    # Frozen epochs: the whole encoder is bit-for-bit unchanged (no update, no weight decay) while the head trains.
    for frozen in (epoch1, epoch2):
        assert _same(initial, frozen, "encoder.")
    assert not _same(initial, epoch1, "classifier.") and not _same(epoch1, epoch2, "head.")
    # After unfreezing at epoch 2: the transformer encoder trains; the CNN stays frozen (freeze_feature_encoder).
    assert not _same(epoch2, epoch3, "encoder.encoder.layers.")
    assert not _same(epoch2, epoch3, "encoder.feature_projection.")
    assert _same(initial, epoch3, "encoder.feature_extractor.")
    run_info = json.loads((out / "run_info.json").read_text())
    assert run_info["unfreeze_epoch"] == 2 and run_info["freeze_encoder_epochs"] == 2
    # One train-accuracy entry per epoch, in trainer_state.json's log_history.
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    train_entries = [e for e in history if "train_accuracy" in e]
    assert [round(e["epoch"]) for e in train_entries] == [1, 2, 3]
    assert all(0.0 <= e["train_accuracy"] <= 1.0 and e["train_loss"] > 0 for e in train_entries)
    assert len([e for e in history if "eval_uar" in e]) == 3


def test_stock_optimizer_would_drop_frozen_encoder(tmp_path):
    """Why SERTrainer.create_optimizer exists: the stock one keeps only parameters requiring grad at creation."""
    model = SERForAudioClassification(SERConfig(encoder_config=tiny_encoder_config(), head_sizes=[8]))
    model.freeze_encoder()
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, weight_decay=0.1)
    encoder_ids = {id(p) for p in model.encoder.parameters()}

    def optimizer_ids(trainer_cls):
        trainer = trainer_cls(model=model, args=args)
        return {id(p) for g in trainer.create_optimizer().param_groups for p in g["params"]}

    assert not encoder_ids & optimizer_ids(Trainer)
    ours = optimizer_ids(SERTrainer)
    assert encoder_ids <= ours
    assert all(not p.requires_grad for p in model.encoder.parameters()), "flags restored after creation"


@pytest.mark.slow  # trains until early stopping
def test_early_stopping_stops(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=3, n_eval=2)
    # learning_rate 1e-12 (0 is refused as a config error): the weights barely move, validation UAR cannot
    # improve, so patience 2 stops after the 3rd evaluation.
    cfg = tiny_config(
        recipe={"early_stopping_patience": 2},
        training={"num_train_epochs": 8, "learning_rate": 1e-12, "save_strategy": "epoch"},
    )
    out = tmp_path / "out"
    rc = main(["--config", write_config(tmp_path / "c.yaml", cfg), "--data", data, "--output_dir", str(out)])
    assert rc == 0
    run_info = json.loads((out / "run_info.json").read_text())
    assert run_info["epochs_run"] == 3.0
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert len([e for e in history if "eval_uar" in e]) == 3
