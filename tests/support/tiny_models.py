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
    path: str | Path, arch: str = "wav2vec2", feat_extract_norm: str = "group", as_sequence_classifier: bool = False,
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
    path: str | Path, arch: str = "wav2vec2", feat_extract_norm: str = "group", max_duration: float | None = 8.0,
    seed: int = 0,
) -> str:
    """Write a complete, pipeline-ready tiny SER model folder (random weights) to `path` and return it.

    Built the real way: tiny encoder checkpoint -> `SERForAudioClassification.from_encoder` -> `save_pretrained`
    with a `SERFeatureExtractor.for_encoder` extractor. For tests of evaluation, model cards and inference.
    """
    from recipe import SERFeatureExtractor, SERForAudioClassification  # tests may import recipe; keep it lazy

    path = Path(path)
    encoder_dir = save_tiny_encoder(path.parent / f"{path.name}-encoder", arch, feat_extract_norm, seed=seed)
    torch.manual_seed(seed)
    model = SERForAudioClassification.from_encoder(encoder_dir)
    extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config, max_duration=max_duration)
    model.save_pretrained(str(path))
    extractor.save_pretrained(str(path))
    return str(path)
