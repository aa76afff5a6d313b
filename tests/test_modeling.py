"""SERForAudioClassification: loading encoder weights, masked pooling, freezing, save/load round trip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from recipe import SERConfig, SERFeatureExtractor, SERForAudioClassification
from recipe.modeling_ser import DEFAULT_EMOTIONS
from tests.tiny_models import save_tiny_encoder

ARCH_PREFIX = {"wav2vec2": "wav2vec2.", "hubert": "hubert.", "wavlm": "wavlm.", "data2vec-audio": "data2vec_audio."}


def _batch(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]


@pytest.mark.parametrize("arch", ["wav2vec2", "hubert", "wavlm", "data2vec-audio"])
@pytest.mark.parametrize("as_sequence_classifier", [False, True])
def test_encoder_weights_load_exactly(tmp_path: Path, arch: str, as_sequence_classifier: bool) -> None:
    ckpt = save_tiny_encoder(tmp_path / "enc", arch=arch, as_sequence_classifier=as_sequence_classifier)
    saved = load_file(str(Path(ckpt) / "model.safetensors"))
    model = SERForAudioClassification.from_encoder(ckpt)

    prefix = ARCH_PREFIX[arch] if as_sequence_classifier else ""
    encoder_state = model.encoder.state_dict()
    expected = {key[len(prefix):]: value for key, value in saved.items() if key.startswith(prefix)}
    assert set(expected) == set(encoder_state)
    for key, value in expected.items():
        assert torch.equal(encoder_state[key], value), key

    info = model.loading_info
    assert info["loaded_encoder_tensors"] == len(encoder_state)
    head_keys = sorted(key for key in saved if not key.startswith(prefix)) if prefix else []
    assert info["discarded_checkpoint_keys"] == head_keys
    assert all(not name.startswith("encoder.") for name in info["newly_initialized"])
    assert "classifier.weight" in info["newly_initialized"]
    assert model.config.id2label == dict(enumerate(DEFAULT_EMOTIONS))
    assert "id2label" not in model.config.encoder_config  # the old 4-class labels are not carried over


def test_forward_returns_loss_and_logits(tmp_path: Path) -> None:
    model = SERForAudioClassification.from_encoder(save_tiny_encoder(tmp_path / "enc"), head_sizes=[16, 8])
    extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config)
    inputs = extractor(_batch([16000, 9000]), sampling_rate=16000, return_tensors="pt")
    out = model(**inputs, labels=torch.tensor([0, 5]))
    assert out.logits.shape == (2, 6)
    assert out.loss is not None and torch.isfinite(out.loss)
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [16, 8]
