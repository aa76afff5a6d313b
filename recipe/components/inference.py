"""Batched inference shared by `recipe.evaluate` (dataset splits) and `recipe.predict` (audio files): batches in
order of length, and one batch turned into class probabilities."""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

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
