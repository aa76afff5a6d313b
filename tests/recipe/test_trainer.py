"""SERTrainer losses (mixup, label smoothing) against hand-computed values; metrics; collator; grad accumulation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import TrainingArguments
from transformers.modeling_outputs import SequenceClassifierOutput

from recipe.components.collator import AudioClassificationCollator
from recipe.components.metrics import classification_metrics
from recipe.components.trainer import EpochTrainStats, SERTrainer, mixup_batch, soft_target_loss
from recipe.modeling.feature_extraction_ser import SERFeatureExtractor


def test_mixup_batch_hand_values():
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    labels = torch.tensor([0, 2])
    mixed = mixup_batch(x, mask, labels, num_classes=3, lam=0.7, permutation=torch.tensor([1, 0]))
    # row 0 = 0.7*[1,2,0] + 0.3*[3,4,5]; row 1 = 0.7*[3,4,5] + 0.3*[1,2,0]
    assert torch.allclose(mixed.input_values, torch.tensor([[1.6, 2.6, 1.5], [2.4, 3.4, 3.5]]))
    assert mixed.attention_mask.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert torch.allclose(mixed.targets, torch.tensor([[0.7, 0.0, 0.3], [0.3, 0.0, 0.7]]))
    assert mixed.dominant_labels.tolist() == [0, 2]
    flipped = mixup_batch(x, None, labels, num_classes=3, lam=0.2, permutation=torch.tensor([1, 0]))
    assert flipped.attention_mask is None
    assert flipped.dominant_labels.tolist() == [2, 0]


def _hand_loss(logits: list[list[float]], targets: list[list[float]], eps: float) -> float:
    """-mean_i sum_c q_ic log softmax(z_i)_c with q = t (1 - eps) + eps / C, in plain Python."""
    total = 0.0
    for z, t in zip(logits, targets):
        c = len(z)
        log_norm = math.log(sum(math.exp(v) for v in z))
        total += -sum((tc * (1 - eps) + eps / c) * (zc - log_norm) for zc, tc in zip(z, t))
    return total / len(logits)


def test_soft_target_loss_matches_hand_computation():
    logits = [[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]]
    targets = [[0.7, 0.0, 0.3], [0.0, 1.0, 0.0]]
    for eps in (0.0, 0.1):
        got = soft_target_loss(torch.tensor(logits), torch.tensor(targets), eps).item()
        assert got == pytest.approx(_hand_loss(logits, targets, eps), abs=1e-6)
    # A concrete number, worked out by hand for row 2 alone with eps = 0.1:
    # log-sum-exp(0.5, 1.5, 0) = 1.5 + log(1 + e^-1 + e^-1.5) = 1.5 + log(1.591009) = 1.964369
    # q = (0.0333.., 0.9333.., 0.0333..) -> loss = 1.964369 - (0.0333*0.5 + 0.9333*1.5 + 0) = 0.547702
    assert soft_target_loss(torch.tensor([logits[1]]), torch.tensor([targets[1]]), 0.1).item() == pytest.approx(
        0.547702, abs=1e-5
    )


class _LinearStub(nn.Module):
    """logits = W @ [mean(x), max(x)] — records the inputs it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(num_labels=3)
        self.proj = nn.Linear(2, 3)
        with torch.no_grad():
            self.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
            self.proj.bias.zero_()
        self.seen: list[dict[str, torch.Tensor]] = []

    def forward(self, input_values, attention_mask=None, labels=None):
        self.seen.append({"input_values": input_values.detach().clone(), "attention_mask": attention_mask})
        feats = torch.stack([input_values.mean(-1), input_values.max(-1).values], dim=-1)
        return SequenceClassifierOutput(logits=self.proj(feats))


def _stub_trainer(tmp_path, alpha: float, eps: float) -> SERTrainer:
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    return SERTrainer(model=_LinearStub(), args=args, mixup_alpha=alpha, label_smoothing=eps)


