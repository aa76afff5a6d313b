"""Checkpoint averaging: one model whose weights are the mean of the last K evaluated checkpoints' weights.

The average of nearby points of one training trajectory usually sits in a flatter region than any of them
(Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"), at no inference cost. The Trainer saves a
checkpoint at every evaluation (save_strategy = eval_strategy), so "the last K evaluated checkpoints" are the K
newest checkpoint-* folders; `training.save_total_limit` must keep them (checked in the config).
transformers has no such averaging, hence this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file

WEIGHTS_FILE = "model.safetensors"


def last_checkpoints(output_dir: str | Path, k: int) -> list[Path]:
    """The `k` newest checkpoint-STEP folders of `output_dir` holding model weights, oldest first."""
    found = []
    for folder in Path(output_dir).glob("checkpoint-*"):
        step = folder.name.rpartition("-")[2]
        if folder.is_dir() and step.isdigit() and (folder / WEIGHTS_FILE).is_file():
            found.append((int(step), folder))
    return [folder for _, folder in sorted(found)[-k:]]


def average_state_dicts(state_dicts: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Elementwise mean of floating-point tensors (accumulated in float64, returned in each tensor's dtype);
    other tensors (integer buffers) are taken from the last state dict. All must have the same keys."""
    if not state_dicts:
        raise ValueError("average_state_dicts: nothing to average")
    keys = set(state_dicts[0])
    for i, sd in enumerate(state_dicts[1:], start=1):
        if set(sd) != keys:
            raise ValueError(f"average_state_dicts: state dict {i} has different keys")
    out = {}
    for key, last in state_dicts[-1].items():
        if last.is_floating_point():
            total = sum(sd[key].to(torch.float64) for sd in state_dicts)
            out[key] = (total / len(state_dicts)).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def average_checkpoints(model: torch.nn.Module, checkpoints: Sequence[Path]) -> None:
    """Load the mean of the checkpoints' weights into `model` (tied or missing keys keep the model's own)."""
    averaged = average_state_dicts([load_file(str(Path(c) / WEIGHTS_FILE)) for c in checkpoints])
    missing, unexpected = model.load_state_dict(averaged, strict=False)
    if unexpected:
        raise ValueError(f"average_checkpoints: weights the model does not have: {sorted(unexpected)[:5]}")
