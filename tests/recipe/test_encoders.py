"""Encoder sources beyond plain transformers checkpoints: SpeechBrain repos, SUPERB layer weights, the default
model's parameter counts, from-scratch configs and the large layer-norm config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback, Wav2Vec2Config, Wav2Vec2Model

from recipe import SERConfig, SERFeatureExtractor, SERForAudioClassification
from recipe.components.speechbrain_checkpoint import (
    SpeechBrainFormatError,
    parse_hyperparams,
    read_label_encoder,
)
from recipe.modeling.modeling_ser import utterance_norm
from tests.support.hub_server import HubServer, Repo
from tests.support.tiny_models import (
    SPEECHBRAIN_LABELS,
    save_tiny_encoder,
    save_tiny_speechbrain_repo,
    save_tiny_superb_classifier,
    speechbrain_encoder_checkpoint,
    tiny_encoder_overrides,
)

REPO = Path(__file__).resolve().parents[2]
LEGACY = {".weight_g": ".parametrizations.weight.original0", ".weight_v": ".parametrizations.weight.original1"}


def _expected_encoder_state(checkpoint: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The checkpoint's encoder tensors under transformers' names, renamed here by hand."""
    out = {}
    for key, tensor in checkpoint.items():
        if key.startswith(prefix) and not key.startswith(("model.quantizer", "model.project_")):
            name = key[len(prefix) :]
            for old, new in LEGACY.items():
                name = name[: -len(old)] + new if name.endswith(old) else name
            out[name] = tensor
    return out


def _waves(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in lengths]


# ---------------------------------------------------------------- SpeechBrain repos
@pytest.mark.parametrize("nested", [False, True], ids=["model.", "model.wav2vec2."])
def test_speechbrain_repo_loads_every_encoder_tensor_bit_for_bit(tmp_path: Path, nested: bool) -> None:
    repo, checkpoint = save_tiny_speechbrain_repo(tmp_path / "sb", nested=nested)
    assert any(key.endswith(".weight_g") for key in checkpoint)  # the legacy names are really there
    model = SERForAudioClassification.from_encoder(repo)

    expected = _expected_encoder_state(checkpoint, "model.wav2vec2." if nested else "model.")
    encoder_state = model.encoder.state_dict()
    assert set(expected) == set(encoder_state)
    for key, tensor in expected.items():
        assert torch.equal(encoder_state[key], tensor), key

    info = model.loading_info
    assert info["source_format"] == "speechbrain"
    assert info["source_architectures"] == ["speechbrain.lobes.models.huggingface_wav2vec.HuggingFaceWav2Vec2"]
    assert info["loaded_encoder_tensors"] == info["encoder_tensors"] == len(encoder_state)
    assert info["missing_encoder_keys"] == []
    pretraining = (
        [
            "wav2vec2.ckpt:model.project_hid.weight",
            "wav2vec2.ckpt:model.project_q.weight",
            "wav2vec2.ckpt:model.quantizer.codevectors",
        ]
        if nested
        else []
    )
    assert info["discarded_checkpoint_keys"] == sorted(["model.ckpt:0.w.weight", *pretraining])
    speechbrain = info["speechbrain"]
    assert speechbrain["encoder_source"] == f"{repo}-hub" and speechbrain["encoder_checkpoint"] == "wav2vec2.ckpt"
    assert len(speechbrain["renamed_legacy_keys"]) == 2
    assert speechbrain["source_labels"] == dict(enumerate(SPEECHBRAIN_LABELS))
    # SpeechBrain's output_norm: True is mirrored; the new head is ours (six emotions).
    assert model.config.encoder_output_norm is True and info["encoder_output_norm"] is True
    assert model.config.num_labels == 6 and "classifier.weight" in info["newly_initialized"]
    assert model.config.encoder_config["hidden_size"] == 32


def test_speechbrain_repo_current_weight_norm_names_and_overrides(tmp_path: Path) -> None:
    repo, checkpoint = save_tiny_speechbrain_repo(tmp_path / "sb", legacy_weight_norm=False)
    model = SERForAudioClassification.from_encoder(repo, layerdrop=0.0, encoder_output_norm=False)
    assert model.encoder.config.layerdrop == 0.0 and model.config.encoder_output_norm is False
    state = model.encoder.state_dict()
    for key, tensor in _expected_encoder_state(checkpoint, "model.").items():
        assert torch.equal(state[key], tensor), key
    assert model.loading_info["speechbrain"]["renamed_legacy_keys"] == []