def test_compute_loss_train_mixup_and_eval_plain(tmp_path):
    trainer = _stub_trainer(tmp_path, alpha=0.3, eps=0.1)
    trainer.sample_mixup = lambda batch_size: (0.7, torch.tensor([1, 0]))
    model = trainer.model
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])
    inputs = {"input_values": x, "labels": torch.tensor([0, 2])}

    model.train()
    loss = trainer.compute_loss(model, inputs)
    mixed_x = model.seen[-1]["input_values"]
    assert torch.allclose(mixed_x, torch.tensor([[1.6, 2.6, 1.5], [2.4, 3.4, 3.5]]))
    # logits by hand: feats row0 = (mean 1.9, max 2.6) -> (1.9, 2.6, -0.7); row1 = (3.1, 3.5) -> (3.1, 3.5, -0.4)
    expected = _hand_loss([[1.9, 2.6, -0.7], [3.1, 3.5, -0.4]], [[0.7, 0.0, 0.3], [0.3, 0.0, 0.7]], 0.1)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    assert "labels" in inputs  # the caller's batch is not mutated

    model.eval()
    eval_loss = trainer.compute_loss(model, inputs)
    # plain CE on the original inputs: row0 feats (1, 2) -> logits (1, 2, -1), label 0;
    # row1 (4, 5) -> (4, 5, -1), label 2
    expected_eval = _hand_loss([[1.0, 2.0, -1.0], [4.0, 5.0, -1.0]], [[1, 0, 0], [0, 0, 1]], 0.0)
    assert eval_loss.item() == pytest.approx(expected_eval, abs=1e-5)
    assert torch.equal(model.seen[-1]["input_values"], x)


def test_compute_loss_without_mixup_is_smoothed_ce(tmp_path):
    trainer = _stub_trainer(tmp_path, alpha=0.0, eps=0.1)
    model = trainer.model
    model.train()
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])
    loss = trainer.compute_loss(model, {"input_values": x, "labels": torch.tensor([0, 2])})
    expected = torch.nn.functional.cross_entropy(
        torch.tensor([[1.0, 2.0, -1.0], [4.0, 5.0, -1.0]]), torch.tensor([0, 2]), label_smoothing=0.1
    )
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_epoch_train_stats():
    stats = EpochTrainStats()
    stats.update(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]), torch.tensor(1.0))
    stats.update(torch.tensor([[0.0, 3.0]]), torch.tensor([1]), torch.tensor(4.0))
    out = stats.pop()
    assert out["train_accuracy"] == pytest.approx(2 / 3)
    assert out["train_loss"] == pytest.approx((1.0 * 2 + 4.0 * 1) / 3)
    assert stats.pop() is None


