"""SERForAudioClassification: loading encoder weights, masked pooling, freezing, save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForAudioClassification, Wav2Vec2Config, Wav2Vec2Model

from recipe import SERConfig, SERFeatureExtractor, SERForAudioClassification
from recipe.modeling.configuration_ser import DEFAULT_EMOTIONS
from recipe.modeling.modeling_ser import AttentivePooling
from tests.support.tiny_models import save_tiny_encoder, save_tiny_ser_model, tiny_encoder_overrides

ARCH_PREFIX = {"wav2vec2": "wav2vec2.", "hubert": "hubert.", "wavlm": "wavlm.", "data2vec-audio": "data2vec_audio."}


def _waves(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]


def _tiny_model(tmp_path: Path, arch: str = "wav2vec2", norm: str = "group", **kwargs) -> SERForAudioClassification:
    return SERForAudioClassification.from_encoder(
        save_tiny_encoder(tmp_path / f"{arch}-{norm}", arch=arch, feat_extract_norm=norm), **kwargs
    )


@pytest.mark.parametrize("arch", ["wav2vec2", "hubert", "wavlm", "data2vec-audio"])
@pytest.mark.parametrize("as_sequence_classifier", [False, True])
def test_encoder_weights_load_exactly(tmp_path: Path, arch: str, as_sequence_classifier: bool) -> None:
    ckpt = save_tiny_encoder(tmp_path / "enc", arch=arch, as_sequence_classifier=as_sequence_classifier)
    saved = load_file(str(Path(ckpt) / "model.safetensors"))
    model = SERForAudioClassification.from_encoder(ckpt)

    prefix = ARCH_PREFIX[arch] if as_sequence_classifier else ""
    encoder_state = model.encoder.state_dict()
    expected = {key[len(prefix) :]: value for key, value in saved.items() if key.startswith(prefix)}
    assert set(expected) == set(encoder_state)
    for key, value in expected.items():
        assert torch.equal(encoder_state[key], value), key

    info = model.loading_info
    assert info["loaded_encoder_tensors"] == info["encoder_tensors"] == len(encoder_state)
    head_keys = sorted(key for key in saved if not key.startswith(prefix)) if prefix else []
    assert info["discarded_checkpoint_keys"] == head_keys
    if as_sequence_classifier:
        assert {"classifier.weight", "projector.weight"} <= set(head_keys)
    assert info["newly_initialized"] and all(not n.startswith("encoder.") for n in info["newly_initialized"])
    assert "classifier.weight" in info["newly_initialized"]
    assert model.config.id2label == dict(enumerate(DEFAULT_EMOTIONS))
    assert model.config.label2id == {label: i for i, label in enumerate(DEFAULT_EMOTIONS)}
    assert "id2label" not in model.config.encoder_config  # the old 4-class labels are not carried over
    assert model.config.encoder_name_or_path == ckpt


def test_from_encoder_logs_what_was_loaded(tiny_encoder: str, caplog: pytest.LogCaptureFixture) -> None:
    saved = load_file(str(Path(tiny_encoder) / "model.safetensors"))
    prefix = ARCH_PREFIX["wav2vec2"]
    encoder_tensors = {key[len(prefix) :]: value for key, value in saved.items() if key.startswith(prefix)}
    with caplog.at_level("INFO", logger="recipe.modeling.modeling_ser"):
        model = SERForAudioClassification.from_encoder(tiny_encoder)
    text = caplog.text
    # The log counts what the user can check: every encoder tensor of the checkpoint, each loaded unchanged.
    n = len(encoder_tensors)
    assert n > 0 and f"loaded {n} of {n} encoder tensors" in text
    state = model.encoder.state_dict()
    assert all(torch.equal(state[key], value) for key, value in encoder_tensors.items())
    assert "Discarded 4 checkpoint tensors" in text and "classifier.weight" in text
    assert "Newly initialised head parameters" in text and "pooling.score.0.weight" in text


def test_encoder_tensors_missing_from_checkpoint_are_reported(tmp_path: Path) -> None:
    # A checkpoint saved without SpecAugment has no masked_spec_embed; asking for SpecAugment makes it new.
    Wav2Vec2Model(Wav2Vec2Config(**tiny_encoder_overrides(), mask_time_prob=0.0)).save_pretrained(tmp_path / "enc")
    model = SERForAudioClassification.from_encoder(str(tmp_path / "enc"), mask_time_prob=0.05)
    info = model.loading_info
    assert "encoder.masked_spec_embed" in info["newly_initialized"]
    assert info["loaded_encoder_tensors"] == info["encoder_tensors"] - 1


def test_from_encoder_options_reach_config(tmp_path: Path) -> None:
    model = _tiny_model(
        tmp_path, id2label={0: "calm", 1: "angry"}, head_sizes=[16, 8], head_dropout=0.1, mask_time_prob=0.0
    )
    assert model.config.encoder_config["mask_time_prob"] == 0.0
    assert model.encoder.config.mask_time_prob == 0.0
    assert model.config.num_labels == 2 and model.config.label2id == {"calm": 0, "angry": 1}
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 8]
    assert [m.p for m in model.head if isinstance(m, torch.nn.Dropout)] == [0.1, 0.1]
    assert [type(m).__name__ for m in model.head[:4]] == ["Linear", "LayerNorm", "ReLU", "Dropout"]
    assert model.classifier.out_features == 2


def test_config_defaults_and_validation() -> None:
    config = SERConfig()
    assert config.encoder_config["model_type"] == "wav2vec2"
    assert config.head_sizes == [512, 256, 128] and config.head_dropout == 0.3
    assert config.id2label == dict(enumerate(DEFAULT_EMOTIONS))
    assert isinstance(config.get_encoder_config(), Wav2Vec2Config)
    with pytest.raises(ValueError, match="Unsupported encoder model_type 'bert'"):
        SERConfig(encoder_config={"model_type": "bert"})


def test_forward_returns_loss_and_logits(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path)
    extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config)
    inputs = extractor(_waves([16000, 9000]), sampling_rate=16000, return_tensors="pt")
    out = model(**inputs, labels=torch.tensor([0, 5]))
    assert out.logits.shape == (2, 6)
    expected = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 5]))
    assert torch.allclose(out.loss, expected)
    assert model(**inputs).loss is None
    assert model(**inputs, return_dict=False)[0].shape == (2, 6)


def test_save_load_round_trip_identical(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path, norm="layer").eval()
    out_dir = tmp_path / "saved"
    model.save_pretrained(out_dir)
    files = {p.name for p in out_dir.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "modeling_ser.py",
        "configuration_ser.py",
        "feature_extraction_ser.py",
        "preprocessor_config.json",
    } <= files
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    config = json.loads((out_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForAudioClassification"] == "modeling_ser.SERForAudioClassification"
    assert config["auto_map"]["AutoConfig"] == "configuration_ser.SERConfig"
    assert config["id2label"] == {str(i): label for i, label in enumerate(DEFAULT_EMOTIONS)}

    extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config)
    inputs = extractor(_waves([12000, 16000]), sampling_rate=16000, return_tensors="pt")
    for loaded in (
        SERForAudioClassification.from_pretrained(out_dir),
        AutoModelForAudioClassification.from_pretrained(out_dir),
    ):
        assert isinstance(loaded, SERForAudioClassification)
        loaded.eval()
        original, restored = model.state_dict(), loaded.state_dict()
        assert set(original) == set(restored)
        assert all(torch.equal(original[key], restored[key]) for key in original)
        with torch.no_grad():
            assert torch.equal(model(**inputs).logits, loaded(**inputs).logits)
    assert isinstance(AutoConfig.from_pretrained(out_dir), SERConfig)


@pytest.mark.parametrize("arch", ["wav2vec2", "hubert"])
def test_masked_pooling_ignores_padding_for_layer_norm_encoder(tmp_path: Path, arch: str) -> None:
    model = _tiny_model(tmp_path, arch=arch, norm="layer").eval()
    extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config)
    assert extractor.return_attention_mask
    short, long = _waves([7000, 16000], seed=3)
    alone = extractor(short, sampling_rate=16000, return_tensors="pt")
    batch = extractor([short, long], sampling_rate=16000, return_tensors="pt")
    assert batch["attention_mask"][0].sum() == 7000
    with torch.no_grad():
        logits_alone = model(**alone).logits[0]
        logits_batch = model(**batch).logits[0]
        # Different padding content must not matter either.
        noisy = {**batch, "input_values": batch["input_values"].clone()}
        noisy["input_values"][0, 7000:] = 5.0
        logits_noisy = model(**noisy).logits[0]
    torch.testing.assert_close(logits_batch, logits_alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_noisy, logits_alone, atol=1e-5, rtol=1e-5)


def test_attentive_pooling_gives_padded_frames_no_weight() -> None:
    torch.manual_seed(0)
    pooling = AttentivePooling(8, 4)
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    changed = hidden.clone()
    changed[0, 3:] = 1e4
    torch.testing.assert_close(pooling(hidden, mask), pooling(changed, mask))
    torch.testing.assert_close(pooling(hidden, mask)[0], pooling(hidden[:1, :3])[0])
    # Without a mask every frame counts.
    assert not torch.allclose(pooling(hidden)[0], pooling(changed)[0])


def test_mean_pooling_averages_real_frames_only(tmp_path: Path) -> None:
    from recipe.modeling.modeling_ser import MeanPooling

    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    pooled = MeanPooling()(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0, :3].mean(dim=0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(dim=0))
    torch.testing.assert_close(MeanPooling()(hidden), hidden.mean(dim=1))
    # the option travels through the config, has no parameters and survives save/load
    config = SERConfig(encoder_config={"model_type": "wav2vec2", **tiny_encoder_overrides()}, pooling="mean")
    model = SERForAudioClassification(config)
    assert isinstance(model.pooling, MeanPooling) and not list(model.pooling.parameters())
    model.save_pretrained(str(tmp_path / "m"))
    loaded = AutoModelForAudioClassification.from_pretrained(str(tmp_path / "m"))
    assert loaded.config.pooling == "mean" and isinstance(loaded.pooling, MeanPooling)
    with pytest.raises(ValueError, match="pooling"):
        SERForAudioClassification(SERConfig(encoder_config=config.encoder_config, pooling="max"))


def _grads_after_step(model: SERForAudioClassification) -> dict[str, bool]:
    model.train()
    model.zero_grad(set_to_none=True)
    inputs = SERFeatureExtractor.for_encoder(model.config.encoder_config)(
        _waves([8000, 8000]), sampling_rate=16000, return_tensors="pt"
    )
    model(**inputs, labels=torch.tensor([1, 2])).loss.backward()
    return {
        name: param.grad is not None and bool(param.grad.abs().sum() > 0) for name, param in model.named_parameters()
    }


@pytest.mark.parametrize("arch", ["wav2vec2", "wavlm"])
def test_freezing_stops_gradients(tmp_path: Path, arch: str) -> None:
    model = _tiny_model(tmp_path, arch=arch, mask_time_prob=0.0, layerdrop=0.0)
    cnn = [n for n, _ in model.named_parameters() if n.startswith("encoder.feature_extractor.")]
    encoder = [n for n, _ in model.named_parameters() if n.startswith("encoder.")]
    # The attention score's output bias adds the same amount to every frame's score; the softmax over time ignores
    # it, so its true gradient is 0 (any value seen is rounding noise) and it is left out of the "gets gradient" check.
    head = [n for n, _ in model.named_parameters() if not n.startswith("encoder.") and n != "pooling.score.2.bias"]
    summary = model.parameter_summary()
    assert summary["total"] == summary["trainable"]

    model.freeze_encoder()
    grads = _grads_after_step(model)
    assert not any(grads[n] for n in encoder) and all(grads[n] for n in head)
    head_count = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
    assert model.parameter_summary() == {
        "total": summary["total"],
        "trainable": head_count,
        "trainable_encoder_frozen": head_count,
    }

    model.unfreeze_encoder()
    model.freeze_feature_encoder()
    grads = _grads_after_step(model)
    assert not any(grads[n] for n in cnn)
    assert any(grads[n] for n in encoder if n not in cnn) and all(grads[n] for n in head)

    model.unfreeze_feature_encoder()
    grads = _grads_after_step(model)
    assert all(grads[n] for n in cnn if "conv" in n)
    assert model.parameter_summary()["trainable"] == summary["total"]


def test_parameter_summary_counts() -> None:
    model = SERForAudioClassification(SERConfig(encoder_config=Wav2Vec2Config(**tiny_encoder_overrides()).to_dict()))
    total = sum(p.numel() for p in model.parameters())
    head = sum(
        p.numel() for p in [*model.pooling.parameters(), *model.head.parameters(), *model.classifier.parameters()]
    )
    assert model.parameter_summary() == {"total": total, "trainable": total, "trainable_encoder_frozen": head}


def test_wav2vec2_base_sized_model_has_about_95m_parameters() -> None:
    with torch.device("meta"):  # no memory, no random init: only shapes
        model = SERForAudioClassification(SERConfig(encoder_config=Wav2Vec2Config().to_dict()))
    summary = model.parameter_summary()
    assert 94_000_000 < summary["total"] < 96_500_000
    assert summary["trainable"] == summary["total"]


def test_attention_implementation_passes_to_encoder(tmp_path: Path) -> None:
    ckpt = save_tiny_encoder(tmp_path / "enc")
    inputs = SERFeatureExtractor()(_waves([9000]), sampling_rate=16000, return_tensors="pt")
    torch.manual_seed(0)
    eager = SERForAudioClassification.from_encoder(ckpt, attn_implementation="eager").eval()
    assert eager.encoder.config._attn_implementation == "eager"
    sdpa = SERForAudioClassification.from_encoder(ckpt, attn_implementation="sdpa").eval()
    assert sdpa.encoder.config._attn_implementation == "sdpa"
    sdpa.load_state_dict(eager.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(sdpa(**inputs).logits, eager(**inputs).logits, atol=1e-5, rtol=1e-4)
    # WavLM has no SDPA kernel in transformers: the request falls back instead of failing.
    wavlm = SERForAudioClassification.from_encoder(
        save_tiny_encoder(tmp_path / "wavlm", arch="wavlm"), attn_implementation="sdpa"
    )
    assert wavlm.encoder.config._attn_implementation == "eager"
    saved = tmp_path / "saved"
    sdpa.save_pretrained(saved)
    reloaded = SERForAudioClassification.from_pretrained(saved, attn_implementation="eager")
    assert reloaded.encoder.config._attn_implementation == "eager"


def test_gradient_checkpointing_trains(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path, mask_time_prob=0.0)
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    grads = _grads_after_step(model)
    assert grads["classifier.weight"] and grads["encoder.encoder.layers.0.attention.q_proj.weight"]


def test_tiny_ser_model_folder_loads(tmp_path: Path) -> None:
    folder = save_tiny_ser_model(tmp_path / "model", arch="hubert", feat_extract_norm="layer", max_duration=4.0)
    model = AutoModelForAudioClassification.from_pretrained(folder)
    assert model.config.encoder_config["model_type"] == "hubert"
    assert json.loads((Path(folder) / "preprocessor_config.json").read_text())["max_duration"] == 4.0


def test_default_labels_match_data_prep() -> None:
    from data_prep.labels import EMOTIONS

    assert DEFAULT_EMOTIONS == EMOTIONS
