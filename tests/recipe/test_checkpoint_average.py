"""Checkpoint averaging: which checkpoints, and their mean weights (hand values)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from recipe.components.checkpoint_average import average_checkpoints, average_state_dicts, last_checkpoints
from recipe.components.config import ConfigError, load_config


def test_average_state_dicts_hand_values():
    a = {"w": torch.tensor([1.0, 2.0]), "h": torch.tensor([0.5], dtype=torch.bfloat16), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "h": torch.tensor([1.5], dtype=torch.bfloat16), "n": torch.tensor(7)}
    c = {"w": torch.tensor([5.0, 1.0]), "h": torch.tensor([1.0], dtype=torch.bfloat16), "n": torch.tensor(9)}
    out = average_state_dicts([a, b, c])
    assert out["w"].tolist() == [3.0, 3.0]
    assert out["h"].dtype == torch.bfloat16 and out["h"].item() == 1.0
    assert out["n"].item() == 9  # integer buffers: the newest
    with pytest.raises(ValueError, match="different keys"):
        average_state_dicts([a, {"w": a["w"]}])


def test_last_checkpoints_are_the_newest_by_step_with_weights(tmp_path):
    for step, value in ((2, 1.0), (10, 3.0), (4, 2.0)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        save_file(
            {"weight": torch.full((2, 2), value), "bias": torch.zeros(2)},
            tmp_path / f"checkpoint-{step}/model.safetensors",
        )
    (tmp_path / "checkpoint-12").mkdir()  # no weights (a damaged save): not a candidate
    chosen = last_checkpoints(tmp_path, 2)
    assert [c.name for c in chosen] == ["checkpoint-4", "checkpoint-10"]  # numeric order, not "10" < "4"
    layer = torch.nn.Linear(2, 2)
    average_checkpoints(layer, chosen)
    assert layer.weight.tolist() == [[2.5, 2.5], [2.5, 2.5]]


def test_checkpoint_average_needs_the_checkpoints_kept():
    assert load_config(None, ["--checkpoint_average", "3", "--save_total_limit", "4"]).recipe.checkpoint_average == 3
    with pytest.raises(ConfigError, match="save_total_limit >= 4"):
        load_config(None, ["--checkpoint_average", "3", "--save_total_limit", "2"])
    with pytest.raises(ConfigError, match="checkpoint_average"):
        load_config(None, ["--checkpoint_average", "-1"])
    assert load_config(None).recipe.checkpoint_average == 0
