"""Focal loss and class weights against hand-computed values, alone and composed with label smoothing and mixup."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import TrainingArguments

from recipe.components.config import ConfigError, load_config
from recipe.components.losses import inverse_frequency_weights, soft_target_loss
from recipe.components.trainer import SERTrainer
from tests.recipe.test_trainer import _LinearStub

LN3 = math.log(3.0)  # logits [0, ln 3] -> p = [0.25, 0.75]


def test_focal_loss_hand_values():
    logits = torch.tensor([[0.0, LN3]])
    # one-hot class 1, gamma 2: -(1 - 0.75)^2 ln 0.75 = 0.0625 * 0.2876821
    assert soft_target_loss(logits, torch.tensor([[0.0, 1.0]]), 0.0, gamma=2.0).item() == pytest.approx(
        0.0179801, abs=1e-6
    )
    # label smoothing 0.2 first: targets [0.1, 0.9]; 0.1 * 0.75^2 * ln 4 + 0.9 * 0.25^2 * (-ln 0.75)
    assert soft_target_loss(logits, torch.tensor([[0.0, 1.0]]), 0.2, gamma=2.0).item() == pytest.approx(
        0.0941611, abs=1e-6
    )
    # mixup soft targets [0.6, 0.4], gamma 1: 0.6 * 0.75 * ln 4 + 0.4 * 0.25 * (-ln 0.75)
    assert soft_target_loss(logits, torch.tensor([[0.6, 0.4]]), 0.0, gamma=1.0).item() == pytest.approx(
        0.6526007, abs=1e-6
    )
    # batch mean: row 2 has logits [0, 0] (p = 0.5) and class 0: 0.5^2 * ln 2 = 0.1732868
    batch = soft_target_loss(
        torch.tensor([[0.0, LN3], [0.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 0.0, gamma=2.0
    )
    assert batch.item() == pytest.approx((0.0179801 + 0.1732868) / 2, abs=1e-6)


def test_class_weights_hand_values_and_gamma_zero_is_cross_entropy():
    logits = torch.tensor([[0.0, LN3]])
    weights = torch.tensor([2.0, 0.5])
    # weight of the target class times -ln 0.75
    assert soft_target_loss(logits, torch.tensor([[0.0, 1.0]]), 0.0, 0.0, weights).item() == pytest.approx(
        0.5 * 0.2876821, abs=1e-6
    )
    # focal and weights together: 0.5 * 0.0625 * 0.2876821
    assert soft_target_loss(logits, torch.tensor([[0.0, 1.0]]), 0.0, 2.0, weights).item() == pytest.approx(
        0.5 * 0.0179801, abs=1e-6
    )
    # gamma 0 is the plain label-smoothed cross-entropy: 0.1 * ln 4 + 0.9 * (-ln 0.75)
    assert soft_target_loss(logits, torch.tensor([[0.0, 1.0]]), 0.2).item() == pytest.approx(0.3975433, abs=1e-6)


def test_loss_is_float32_under_bf16_logits():
    logits = torch.tensor([[0.0, LN3]], dtype=torch.bfloat16)
    loss = soft_target_loss(logits, torch.tensor([[0.0, 1.0]]), 0.0, gamma=2.0)
    assert loss.dtype == torch.float32


def test_inverse_frequency_weights_hand_values():
    # counts [3, 1, 0], N = 4, C = 3: 4 / (3 * 3), 4 / (3 * 1), and 0 for the absent class
    weights = inverse_frequency_weights([0, 0, 0, 1], 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])
    with pytest.raises(ValueError):
        inverse_frequency_weights([], 3)


def test_trainer_composes_focal_weights_mixup_and_smoothing(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    weights = torch.tensor([1.0, 2.0, 0.5])
    trainer = SERTrainer(
        model=_LinearStub(), args=args, mixup_alpha=0.3, label_smoothing=0.1, focal_gamma=2.0, class_weights=weights
    )
    trainer.sample_mixup = lambda batch_size: (0.7, torch.tensor([1, 0]))
    trainer.model.train()
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])
    loss = trainer.compute_loss(trainer.model, {"input_values": x, "labels": torch.tensor([0, 2])})
    # mixed logits (see test_trainer): (1.9, 2.6, -0.7) and (3.1, 3.5, -0.4); targets (0.7, 0, 0.3), (0.3, 0, 0.7)
    # smoothed: t * 0.9 + 0.1 / 3; loss row = -sum_c w_c t_c (1 - p_c)^2 ln p_c, mean of the rows
    expected = 0.0
    for logits, target in (([1.9, 2.6, -0.7], [0.7, 0.0, 0.3]), ([3.1, 3.5, -0.4], [0.3, 0.0, 0.7])):
        z = sum(math.exp(v) for v in logits)
        for c in range(3):
            p = math.exp(logits[c]) / z
            t = target[c] * 0.9 + 0.1 / 3
            expected -= weights[c].item() * t * (1 - p) ** 2 * math.log(p) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    # evaluation stays plain cross-entropy (unweighted, unsmoothed)
    trainer.model.eval()
    eval_loss = trainer.compute_loss(trainer.model, {"input_values": x, "labels": torch.tensor([0, 2])})
    plain = torch.nn.functional.cross_entropy(torch.tensor([[1.0, 2.0, -1.0], [4.0, 5.0, -1.0]]), torch.tensor([0, 2]))
    assert eval_loss.item() == pytest.approx(plain.item(), abs=1e-6)


def test_loss_config_keys_are_checked():
    cfg = load_config(
        None, ["--recipe.loss", "focal", "--recipe.focal_gamma", "1.5", "--class_weights", "inverse_frequency"]
    )
    assert (cfg.recipe.loss, cfg.recipe.focal_gamma, cfg.recipe.class_weights) == ("focal", 1.5, "inverse_frequency")
    with pytest.raises(ConfigError, match="focal_gamma"):
        load_config(None, ["--recipe.focal_gamma", "-1"])
    with pytest.raises((ConfigError, SystemExit)):
        load_config(None, ["--recipe.loss", "hinge"])
    default = load_config(None)
    assert (default.recipe.loss, default.recipe.class_weights) == ("cross_entropy", "none")
