"""The head settings of the config reach the model the same way whether the encoder is pretrained or from scratch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe.components.config import load_config
from recipe.components.model_io import build_model, head_options
from tests.support.tiny_models import save_tiny_encoder, tiny_encoder_overrides

HEAD_ARGS = [
    "--head_sizes", "24", "8",
    "--head_dropout", "0.15",
    "--attention_hidden_size", "12",
    "--pooling", "mean",
    "--use_weighted_layer_sum",
    "--encoder_output_norm", "true",
]  # fmt: skip
# What those arguments mean, written out by hand (not read back through the helper under test).
EXPECTED = {
    "head_sizes": [24, 8],
    "head_dropout": 0.15,
    "attention_hidden_size": 12,
    "pooling": "mean",
    "use_weighted_layer_sum": True,
    "encoder_output_norm": True,
}


def test_head_options_are_the_head_keys_of_the_model_section() -> None:
    cfg = load_config(None, ["--data", "d", *HEAD_ARGS])
    assert head_options(cfg.model) == EXPECTED
    defaults = head_options(load_config(None, ["--data", "d"]).model)
    assert defaults["encoder_output_norm"] is None  # "follow the source encoder" is kept for from_encoder


@pytest.mark.parametrize("source", ["scratch", "pretrained"])
def test_both_build_paths_apply_every_head_option(tmp_path: Path, source: str) -> None:
    if source == "scratch":
        encoder_config = {"model_type": "wav2vec2", "layerdrop": 0.0, **tiny_encoder_overrides()}
        argv = ["--model.from_scratch", "--model.encoder_config", json.dumps(encoder_config)]
    else:
        argv = ["--model.encoder", save_tiny_encoder(tmp_path / "enc")]
    cfg = load_config(None, ["--data", "d", *argv, *HEAD_ARGS])
    model, _ = build_model(cfg, {0: "a", 1: "b"})
    assert {key: getattr(model.config, key) for key in EXPECTED} == EXPECTED
    assert [layer.out_features for layer in model.modules() if type(layer).__name__ == "Linear"][-3:] == [24, 8, 2]
    assert type(model.pooling).__name__ == "MeanPooling"
    assert model.layer_weights is not None and model.layer_weights.numel() == 3  # embeddings + 2 hidden layers


def test_from_scratch_without_output_norm_is_off(tmp_path: Path) -> None:
    encoder_config = {"model_type": "wav2vec2", "layerdrop": 0.0, **tiny_encoder_overrides()}
    argv = ["--data", "d", "--model.from_scratch", "--model.encoder_config", json.dumps(encoder_config)]
    cfg = load_config(None, argv)
    model, _ = build_model(cfg, {0: "a", 1: "b"})
    assert model.config.encoder_output_norm is False
    assert model.config.pooling == "attentive" and model.config.head_sizes == [512, 256, 128]
