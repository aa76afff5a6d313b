"""Tiny random Wav2Vec2-family checkpoints that stand in for pretrained ones in tests (no Hub access here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    Data2VecAudioConfig,
    Data2VecAudioForSequenceClassification,
    Data2VecAudioModel,
    HubertConfig,
    HubertForSequenceClassification,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2ForSequenceClassification,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMForSequenceClassification,
    WavLMModel,
)

ARCHS = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model, Wav2Vec2ForSequenceClassification),
    "hubert": (HubertConfig, HubertModel, HubertForSequenceClassification),
    "wavlm": (WavLMConfig, WavLMModel, WavLMForSequenceClassification),
    "data2vec-audio": (Data2VecAudioConfig, Data2VecAudioModel, Data2VecAudioForSequenceClassification),
}

# The four IEMOCAP classes of superb/wav2vec2-base-superb-er, whose head our model discards.
SUPERB_ER_LABELS = {0: "neu", 1: "hap", 2: "ang", 3: "sad"}


def tiny_encoder_overrides() -> dict[str, Any]:
    """Config entries that make any Wav2Vec2-family encoder tiny but keep the real conv stack's stride (320)."""
    return {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 37,
        "conv_dim": (32, 32, 32, 32, 32, 32, 32),
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
        "classifier_proj_size": 16,
    }


def save_tiny_encoder(
    path: str | Path,
    arch: str = "wav2vec2",
    feat_extract_norm: str = "group",
    as_sequence_classifier: bool = False,
    seed: int = 0,
) -> str:
    """Write a tiny random encoder checkpoint (config.json + model.safetensors) to `path` and return it.

    `feat_extract_norm="layer"` also sets `do_stable_layer_norm` (like the large layer-norm checkpoints);
    `as_sequence_classifier=True` saves an `*ForSequenceClassification` with a 4-class head, like
    superb/wav2vec2-base-superb-er.
    """
    config_class, model_class, classifier_class = ARCHS[arch]
    kwargs = tiny_encoder_overrides()
    if arch != "data2vec-audio":  # data2vec-audio always uses LayerNorm in its conv stack
        kwargs.update(feat_extract_norm=feat_extract_norm, do_stable_layer_norm=feat_extract_norm == "layer")
    if as_sequence_classifier:
        kwargs.update(id2label=dict(SUPERB_ER_LABELS), label2id={v: k for k, v in SUPERB_ER_LABELS.items()})
    config = config_class(**kwargs)
    torch.manual_seed(seed)
    model = (classifier_class if as_sequence_classifier else model_class)(config)
    model.save_pretrained(str(path))
    return str(path)


def save_tiny_ser_model(
    path: str | Path,
    arch: str = "wav2vec2",
    feat_extract_norm: str = "group",
    max_duration: float | None = 8.0,
    seed: int = 0,
    **model_options: Any,
) -> str:
    """Write a complete, pipeline-ready tiny SER model folder (random weights) to `path` and return it.

    Built the real way: tiny encoder checkpoint -> `SERForAudioClassification.from_encoder` -> `save_pretrained`
    with a `SERFeatureExtractor.for_encoder` extractor. For tests of evaluation, model cards and inference.
    `model_options` go to `from_encoder` (e.g. `use_weighted_layer_sum=True`, `encoder_output_norm=True`).
    """
    from recipe import SERFeatureExtractor, SERForAudioClassification  # tests may import recipe; keep it lazy

    path = Path(path)
    encoder_dir = save_tiny_encoder(path.parent / f"{path.name}-encoder", arch, feat_extract_norm, seed=seed)
    torch.manual_seed(seed)
    model = SERForAudioClassification.from_encoder(encoder_dir, **model_options)
    extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config, max_duration=max_duration)
    model.save_pretrained(str(path))
    extractor.save_pretrained(str(path))
    return str(path)


