"""Speaker normalisation: training batches and grouped inference compute the same thing, a lone clip uses the
training set's running statistics, batches are speaker-grouped, and the classical baseline gets the same option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

from recipe import SERForAudioClassification
from recipe.components.collator import AudioClassificationCollator
from recipe.components.speaker_norm import (
    SpeakerGroupedSampler,
    grouped_probabilities,
    groups_from_paths,
    standardise_features_by_speaker,
)
from recipe.train import main as train_main
from tests.support.tiny_models import save_tiny_ser_model
from tests.support.train_helpers import make_dataset, tiny_config, write_config

SR = 16000
EPS = 1e-5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny SER model with speaker_norm on and non-trivial running statistics."""
    folder = Path(save_tiny_ser_model(tmp_path_factory.mktemp("sn") / "plain", seed=3))
    model = SERForAudioClassification.from_pretrained(str(folder))
    model.enable_speaker_norm()
    generator = torch.Generator().manual_seed(0)
    model.speaker_norm_mean.copy_(0.1 * torch.randn(model.config.hidden_size, generator=generator))
    model.speaker_norm_var.copy_(0.5 + torch.rand(model.config.hidden_size, generator=generator))
    out = folder.parent / "speaker_norm"
    model.save_pretrained(str(out))
    AutoFeatureExtractor.from_pretrained(str(folder)).save_pretrained(str(out))
    return str(out)


