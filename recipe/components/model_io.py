"""Building, viewing and loading models: what training, evaluation, prediction, export, the app and the bench share.

`build_model` makes a fresh model from a recipe config (pretrained encoder + new head, or from scratch);
`model_view` keeps only the columns training reads; `load_model` loads a saved folder (torch, int8 or ONNX).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

from common.cli import UserError
from common.secrets import is_secret_key

from ..modeling import SERConfig, SERFeatureExtractor, SERForAudioClassification
from .calibration import check_onnx_temperature
from .config import ConfigError, RecipeConfig
from .inference import (
    ModelFolderError,
    OnnxModel,
    check_model_folder,
    default_device,
    load_onnx_model,
    model_load_errors,
)
from .speechbrain_checkpoint import SpeechBrainFormatError

MODEL_COLUMNS = ("audio", "label", "length")


class DataError(UserError, ValueError):
    """The prepared dataset cannot be trained on; the message names the directory and the problem."""


def model_view(ds: Dataset, need_length: bool, extra: tuple[str, ...] = ()) -> Dataset:
    """Only the columns training reads, as numpy (fast float32 arrays instead of Python lists)."""
    if need_length and "length" not in ds.column_names:
        raise DataError("the 'length' column is needed for length-grouped batches (train_sampling_strategy)")
    columns = [c for c in (*MODEL_COLUMNS, *extra) if c in ds.column_names]
    ds = ds.select_columns(columns)
    ds.set_format("numpy", columns=columns)
    return ds


# The `model` config keys that shape the classification head (and the pooling and layer sum feeding it).
HEAD_KEYS = (
    "head_sizes",
    "head_dropout",
    "attention_hidden_size",
    "pooling",
    "use_weighted_layer_sum",
    "encoder_output_norm",
)


def head_options(model_options: Any) -> dict[str, Any]:
    """The head settings of a `model` config section, passed alike to a from-scratch `SERConfig` and to
    `SERForAudioClassification.from_encoder`, so that the two ways of building a model cannot drift apart.
    `encoder_output_norm` stays None ("follow the source encoder") here; the from-scratch path decides it."""
    return {key: getattr(model_options, key) for key in HEAD_KEYS}


def build_model(cfg: RecipeConfig, id2label: dict[int, str]) -> tuple[SERForAudioClassification, SERFeatureExtractor]:
    """A fresh model (pretrained encoder + new head, or all random with `model.from_scratch`) and its extractor."""
    opts = cfg.model
    if opts.from_scratch:
        # SERConfig completes a partial encoder_config with the architecture's defaults. Nothing is downloaded, so
        # download options such as a token are dropped (config.json would otherwise hold them).
        encoder_config = {"model_type": "wav2vec2", **opts.encoder_config}
        encoder_config = {k: v for k, v in encoder_config.items() if not is_secret_key(k)}
        if opts.use_weighted_layer_sum:
            encoder_config.setdefault("layerdrop", 0.0)  # dropped layers would misalign the layer weights
        try:
            head = head_options(opts)
            head["encoder_output_norm"] = bool(head["encoder_output_norm"])  # no source encoder to follow
            config = SERConfig(encoder_config=encoder_config, id2label=id2label, **head)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"model.encoder_config: {err}") from err
        if opts.attn_implementation is not None:
            config._attn_implementation = opts.attn_implementation
        model = SERForAudioClassification(config)
    else:
        try:
            model = SERForAudioClassification.from_encoder(
                opts.encoder,
                id2label=id2label,
                attn_implementation=opts.attn_implementation,
                **head_options(opts),
                **opts.encoder_config,
            )
        except OSError as err:  # not on disk, not in the cache and no Hub access
            raise ConfigError(
                f"model.encoder {opts.encoder!r} cannot be loaded (offline without a cached copy? a typo?): {err}"
            ) from err
        except SpeechBrainFormatError as err:
            raise ConfigError(f"model.encoder {opts.encoder!r}: {err}") from err
    if opts.speaker_norm:
        model.enable_speaker_norm()
    if opts.freeze_feature_encoder:
        model.freeze_feature_encoder()
    feature_extractor = SERFeatureExtractor.for_encoder(model.config.encoder_config, max_duration=opts.max_duration)
    return model, feature_extractor


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every `nn.Linear` (weights int8, activations quantised on the fly; CPU only).

    Uses `torch.ao.quantization.quantize_dynamic`, deprecated in favour of torchao (not a dependency here) but
    working in torch 2.x; its deprecation warnings are silenced. The convolutions stay in float32.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def onnx_file(model_dir: str | Path, quantize: bool = False) -> Path:
    """The exported graph for `model_dir`: `model.onnx` (`model_int8.onnx` with `quantize`) in the folder itself or
    in its `onnx/` subfolder (where `python -m recipe.export` writes by default)."""
    name = "model_int8.onnx" if quantize else "model.onnx"
    for folder in (Path(model_dir), Path(model_dir) / "onnx"):
        if (folder / name).is_file():
            return folder / name
    hint = " --quantize int8" if quantize else ""
    raise ModelFolderError(
        f"{model_dir}: no {name} here or in onnx/ (run python -m recipe.export --model {model_dir}{hint})"
    )


def load_extractor(folder: str | Path, config) -> SERFeatureExtractor:
    """The folder's saved feature extractor, or the one matching its encoder when it has none."""
    if Path(folder, "preprocessor_config.json").is_file():
        return AutoFeatureExtractor.from_pretrained(str(folder), trust_remote_code=False)
    return SERFeatureExtractor.for_encoder(config)


def load_model(
    model_dir: str | Path,
    device: str | torch.device | None = None,
    quantize: bool = False,
    backend: str = "torch",
    threads: int | None = None,
) -> tuple[torch.nn.Module | OnnxModel, SERFeatureExtractor]:
    """Load a saved model folder (SER or any audio-classification model) and its feature extractor.

    backend "torch": in eval mode on `device` (default: cuda if available, else cpu); `quantize` applies
    `quantize_linear_int8` (CPU only). backend "onnx": the graph written by `recipe.export` (`onnx_file`), int8
    with `quantize`, in onnxruntime with `threads` intra-op threads.
    ModelFolderError when the folder is missing or not a loadable model.
    """
    if backend == "onnx":
        path = onnx_file(model_dir, quantize)
        model = load_onnx_model(path, threads=threads)
        try:
            check_onnx_temperature(model_dir, model)
        except ValueError as err:
            raise ModelFolderError(str(err)) from err
        return model, load_extractor(path.parent, model.config)
    if backend != "torch":
        raise ValueError(f"backend must be torch or onnx, got {backend!r}")
    device = default_device(device)
    if quantize and device.type != "cpu":
        raise ValueError(f"int8 dynamic quantisation runs on CPU only, not on {device}")
    check_model_folder(model_dir)
    with model_load_errors(model_dir):
        model = AutoModelForAudioClassification.from_pretrained(str(model_dir), trust_remote_code=False)
        model = model.to(device).eval()
        extractor = load_extractor(model_dir, model.config)
    if quantize:
        model = quantize_linear_int8(model)
    return model, extractor
