"""Per-class waveform augmentation: which clips change and how (lengths, SNR), determinism, global RNGs untouched,
and the training batch path (lengths from the collator, eval batches left alone)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from transformers import TrainingArguments

from recipe.components.augment import BatchAugmenter, WaveAugmenter, class_probabilities
from recipe.components.collator import AudioClassificationCollator
from recipe.components.config import ConfigError, load_config
from recipe.components.trainer import SERTrainer
from recipe.modeling import SERFeatureExtractor
from tests.recipe.test_trainer import _LinearStub

NAMES = ["anger", "fear", "happy"]
SR = 16000


def _tone(seconds: float = 1.0, freq: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_class_probabilities_default_and_named_classes():
    assert class_probabilities({"default": 0.2, "fear": 1.0}, NAMES, "k").tolist() == [0.2, 1.0, 0.2]
    assert class_probabilities({"happy": 0.5}, NAMES, "k").tolist() == [0.0, 0.0, 0.5]
    with pytest.raises(ConfigError, match="recipe.speed_perturb.*'joy'"):
        class_probabilities({"joy": 1.0}, NAMES, "recipe.speed_perturb")


def test_speed_perturbation_changes_length_by_the_factor_only_for_targeted_classes():
    wave = _tone()
    faster = WaveAugmenter(NAMES, SR, speed_perturb={"fear": 1.0}, speed_factors=[1.1])
    out = faster([wave, wave], [1, 0], seed=3)
    # 1.1 x faster: resampled to round(16000 / 1.1) = 14545 Hz, read back at 16 kHz
    assert len(out[0]) == 14545
    assert np.array_equal(out[1], wave)  # anger: probability 0
    slower = WaveAugmenter(NAMES, SR, speed_perturb={"default": 1.0}, speed_factors=[0.9])
    assert len(slower([wave], [2], seed=3)[0]) == 17778  # round(16000 / 0.9)
    identity = WaveAugmenter(NAMES, SR, speed_perturb={"default": 1.0}, speed_factors=[1.0])
    assert np.array_equal(identity([wave], [0], seed=3)[0], wave)


def test_noise_is_added_at_the_drawn_snr():
    wave = _tone(2.0)
    aug = WaveAugmenter(NAMES, SR, noise_augment={"default": 1.0}, noise_snr_db=[10.0, 10.0])
    noisy = aug([wave], [0], seed=5)[0]
    noise = noisy - wave
    snr = 10 * np.log10(np.mean(wave**2) / np.mean(noise**2))
    assert snr == pytest.approx(10.0, abs=0.3)
    assert noisy.dtype == np.float32 and noisy.shape == wave.shape


def test_same_seed_same_clips_and_global_generators_untouched():
    aug = WaveAugmenter(NAMES, SR, speed_perturb={"default": 0.5}, noise_augment={"default": 0.5})
    waves = [_tone(0.5, f) for f in (200, 300, 400, 500)]
    labels = [0, 1, 2, 0]
    random.seed(11)
    np.random.seed(11)
    expected_py, expected_np = random.random(), np.random.random()
    random.seed(11)
    np.random.seed(11)
    first = aug(waves, labels, seed=7)
    assert (random.random(), np.random.random()) == (expected_py, expected_np)
    second = aug(waves, labels, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    other = aug(waves, labels, seed=8)
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_augmentation_config_keys_are_checked():
    cfg = load_config(None, ["--recipe.speed_perturb", "{default: 0.5, fear: 1.0}", "--noise_snr_db", "3", "9"])
    assert cfg.recipe.speed_perturb == {"default": 0.5, "fear": 1.0} and cfg.recipe.noise_snr_db == [3.0, 9.0]
    with pytest.raises(ConfigError, match="speed_perturb"):
        load_config(None, ["--recipe.speed_perturb", "{fear: 1.5}"])
    with pytest.raises(ConfigError, match="noise_snr_db"):
        load_config(None, ["--recipe.noise_snr_db", "20", "5"])
    assert load_config(None).recipe.speed_perturb == {} and load_config(None).recipe.noise_augment == {}


class _Recorder:
    def __init__(self, inner: BatchAugmenter) -> None:
        self.inner, self.calls = inner, []

    def __call__(self, inputs, labels, seed):
        self.calls.append(seed)
        return self.inner(inputs, labels, seed)


def test_training_batches_are_augmented_and_evaluation_batches_are_not(tmp_path):
    fe = SERFeatureExtractor(return_attention_mask=True, max_duration=1.0)
    collator = AudioClassificationCollator(fe, return_lengths=True)
    rows = [{"audio": _tone(0.5, 300), "label": 1}, {"audio": _tone(0.25, 500), "label": 0}]
    batch = collator(rows)
    assert batch["lengths"].tolist() == [8000, 4000] and batch["input_values"].shape == (2, 8000)
    augmenter = _Recorder(
        BatchAugmenter(WaveAugmenter(NAMES, SR, speed_perturb={"fear": 1.0}, speed_factors=[1.1]), collator)
    )
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    stub = _LinearStub()
    trainer = SERTrainer(model=stub, args=args, augmenter=augmenter)
    stub.train()
    trainer.compute_loss(stub, dict(batch))
    seen = stub.seen[-1]
    # fear clip 8000 -> round(8000 * 14545 / 16000) = 7273 samples: the batch is padded to that, mask follows
    assert seen["input_values"].shape == (2, 7273)
    assert seen["attention_mask"].sum(-1).tolist() == [7273, 4000]
    assert len(augmenter.calls) == 1
    stub.eval()
    trainer.compute_loss(stub, dict(batch))
    assert torch.equal(stub.seen[-1]["input_values"], batch["input_values"]) and len(augmenter.calls) == 1