def _waves(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.6 * SR)) / SR  # equal lengths: no padding in a batch (group-norm encoder)
    return [
        (0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
        for _ in range(n)
    ]


def _head(model: SERForAudioClassification, normalised: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = model.classifier(model.head(torch.from_numpy(normalised).float()))
    return torch.softmax(logits, dim=-1).numpy()


def test_training_batch_and_grouped_inference_agree(model_dir: str) -> None:
    model = SERForAudioClassification.from_pretrained(model_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    waves = _waves(5, seed=1)
    speakers = ["a", "b", "a", "a", "b"]
    # the training path: a collated batch with the speakers' ids, through forward()
    collator = AudioClassificationCollator(extractor, speaker_column="speaker")
    batch = collator([{"audio": w, "label": 0, "speaker": s} for w, s in zip(waves, speakers)])
    assert batch["speaker_ids"].tolist() == [0, 1, 0, 0, 1]
    with torch.no_grad():
        train_probs = torch.softmax(model(**{k: v for k, v in batch.items() if k != "labels"}).logits, -1).numpy()
    # the inference path: embeddings first, then each speaker's statistics over all of its clips
    infer_probs = grouped_probabilities(model, extractor, waves, speakers, batch_size=2)
    assert infer_probs == pytest.approx(train_probs, abs=1e-5)
    # by hand: numpy mean / biased variance per speaker
    with torch.no_grad():
        pooled, _ = model.pooled_embeddings(batch["input_values"])
    pooled = pooled.numpy().astype(np.float64)
    expected = np.zeros_like(pooled)
    for s in ("a", "b"):
        rows = [i for i, x in enumerate(speakers) if x == s]
        expected[rows] = (pooled[rows] - pooled[rows].mean(0)) / np.sqrt(pooled[rows].var(0) + EPS)
    assert infer_probs == pytest.approx(_head(model, expected), abs=1e-5)


def test_single_clip_uses_the_training_running_statistics(model_dir: str) -> None:
    model = SERForAudioClassification.from_pretrained(model_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    (clip,) = _waves(1, seed=2)
    classifier = pipeline("audio-classification", model=model_dir, device="cpu")
    got = {item["label"]: item["score"] for item in classifier(clip, top_k=None)}
    with torch.no_grad():
        pooled, _ = model.pooled_embeddings(extractor(clip, sampling_rate=SR, return_tensors="pt")["input_values"])
    mean, var = model.speaker_norm_mean.numpy(), model.speaker_norm_var.numpy()
    assert var.min() > 0.5 and abs(mean).max() > 0  # the saved running statistics, not fresh ones (0 and 1)
    want = _head(model, (pooled.numpy() - mean) / np.sqrt(var + EPS))[0]
    assert [got[model.config.id2label[i]] for i in range(len(want))] == pytest.approx(want.tolist(), abs=1e-5)
    # a speaker with one clip among others falls back the same way
    grouped = grouped_probabilities(model, extractor, [clip, *_waves(2, seed=3)], ["solo", "x", "x"])
    assert grouped[0] == pytest.approx(want, abs=1e-5)


def test_sampler_fills_batches_with_few_speakers_seeded_by_epoch() -> None:
    speakers = [f"s{i % 3}" for i in range(24)]  # 8 clips each
    sampler = SpeakerGroupedSampler(speakers, clips_per_speaker=4, seed=7)
    order = list(sampler)
    assert sorted(order) == list(range(24))
    for start in range(0, 24, 4):  # every group of 4 consecutive indices is one speaker
        assert len({speakers[i] for i in order[start : start + 4]}) == 1
    assert list(sampler) == order
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_groups_from_paths_by_folder_or_regex(tmp_path: Path) -> None:
    paths = [tmp_path / "spk1" / "a.wav", tmp_path / "spk1" / "b.wav", tmp_path / "spk2" / "c.wav"]
    by_folder = groups_from_paths(paths)
    assert by_folder[0] == by_folder[1] != by_folder[2]
    names = ["x/SM1_F1_A01.wav", "y/SM1_F2_H01.wav", "x/SF2_F1_A01.wav", "x/other.wav"]
    groups = groups_from_paths(names, r"(?P<speaker>S[MF]\d+)_")
    assert groups[:3] == ["SM1", "SM1", "SF2"] and groups[3] not in groups[:3]


def test_baseline_features_standardised_per_speaker_by_hand() -> None:
    features = np.array([[1.0, 10.0], [3.0, 14.0], [5.0, 0.0], [7.0, 2.0], [9.0, 9.0], [3.0, 14.0]])
    speakers = ["a", "a", "b", "b", "c", "a"]
    keys = ["p0", "p1", "p2", "p3", "p4", "p1"]  # the last row is a balancing copy of p1: counted once
    out = standardise_features_by_speaker(features, speakers, keys, np.array([5.0, 5.0]), np.array([2.0, 5.0]))
    # a: mean (2, 12), std (1, 2); b: mean (6, 1), std (1, 1); c alone: fallback (x - 5) / (2, 5)
    expected = np.array([[-1, -1], [1, 1], [-1, -1], [1, 1], [2, 0.8], [1, 1]])
    assert out == pytest.approx(expected, abs=1e-6)


def test_tiny_training_run_with_speaker_norm(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", n_train=4, n_eval=2)
    cfg = tiny_config(model={"speaker_norm": True, "speaker_norm_clips": 2}, training={"num_train_epochs": 1})
    out = tmp_path / "out"
    assert (
        train_main(["--config", write_config(tmp_path / "c.yaml", cfg), "--data", data, "--output_dir", str(out)]) == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["speaker_norm"] is True
    weights = load_file(str(out / "model.safetensors"))
    assert weights["speaker_norm_var"].shape == (config["encoder_config"]["hidden_size"],)
    assert not torch.equal(weights["speaker_norm_mean"], torch.zeros_like(weights["speaker_norm_mean"]))


def test_ensemble_with_a_speaker_norm_member_groups_that_member(model_dir: str, tmp_path: Path) -> None:
    from recipe.components.ensemble import build_ensemble
    from recipe.components.inference import classify_waves

    plain = save_tiny_ser_model(tmp_path / "plain", seed=5)
    folder = build_ensemble([model_dir, plain], tmp_path / "ens")
    ensemble = AutoModelForAudioClassification.from_pretrained(str(folder)).eval()
    extractor = AutoFeatureExtractor.from_pretrained(str(folder))
    waves, speakers = _waves(4, seed=9), ["a", "a", "b", "b"]
    want = (
        grouped_probabilities(SERForAudioClassification.from_pretrained(model_dir).eval(), extractor, waves, speakers)
        + classify_waves(SERForAudioClassification.from_pretrained(plain).eval(), extractor, waves)
    ) / 2
    assert grouped_probabilities(ensemble, extractor, waves, speakers) == pytest.approx(want, abs=1e-5)
