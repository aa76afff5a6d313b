"""One batching rule for every consumer: a group-norm encoder (no attention mask) never sees padding, so its
answers do not depend on the batch mates; a layer-norm encoder (masked) gets padded, length-sorted batches."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from recipe.components.inference import batch_probabilities, plan_batches
from recipe.components.model_io import load_model
from recipe.components.onnx_export import synthetic_waves
from recipe.predict import build_parser, main
from tests.support.tiny_models import save_tiny_ser_model

SR = 16000
# Mixed lengths as in real use: several short clips, two of the same length, one longer than max_duration (8 s).
SECONDS = [0.8, 2.0, 1.3, 2.0, 3.7, 0.9, 9.5, 1.1]


def _wave(seconds: float, seed: int) -> np.ndarray:
    return synthetic_waves([seconds], SR, seed=seed)[0]


@pytest.fixture(scope="module")
def group_norm_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_ser_model(tmp_path_factory.mktemp("ser") / "model", feat_extract_norm="group")


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wavs")
    for i, seconds in enumerate(SECONDS):
        sf.write(folder / f"clip{i:02d}.wav", _wave(seconds, i), SR)
    return folder


def test_plan_batches_pads_only_when_the_padding_is_masked() -> None:
    lengths = [5, 3, 5, 3, 9, 5, 12]
    masked = SimpleNamespace(return_attention_mask=True, max_samples=None)
    unmasked = SimpleNamespace(return_attention_mask=False, max_samples=None)
    assert [b.tolist() for b in plan_batches(lengths, 3, masked)] == [[1, 3, 0], [2, 5, 4], [6]]
    assert [b.tolist() for b in plan_batches(lengths, 3, unmasked)] == [[1, 3], [0, 2, 5], [4], [6]]
    # Clips longer than max_duration are centre-cropped to the same length, so they may share a batch unpadded.
    cropped = SimpleNamespace(return_attention_mask=False, max_samples=9)
    assert [b.tolist() for b in plan_batches(lengths, 3, cropped)] == [[1, 3], [0, 2, 5], [4, 6]]


def test_padding_changes_a_group_norm_model_s_answer(group_norm_model: str) -> None:
    """Why the rule exists: a zero-padded batch gives a short clip a different answer than it gets alone."""
    model, extractor = load_model(group_norm_model, "cpu")
    short, long = _wave(1.0, 1), _wave(4.0, 2)
    alone = batch_probabilities(model, extractor, [short])
    padded = batch_probabilities(model, extractor, [short, long])
    assert np.abs(alone[0] - padded[0]).max() > 1e-4


@pytest.mark.slow
def test_cli_default_batch_size_equals_one_at_a_time(
    group_norm_model: str, wav_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    default_batch = build_parser().get_default("batch_size")
    assert default_batch > 1
    runs = {}
    for name, extra in (("batched", []), ("one_at_a_time", ["--batch_size", "1"])):
        # fp32: bf16 autocast kernels round differently for a batch of 2 than for 1 (about 3e-4 in a probability)
        argv = [group_norm_model, str(wav_dir), "--json", "--top_k", "6", "--precision", "fp32", *extra]
        assert main(argv) == 0
        report = json.loads(capsys.readouterr().out)
        runs[name] = {Path(p["path"]).name: {t["label"]: t["score"] for t in p["top_k"]} for p in report["predictions"]}
    assert len(runs["batched"]) == len(SECONDS)
    diffs = [
        abs(runs["batched"][f][label] - runs["one_at_a_time"][f][label])
        for f in runs["batched"]
        for label in runs["batched"][f]
    ]
    assert max(diffs) < 1e-5
    # The files differ, so equality is not an accident of identical rows.
    assert len({tuple(scores.values()) for scores in runs["batched"].values()}) == len(SECONDS)


def test_layer_norm_model_is_padded_and_still_batch_independent(tmp_path: Path) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model", feat_extract_norm="layer")
    model, extractor = load_model(model_dir, "cpu")
    assert extractor.return_attention_mask
    waves = [_wave(s, i) for i, s in enumerate([0.8, 2.0, 1.3, 3.1])]
    assert len(plan_batches([len(w) for w in waves], 8, extractor)) == 1  # one padded batch
    batched = batch_probabilities(model, extractor, waves)
    with torch.inference_mode():
        alone = np.concatenate([batch_probabilities(model, extractor, [w]) for w in waves])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