def test_speechbrain_missing_and_unexpected_tensors_are_reported(tmp_path: Path) -> None:
    checkpoint = speechbrain_encoder_checkpoint(Wav2Vec2Model(Wav2Vec2Config(**tiny_encoder_overrides())))
    del checkpoint["model.encoder.layers.1.final_layer_norm.bias"]
    checkpoint["model.encoder.extra.weight"] = torch.ones(3)
    checkpoint["wav2vec2_avg.weight"] = torch.ones(2)
    repo, _ = save_tiny_speechbrain_repo(tmp_path / "sb", checkpoint=checkpoint)
    model = SERForAudioClassification.from_encoder(repo)
    info = model.loading_info
    assert info["missing_encoder_keys"] == ["encoder.layers.1.final_layer_norm.bias"]
    assert "encoder.encoder.layers.1.final_layer_norm.bias" in info["newly_initialized"]
    assert info["loaded_encoder_tensors"] == info["encoder_tensors"] - 1
    assert {"encoder.extra.weight", "wav2vec2.ckpt:wav2vec2_avg.weight"} <= set(info["discarded_checkpoint_keys"])


def test_speechbrain_yaml_is_parsed_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = f"""
touch: !apply:os.system ["touch {marker}"]
obj: !new:subprocess.Popen
    args: ["touch", "{marker}"]
fn: !name:os.remove
hub: facebook/wav2vec2-base
enc: !new:speechbrain.lobes.models.huggingface_transformers.wav2vec2.Wav2Vec2
    source: !ref <hub>
"""
    hparams = parse_hyperparams(text, "hyperparams.yaml")
    assert not marker.exists()
    assert hparams["enc"].tag == "!new:speechbrain.lobes.models.huggingface_transformers.wav2vec2.Wav2Vec2"
    assert hparams["enc"].value["source"].value == "<hub>"
    with pytest.raises(SpeechBrainFormatError, match="hyperparams.yaml: not valid YAML"):
        parse_hyperparams("a: [1, 2", "hyperparams.yaml")


