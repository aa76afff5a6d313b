"""The switchable training techniques of `recipe.*` put together for one run: loss (focal, class weights),
per-class augmentation, the collapse guard and checkpoint averaging. `recipe.train` calls `build_techniques`
before the Trainer exists and `finish_techniques` after training; each technique lives in its own module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .augment import BatchAugmenter, WaveAugmenter
from .checkpoint_average import average_checkpoints, last_checkpoints
from .collapse import CollapseGuardCallback, PredictionSpread
from .config import ConfigError, RecipeConfig
from .losses import inverse_frequency_weights


@dataclass
class Techniques:
    """What the Trainer is built with (`trainer_kwargs`, `compute_metrics`, `callbacks`) and what run_info keeps."""

    trainer_kwargs: dict[str, Any]
    compute_metrics: Any
    callbacks: list[Any]
    collapse: CollapseGuardCallback
    info: dict[str, Any] = field(default_factory=dict)


def build_techniques(
    cfg: RecipeConfig, train_labels: np.ndarray | None, label_names: list[str], collator: Any, compute_metrics: Any
) -> Techniques:
    """Loss settings, the augmenter (switches `collator` to report clip lengths when on) and the collapse guard;
    `train_labels` (the train split's label ids) are needed for class weights only."""
    r = cfg.recipe
    kwargs: dict[str, Any] = {"focal_gamma": r.focal_gamma if r.loss == "focal" else 0.0}
    info: dict[str, Any] = {"loss": r.loss}
    if r.loss == "focal":
        info["focal_gamma"] = r.focal_gamma
    if r.class_weights == "inverse_frequency":
        if train_labels is None:
            raise ConfigError("recipe.class_weights: inverse_frequency needs the train split's labels")
        weights = inverse_frequency_weights(train_labels, len(label_names))
        kwargs["class_weights"] = weights
        info["class_weights"] = {name: round(float(w), 6) for name, w in zip(label_names, weights, strict=True)}
    augmenter = WaveAugmenter(
        label_names,
        collator.feature_extractor.sampling_rate,
        speed_perturb=r.speed_perturb,
        speed_factors=r.speed_factors,
        noise_augment=r.noise_augment,
        noise_snr_db=r.noise_snr_db,
    )
    if augmenter.active:
        collator.return_lengths = True
        kwargs["augmenter"] = BatchAugmenter(augmenter, collator)
        info["augmentation"] = {
            "speed_perturb": dict(r.speed_perturb),
            "speed_factors": list(r.speed_factors),
            "noise_augment": dict(r.noise_augment),
            "noise_snr_db": list(r.noise_snr_db),
        }
    spread = PredictionSpread(compute_metrics, len(label_names))
    collapse = CollapseGuardCallback(spread, dict(enumerate(label_names)))
    return Techniques(kwargs, spread, [collapse], collapse, info)


def finish_techniques(cfg: RecipeConfig, trainer: Any, techniques: Techniques, out: Path) -> dict[str, Any] | None:
    """Checkpoint averaging when asked: the model becomes the mean of the last K checkpoints and is evaluated on
    the validation split; returns those metrics (None when averaging is off)."""
    k = cfg.recipe.checkpoint_average
    if k <= 0:
        return None
    checkpoints = last_checkpoints(out, k)
    if len(checkpoints) < k:
        print(f"recipe.train: checkpoint_average {k}: only {len(checkpoints)} checkpoint(s) to average", flush=True)
    if not checkpoints:
        raise ConfigError(f"recipe.checkpoint_average {k}: no checkpoint-* folder in {out} to average")
    average_checkpoints(trainer.model, checkpoints)
    metrics = dict(trainer.evaluate())
    techniques.info["checkpoint_average"] = {"k": k, "checkpoints": [c.name for c in checkpoints]}
    if trainer.is_world_process_zero():
        print(
            f"recipe.train: averaged the weights of {', '.join(c.name for c in checkpoints)}; validation "
            f"uar={metrics.get('eval_uar', float('nan')):.4f}",
            flush=True,
        )
    return metrics
