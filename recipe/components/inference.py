"""Batched inference shared by `recipe.evaluate` (dataset splits) and `recipe.predict` (audio files): batches in
order of length, and one batch turned into class probabilities."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig

from common.cli import UserError


class ModelFolderError(UserError, FileNotFoundError):
    """A model folder that is missing or cannot be loaded (one line, exit 2 in the CLIs)."""


def check_model_folder(model_dir: str | Path) -> Path:
    """`model_dir` as a Path if it holds a loadable model config.json, else ModelFolderError naming the folder."""
    path = Path(model_dir)
    if not path.exists():
        raise ModelFolderError(f"{path}: model folder not found")
    if not path.is_dir():
        raise ModelFolderError(f"{path}: not a folder (expected a model folder written by recipe.train)")
    if not (path / "config.json").is_file():
        raise ModelFolderError(f"{path}: not a model folder (no config.json; expected recipe.train's --output_dir)")
    with model_load_errors(path):  # config.json alone: cheap, and catches a folder of another kind before any work
        AutoConfig.from_pretrained(str(path))
    return path


@contextlib.contextmanager
def model_load_errors(model_dir: str | Path) -> Iterator[None]:
    """Turn the errors transformers raises for a folder that is not a loadable model (unknown model_type, missing
    or damaged weights) into ModelFolderError naming the folder."""
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFolderError(f"{model_dir}: cannot load the model ({first})") from err


AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def default_device(device: str | torch.device | None = None) -> torch.device:
    """`device` as given, else cuda when available, else cpu."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def length_batches(lengths: Sequence[int], batch_size: int, same_length_only: bool) -> list[np.ndarray]:
    """Row indices grouped into batches in order of length; with ``same_length_only`` a batch never mixes
    lengths, so nothing gets padded."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    batches: list[np.ndarray] = []
    current: list[int] = []
    for i in np.argsort(lengths, kind="stable").tolist():
        if current and (len(current) == batch_size or (same_length_only and lengths[i] != lengths[current[0]])):
            batches.append(np.asarray(current))
            current = []
        current.append(i)
    if current:
        batches.append(np.asarray(current))
    return batches


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """torch autocast for "bf16"/"fp16" on `device`; a no-op for "fp32"."""
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(AUTOCAST_DTYPES)}, got {dtype!r}")
    if AUTOCAST_DTYPES[dtype] is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[dtype])


@torch.inference_mode()
def batch_probabilities(model: torch.nn.Module, extractor: Any, waves: Sequence[np.ndarray],
                        device: str | torch.device, dtype: str = "fp32") -> np.ndarray:
    """Softmax class probabilities (len(waves), num_labels) of one batch of 16 kHz mono waves: the extractor
    crops, normalises and pads them, the model runs on `device` (under autocast for "bf16"/"fp16")."""
    device = torch.device(device)
    inputs = extractor(list(waves), sampling_rate=extractor.sampling_rate, padding=True, return_tensors="pt")
    inputs = {key: value.to(device) for key, value in inputs.items()}
    with autocast(device, dtype):
        logits = model(**inputs).logits
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()