def test_speechbrain_errors_name_the_file(tmp_path: Path) -> None:
    repo, _ = save_tiny_speechbrain_repo(tmp_path / "sb")
    (Path(repo) / "wav2vec2.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(SpeechBrainFormatError, match=r"wav2vec2\.ckpt: not a torch state dict"):
        SERForAudioClassification.from_encoder(repo)
    (Path(repo) / "wav2vec2.ckpt").unlink()
    with pytest.raises(SpeechBrainFormatError, match=r"wav2vec2\.ckpt: file not found"):
        SERForAudioClassification.from_encoder(repo)
    bad = tmp_path / "labels.txt"
    bad.write_text("'neu' -> 0\n")
    with pytest.raises(SpeechBrainFormatError, match="labels.txt:1"):
        read_label_encoder(bad)


HUB_SCRIPT = """
import json, sys
import recipe
from recipe import SERForAudioClassification
model = SERForAudioClassification.from_encoder(sys.argv[1])
info = model.loading_info
print(json.dumps({"loaded": info["loaded_encoder_tensors"], "total": info["encoder_tensors"],
                  "source": info["speechbrain"]["encoder_source"], "labels": info["speechbrain"]["source_labels"],
                  "discarded": info["discarded_checkpoint_keys"]}))
"""


@pytest.mark.slow
def test_speechbrain_repo_by_hub_id(tmp_path: Path) -> None:
    hub_config = tmp_path / "hub-config"
    Wav2Vec2Config(**tiny_encoder_overrides()).save_pretrained(hub_config)
    repo, _ = save_tiny_speechbrain_repo(tmp_path / "sb", hub="tiny-org/wav2vec2-tiny")
    with HubServer() as hub:
        hub.state.repos["speechbrain/emotion-recognition-tiny"] = Repo(
            files={p.name: p.read_bytes() for p in Path(repo).iterdir()}, commits=["1" * 40]
        )
        hub.state.repos["tiny-org/wav2vec2-tiny"] = Repo(
            files={"config.json": (hub_config / "config.json").read_bytes()}, commits=["2" * 40]
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE"))}
        env.update(
            PYTHONPATH=str(REPO),
            HF_ENDPOINT=hub.url,
            HF_HOME=str(tmp_path / "hf_home"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
        )
        result = subprocess.run(
            [sys.executable, "-c", HUB_SCRIPT, "speechbrain/emotion-recognition-tiny"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:] + f"\nunknown: {hub.state.unknown_requests}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == report["total"] > 0
    assert report["source"] == "tiny-org/wav2vec2-tiny"
    assert report["labels"] == {str(i): label for i, label in enumerate(SPEECHBRAIN_LABELS)}
    assert report["discarded"] == ["model.ckpt:0.w.weight"]


# ---------------------------------------------------------------- output norm
def test_utterance_norm_matches_speechbrain_and_ignores_padding() -> None:
    torch.manual_seed(0)
    hidden = torch.randn(2, 7, 5) * 3 + 1
    # SpeechBrain: F.layer_norm(out, out.shape[1:]) normalises each utterance over frames and features.
    manual = (hidden - hidden.mean(dim=(1, 2), keepdim=True)) / torch.sqrt(
        hidden.var(dim=(1, 2), unbiased=False, keepdim=True) + 1e-5
    )
    torch.testing.assert_close(utterance_norm(hidden, None), manual)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1] * 7], dtype=torch.bool)
    changed = hidden.clone()
    changed[0, 4:] = 1e3
    torch.testing.assert_close(utterance_norm(changed, mask)[0, :4], utterance_norm(hidden[:1, :4], None)[0])
    torch.testing.assert_close(utterance_norm(hidden, mask)[1], manual[1])
    # fp16 (mixed precision): statistics of 400 x 768 frames must not overflow (their sum exceeds 65504).
    big = (torch.randn(1, 400, 768) * 4 + 20).half()
    normed = utterance_norm(big, torch.ones(1, 400, dtype=torch.bool))
    assert normed.dtype == torch.float16 and torch.isfinite(normed).all()
    torch.testing.assert_close(normed.float(), utterance_norm(big.float(), None), atol=2e-3, rtol=2e-3)


# ---------------------------------------------------------------- SUPERB weighted layer sum
def test_superb_layer_weights_are_loaded(tmp_path: Path) -> None:
    ckpt = save_tiny_superb_classifier(tmp_path / "superb")
    saved = load_file(str(Path(ckpt) / "model.safetensors"))
    model = SERForAudioClassification.from_encoder(ckpt, use_weighted_layer_sum=True)
    assert torch.equal(model.layer_weights.detach(), saved["layer_weights"])
    info = model.loading_info
    assert info["loaded_layer_weights"] is True
    assert "layer_weights" not in info["newly_initialized"] and "layer_weights" not in info["discarded_checkpoint_keys"]
    assert info["discarded_checkpoint_keys"] == [
        "classifier.bias",
        "classifier.weight",
        "projector.bias",
        "projector.weight",
    ]
    encoder_state = model.encoder.state_dict()
    for key, tensor in saved.items():
        if key.startswith("wav2vec2."):
            assert torch.equal(encoder_state[key[len("wav2vec2.") :]], tensor), key
    assert info["loaded_encoder_tensors"] == info["encoder_tensors"]
    assert model.encoder.config.layerdrop == 0.0  # dropped layers would misalign the weights

    # Without the option the same tensor is reported as discarded, as before.
    plain = SERForAudioClassification.from_encoder(ckpt)
    assert "layer_weights" in plain.loading_info["discarded_checkpoint_keys"]
    assert not hasattr(plain, "layer_weights")


def test_weighted_layer_sum_forward_uses_softmax_weights(tmp_path: Path) -> None:
    model = SERForAudioClassification.from_encoder(
        save_tiny_superb_classifier(tmp_path / "superb"), use_weighted_layer_sum=True, mask_time_prob=0.0
    ).eval()
    inputs = SERFeatureExtractor.for_encoder(model.config.encoder_config)(
        _waves([9000]), sampling_rate=16000, return_tensors="pt"
    )
    with torch.no_grad():
        states = model.encoder(inputs["input_values"], output_hidden_states=True).hidden_states
        assert len(states) == model.layer_weights.numel() == 3
        weights = torch.softmax(model.layer_weights, dim=0)
        summed = sum(w * h for w, h in zip(weights, states))
        expected = model.classifier(model.head(model.pooling(summed)))
        out = model(**inputs)
    torch.testing.assert_close(out.logits, expected)
    assert out.hidden_states is None
    assert len(model(**inputs, output_hidden_states=True).hidden_states) == 3
    with pytest.raises(ValueError, match="use_weighted_layer_sum needs encoder layerdrop 0.0"):
        SERConfig(encoder_config={"model_type": "wav2vec2", "layerdrop": 0.1}, use_weighted_layer_sum=True)


def test_weighted_layer_sum_survives_save_and_load(tmp_path: Path) -> None:
    model = SERForAudioClassification.from_encoder(
        save_tiny_superb_classifier(tmp_path / "superb"), use_weighted_layer_sum=True, encoder_output_norm=True
    )
    model.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["use_weighted_layer_sum"] is True and config["encoder_output_norm"] is True
    assert config["attention_hidden_size"] == 384
    loaded = SERForAudioClassification.from_pretrained(tmp_path / "saved")
    assert torch.equal(loaded.layer_weights, model.layer_weights)


# ---------------------------------------------------------------- the default model's size
def test_default_parameter_counts_equal_the_seed_report() -> None:
    """wav2vec2-base + the default head: "95.2M total, 856K trainable" while the encoder is frozen."""
    with torch.device("meta"):  # a randomly initialised wav2vec2-base config's shapes; nothing downloaded
        model = SERForAudioClassification(SERConfig())
    model.freeze_encoder()
    counts = model.parameter_summary()
    assert round(counts["total"] / 1e5) / 10 == 95.2  # millions, one decimal
    assert round(counts["trainable"] / 1e3) == 856  # thousands
    # By hand: pooling 768*384 + 384 + 384 + 1; head blocks 768*512+512+1024, 512*256+256+512, 256*128+128+256;
    # classifier 128*6+6; wav2vec2-base (Wav2Vec2Model) 94,371,712.
    head = (
        (768 * 384 + 384 + 384 + 1)
        + (768 * 512 + 512 + 1024)
        + (512 * 256 + 256 + 512)
        + (256 * 128 + 128 + 256)
        + (128 * 6 + 6)
    )
    assert counts["trainable"] == counts["trainable_encoder_frozen"] == head == 856_199
    assert counts["total"] == 94_371_712 + head == 95_227_911


# ---------------------------------------------------------------- from scratch with a partial config
def test_from_scratch_partial_encoder_config_is_completed() -> None:
    config = SERConfig(encoder_config={"model_type": "wav2vec2", "layerdrop": 0.0})
    defaults = Wav2Vec2Config().to_dict()
    assert config.hidden_size == 768 and config.encoder_config["layerdrop"] == 0.0
    assert config.encoder_config["num_hidden_layers"] == defaults["num_hidden_layers"]
    assert config.encoder_config["conv_stride"] == list(defaults["conv_stride"])


def test_build_model_from_scratch_with_partial_config(tmp_path: Path) -> None:
    from recipe.components.config import load_config
    from recipe.components.model_io import build_model

    overrides = {"model_type": "wav2vec2", "layerdrop": 0.0, **tiny_encoder_overrides()}
    del overrides["hidden_size"], overrides["intermediate_size"]  # left to the architecture's defaults
    overrides["num_hidden_layers"] = 1
    cfg = load_config(None, ["--model.from_scratch", "--model.encoder_config", json.dumps(overrides)])
    model, extractor = build_model(cfg, {0: "a", 1: "b"})
    assert model.config.hidden_size == 768 and model.encoder.config.intermediate_size == 3072
    assert model.config.encoder_config["layerdrop"] == 0.0
    out = model(**extractor(_waves([8000]), sampling_rate=16000, return_tensors="pt"))
    assert out.logits.shape == (1, 2)


# ---------------------------------------------------------------- the large layer-norm config
class _Probe(TrainerCallback):
    """Records what one training step ran with."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}

    def on_step_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        self.seen = {
            "checkpointing": model.is_gradient_checkpointing,
            "mask": "attention_mask" in next(iter(train_dataloader)),
            "step": state.global_step,
        }


@pytest.mark.slow
def test_large_config_trains_a_step_with_a_tiny_layer_norm_encoder(tmp_path: Path) -> None:
    from recipe import train
    from recipe.components.config import build_training_arguments, load_config
    from tests.support.train_helpers import make_dataset

    config = REPO / "configs" / "recipe_large.yaml"
    cfg = load_config(config)
    assert cfg.model.encoder == "facebook/wav2vec2-large-robust" and cfg.model.gradient_checkpointing
    args = build_training_arguments(cfg, str(tmp_path / "x"))
    # 16 GB budget: 8 clips per step, effective batch 32 as the base recipe.
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (8, 4)

    encoder = save_tiny_encoder(tmp_path / "large-tiny", feat_extract_norm="layer")  # stands in for large-robust
    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    probe = _Probe()
    code = train.main(
        [
            "--config",
            str(config),
            "--data",
            data,
            "--output_dir",
            str(tmp_path / "out"),
            "--model.encoder",
            encoder,
            "--max_duration",
            "1.0",
            "--max_steps",
            "1",
            "--use_cpu",
            "--per_device_train_batch_size",
            "2",
            "--gradient_accumulation_steps",
            "1",
            "--dataloader_num_workers",
            "0",
            "--eval_strategy",
            "no",
            "--save_strategy",
            "no",
            "--load_best_model_at_end",
            "false",
            "--early_stopping_patience",
            "null",
            "--freeze_encoder_epochs",
            "0",
            "--disable_tqdm",
            "true",
        ],
        extra_callbacks=[probe],
    )
    assert code == 0
    assert probe.seen == {"checkpointing": True, "mask": True, "step": 1}
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["encoder_config"]["do_stable_layer_norm"] is True
    assert json.loads((tmp_path / "out" / "preprocessor_config.json").read_text())["return_attention_mask"] is True
    info = json.loads((tmp_path / "out" / "run_info.json").read_text())
    head = sum(
        p.numel()
        for n, p in SERForAudioClassification.from_pretrained(tmp_path / "out").named_parameters()
        if not n.startswith("encoder.")
    )
    assert info["parameters"]["trainable_encoder_frozen"] == head
    assert info["encoder_loading"]["loaded_encoder_tensors"] == info["encoder_loading"]["encoder_tensors"]