def test_classification_metrics_hand_values():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["uar"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    # F1: class 0 p=1/2 r=1/2 -> 0.5; class 1 p=2/3 r=1 -> 0.8; class 2 -> 0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 1]), np.array([0]))


def _rows(lengths):
    rng = np.random.default_rng(0)
    return [{"audio": rng.standard_normal(n).astype(np.float32), "label": i % 6} for i, n in enumerate(lengths)]


def test_collator_pads_per_batch_with_zeros():
    fe = SERFeatureExtractor(max_duration=1.0)
    batch = AudioClassificationCollator(fe)(_rows([1000, 1600, 400]))
    assert batch["input_values"].shape == (3, 1600)
    assert "attention_mask" not in batch  # group-norm encoder: no mask
    assert torch.all(batch["input_values"][0, 1000:] == 0) and torch.all(batch["input_values"][2, 400:] == 0)
    # each clip normalised on its own, before padding
    assert batch["input_values"][0, :1000].mean().abs() < 1e-4
    assert batch["labels"].tolist() == [0, 1, 2]


def test_collator_attention_mask_multiple_of_and_naive_padding():
    fe = SERFeatureExtractor(max_duration=0.5, return_attention_mask=True)
    batch = AudioClassificationCollator(fe, pad_to_multiple_of=320)(_rows([1000, 700]))
    assert batch["input_values"].shape == (2, 1280)
    assert batch["attention_mask"].sum(-1).tolist() == [1000, 700]
    naive = AudioClassificationCollator(fe, naive_padding=True)(_rows([1000, 9000]))
    assert naive["input_values"].shape == (2, 8000)  # every clip padded (or centre-cropped) to max_duration
    assert naive["attention_mask"].sum(-1).tolist() == [1000, 8000]
    with pytest.raises(ValueError, match="non-empty 1-D"):
        AudioClassificationCollator(fe)([{"audio": np.zeros(0, np.float32), "label": 0}])


def _weights_after_one_step(tmp_path, name: str, batch_size: int, accumulation: int) -> dict[str, torch.Tensor]:
    from datasets import Dataset

    from recipe import SERConfig, SERForAudioClassification
    from tests.support.train_helpers import make_split, tiny_encoder_config

    # 8 clips of equal length, so every micro-batch pads identically (group-norm encoder, no mask).
    ds: Dataset = make_split(2, seed=3, min_s=0.4, max_s=0.4).select(range(8)).select_columns(["audio", "label"])
    ds.set_format("numpy")
    torch.manual_seed(0)
    model = SERForAudioClassification(
        SERConfig(encoder_config=tiny_encoder_config(no_dropout=True), head_sizes=[16], head_dropout=0.0)
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / name),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        learning_rate=0.5,
        optim="sgd",
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=0.0,
        train_sampling_strategy="sequential",
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=True,
        remove_unused_columns=False,
        disable_tqdm=True,
        seed=0,
    )
    trainer = SERTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        data_collator=AudioClassificationCollator(SERFeatureExtractor(max_duration=1.0)),
        mixup_alpha=0.0,
        label_smoothing=0.1,
    )
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.train()
    assert trainer.state.global_step == 1
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert any(not torch.equal(initial[k], final[k]) for k in final), "the step changed nothing"
    return final


@pytest.mark.slow  # three Trainer.train() runs
def test_gradient_accumulation_matches_full_batch(tmp_path):
    """One optimizer step on 8 clips: batch 8, 4x2 accumulated and 2x4 accumulated give the same weights."""
    full = _weights_after_one_step(tmp_path, "full", 8, 1)
    for bs, ga in ((4, 2), (2, 4)):
        accumulated = _weights_after_one_step(tmp_path, f"ga{ga}", bs, ga)
        for key in full:
            assert torch.allclose(full[key], accumulated[key], atol=1e-5, rtol=1e-4), (bs, ga, key)


def test_length_grouped_sampler_is_seeded_by_epoch():
    from recipe.components.trainer import EpochSeededLengthGroupedSampler

    lengths = list(np.random.default_rng(0).integers(1000, 9000, size=200))
    a, b = EpochSeededLengthGroupedSampler(4, lengths, seed=7), EpochSeededLengthGroupedSampler(4, lengths, seed=7)
    torch.manual_seed(1)
    first = list(a)
    torch.manual_seed(2)  # the global RNG (different on every DDP process) plays no part
    assert list(b) == first and list(a) == first and sorted(first) == list(range(200))
    a.set_epoch(1)
    assert list(a) != first

    # Batches of 4 taken in sampler order hold clips of similar length, so little of each padded batch is padding:
    # real/padded samples 0.94 for this seed, against 0.68-0.70 for random orders of the same clips.
    def real_over_padded(order: list[int]) -> float:
        batches = [order[i : i + 4] for i in range(0, len(order), 4)]
        return sum(lengths[i] for i in order) / sum(4 * max(lengths[i] for i in batch) for batch in batches)

    random_orders = [list(np.random.default_rng(seed).permutation(200)) for seed in range(3)]
    assert real_over_padded(first) > 0.9 > 0.75 > max(real_over_padded(order) for order in random_orders)


def test_eval_batches_are_sorted_by_length(tmp_path):
    from datasets import Dataset

    trainer = _stub_trainer(tmp_path, alpha=0.0, eps=0.0)
    ds = Dataset.from_dict({"length": [5, 9, 1, 7], "label": [0, 1, 2, 0]})
    assert list(trainer._get_eval_sampler(ds)) == [1, 3, 0, 2]