# hyperparams.yaml of a SpeechBrain emotion-recognition repo, in the layout of
# speechbrain/emotion-recognition-wav2vec2-IEMOCAP (HyperPyYAML tags included); {hub} is the architecture source.
SPEECHBRAIN_HYPERPARAMS = """\
# ############################################################################
# Model: WAV2VEC base for Emotion Recognition
# ############################################################################
HPARAMS_NEEDED: ["encoder_dim", "out_n_neurons", "label_encoder", "softmax"]
MODULES_NEEDED: ["wav2vec2", "avg_pool", "output_mlp"]

seed: 1986
__set_seed: !apply:torch.manual_seed [!ref <seed>]

# Feature parameters
wav2vec2_hub: {hub}

# Pretrain folder (HuggingFace)
pretrained_path: speechbrain/emotion-recognition-wav2vec2-IEMOCAP

# parameters
encoder_dim: {hidden}
out_n_neurons: 4

wav2vec2: !new:speechbrain.lobes.models.huggingface_wav2vec.HuggingFaceWav2Vec2
    source: !ref <wav2vec2_hub>
    output_norm: True
    freeze: True
    pretrain: False
    save_path: wav2vec2_checkpoints

avg_pool: !new:speechbrain.nnet.pooling.StatisticsPooling
    return_std: False

output_mlp: !new:speechbrain.nnet.linear.Linear
    input_size: !ref <encoder_dim>
    n_neurons: !ref <out_n_neurons>
    bias: False

model: !new:torch.nn.ModuleList
    - [!ref <output_mlp>]

modules:
    wav2vec2: !ref <wav2vec2>
    output_mlp: !ref <output_mlp>
    avg_pool: !ref <avg_pool>

compute_cost: !name:speechbrain.nnet.losses.nll_loss
softmax: !new:speechbrain.nnet.activations.Softmax
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        wav2vec2: !ref <wav2vec2>
        model: !ref <model>
        label_encoder: !ref <label_encoder>
    paths:
        wav2vec2: !ref <pretrained_path>/wav2vec2.ckpt
        model: !ref <pretrained_path>/model.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""

SPEECHBRAIN_LABELS = ("neu", "ang", "hap", "sad")


def speechbrain_encoder_checkpoint(
    encoder: Wav2Vec2Model, nested: bool = False, legacy_weight_norm: bool = True
) -> dict[str, torch.Tensor]:
    """The state dict SpeechBrain's wav2vec2 wrapper saves as wav2vec2.ckpt for `encoder` (its `self.model`).

    Keys `model.<encoder key>`; with `nested`, `model.wav2vec2.<encoder key>` plus a `Wav2Vec2ForPreTraining`'s
    quantizer and projections (SpeechBrain's self-supervised checkpoints). `legacy_weight_norm` stores the
    positional convolution's weight norm as `weight_g` / `weight_v` (torch < 2.1 checkpoints).
    """
    prefix = "model.wav2vec2." if nested else "model."
    state = {}
    for key, tensor in encoder.state_dict().items():
        if legacy_weight_norm:
            key = key.replace(".parametrizations.weight.original0", ".weight_g")
            key = key.replace(".parametrizations.weight.original1", ".weight_v")
        state[prefix + key] = tensor.clone()
    if nested:
        hidden = encoder.config.hidden_size
        state["model.quantizer.codevectors"] = torch.randn(1, 640, 128)
        state["model.project_q.weight"] = torch.randn(256, 256)
        state["model.project_hid.weight"] = torch.randn(256, hidden)
    return state


def save_tiny_speechbrain_repo(
    path: str | Path,
    nested: bool = False,
    legacy_weight_norm: bool = True,
    hub: str | None = None,
    seed: int = 0,
    checkpoint: dict[str, torch.Tensor] | None = None,
) -> tuple[str, dict[str, torch.Tensor]]:
    """Write a tiny SpeechBrain emotion-recognition repo folder; return (folder, the wav2vec2.ckpt state dict).

    Files as in speechbrain/emotion-recognition-wav2vec2-IEMOCAP: hyperparams.yaml (tags and all), wav2vec2.ckpt,
    model.ckpt (a bias-free 4-class linear, SpeechBrain's `Linear.w`), label_encoder.txt. `wav2vec2_hub` is
    `hub` when given (a Hub id), else a local folder `<path>-hub` holding only the tiny encoder's config.json.
    `checkpoint` replaces the encoder state dict written (to fabricate broken checkpoints).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = Wav2Vec2Config(**tiny_encoder_overrides())
    if hub is None:
        hub_dir = path.parent / f"{path.name}-hub"
        config.save_pretrained(str(hub_dir))
        hub = str(hub_dir)
    torch.manual_seed(seed)
    state = (
        checkpoint
        if checkpoint is not None
        else speechbrain_encoder_checkpoint(Wav2Vec2Model(config), nested=nested, legacy_weight_norm=legacy_weight_norm)
    )
    torch.save(state, path / "wav2vec2.ckpt")
    torch.save({"0.w.weight": torch.randn(len(SPEECHBRAIN_LABELS), config.hidden_size)}, path / "model.ckpt")
    (path / "hyperparams.yaml").write_text(SPEECHBRAIN_HYPERPARAMS.format(hub=hub, hidden=config.hidden_size))
    lines = [f"{label!r} => {index}" for index, label in enumerate(SPEECHBRAIN_LABELS)]
    (path / "label_encoder.txt").write_text("\n".join([*lines, "================", "'starting_index' => 0", ""]))
    return str(path), state


def save_tiny_superb_classifier(path: str | Path, seed: int = 0) -> str:
    """A tiny SUPERB-style `Wav2Vec2ForSequenceClassification` (use_weighted_layer_sum, projector, 4-class
    classifier) like superb/wav2vec2-base-superb-er, with non-uniform `layer_weights` so loading them shows."""
    config = Wav2Vec2Config(
        **tiny_encoder_overrides(),
        use_weighted_layer_sum=True,
        id2label=dict(SUPERB_ER_LABELS),
        label2id={v: k for k, v in SUPERB_ER_LABELS.items()},
    )
    torch.manual_seed(seed)
    model = Wav2Vec2ForSequenceClassification(config)
    with torch.no_grad():
        model.layer_weights.copy_(torch.randn(config.num_hidden_layers + 1))
    model.save_pretrained(str(path))
    return str(path)
