"""recipe.predict speed options: length-sorted batching keeps input order; bf16 autocast and int8 dynamic
quantisation stay close to float32; CLI checks. Behaviour only: nothing here measures time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from recipe.components.inference import classify_waves
from recipe.components.model_io import load_model
from recipe.predict import main
from tests.support.tiny_models import save_tiny_ser_model

SR = 16000


def _waves(seconds: list[float], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(seconds):
        t = np.arange(int(s * SR)) / SR
        wave = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size)
        out.append(wave.astype(np.float32))
    return out


@pytest.fixture(scope="module")
def layer_norm_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    # A layer-norm encoder gets an attention mask, so a clip's output does not depend on its batch mates.
    return save_tiny_ser_model(tmp_path_factory.mktemp("ser") / "model", arch="wav2vec2", feat_extract_norm="layer")


def test_sorted_batches_return_rows_in_input_order(layer_norm_model: str) -> None:
    model, extractor = load_model(layer_norm_model, "cpu")
    waves = _waves([3.0, 0.5, 2.0, 1.0, 2.5])  # not in length order: sorting permutes them
    batched = classify_waves(model, extractor, waves, batch_size=3)
    one_by_one = np.concatenate([classify_waves(model, extractor, [w], batch_size=1) for w in waves])
    assert batched.shape == (5, model.config.num_labels)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    assert len({tuple(np.round(row, 4)) for row in batched}) == 5  # distinct clips, distinct rows


def test_bf16_autocast_and_int8_quantisation_stay_close_to_fp32(layer_norm_model: str) -> None:
    waves = _waves([2.0, 1.2, 3.0, 0.8])
    model, extractor = load_model(layer_norm_model, "cpu")
    reference = classify_waves(model, extractor, waves, batch_size=2)
    bf16 = classify_waves(model, extractor, waves, batch_size=2, dtype="bf16")
    np.testing.assert_allclose(bf16, reference, atol=0.02)

    quantized, extractor = load_model(layer_norm_model, "cpu", quantize=True)
    assert not any(type(m) is torch.nn.Linear for m in quantized.modules())  # every float Linear was replaced
    assert any(hasattr(m, "_packed_params") for m in quantized.modules())  # by int8 dynamic ones
    int8 = classify_waves(quantized, extractor, waves, batch_size=2)
    np.testing.assert_allclose(int8, reference, atol=0.02)
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-5)


def test_unknown_dtype_and_gpu_quantisation_are_refused(layer_norm_model: str) -> None:
    model, extractor = load_model(layer_norm_model, "cpu")
    with pytest.raises(ValueError, match="dtype must be one of"):
        classify_waves(model, extractor, _waves([1.0]), dtype="int4")
    with pytest.raises(ValueError, match="CPU only"):
        load_model(layer_norm_model, "cuda", quantize=True)


def test_cli_speed_options(layer_norm_model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for i, wave in enumerate(_waves([1.5, 2.5])):
        sf.write(tmp_path / f"clip{i}.wav", wave, SR)
    threads = torch.get_num_threads()
    try:
        assert main([layer_norm_model, str(tmp_path), "--json", "--quantize", "--threads", "1", "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = json.loads(capsys.readouterr().out)
    assert [Path(p["path"]).name for p in out["predictions"]] == ["clip0.wav", "clip1.wav"]
    assert main([layer_norm_model, str(tmp_path), "--precision", "bf16", "--device", "cpu"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    with pytest.raises(SystemExit) as exit_info:
        main([layer_norm_model, str(tmp_path), "--quantize", "--device", "cuda"])
    assert exit_info.value.code == 2
    assert "CPU only" in capsys.readouterr().err
