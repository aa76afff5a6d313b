"""Training losses on soft targets: cross-entropy or focal loss, with label smoothing and optional class weights.

Both take probability targets (one-hot labels, or mixup's mixed one-hots) so they compose with mixup and label
smoothing the same way: targets are smoothed first (``t * (1 - eps) + eps / C``, torch's rule), then

* cross-entropy: ``-sum_c w_c t_c log p_c``;
* focal (Lin et al. 2017, generalised to soft targets): ``-sum_c w_c t_c (1 - p_c)^gamma log p_c``, which down-weights
  the classes the model already predicts confidently (gamma = 0 is cross-entropy);

averaged over the batch rows (torch's reduction for probability targets, also with weights). ``w`` is 1 without
class weights. torch has no focal loss for multi-class soft targets, hence the few lines here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

LOSSES = ("cross_entropy", "focal")
CLASS_WEIGHTS = ("none", "inverse_frequency")


def smooth_targets(targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """torch's label smoothing of probability targets: ``t * (1 - eps) + eps / C``."""
    return targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[-1]


def soft_target_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    label_smoothing: float = 0.0,
    gamma: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean focal (gamma > 0) or cross-entropy (gamma = 0) loss of `logits` (B, C) against probability `targets`
    (B, C), computed in float32 whatever the autocast dtype of the logits."""
    logits = logits.float()
    weight = None if class_weights is None else class_weights.to(device=logits.device, dtype=torch.float32)
    if gamma == 0:
        return F.cross_entropy(logits, targets.float(), weight=weight, label_smoothing=label_smoothing)
    log_p = F.log_softmax(logits, dim=-1)
    t = smooth_targets(targets.float(), label_smoothing)
    per_class = -t * (1.0 - log_p.exp()).pow(gamma) * log_p
    if weight is not None:
        per_class = per_class * weight
    return per_class.sum(dim=-1).mean()


def inverse_frequency_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> torch.Tensor:
    """``w_c = N / (C * n_c)`` (sklearn's "balanced"): a class seen half as often as average weighs 2. A class
    with no training clip gets weight 0 (it never appears as a target)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    total = counts.sum()
    if total == 0:
        raise ValueError("inverse_frequency_weights: no labels")
    weights = np.where(counts > 0, total / (num_classes * np.maximum(counts, 1.0)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)
