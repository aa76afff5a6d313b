"""Uncertainty of the headline metrics: bootstrap 95 % intervals for one evaluation, t intervals over seeds.

The bootstrap is ``scipy.stats.bootstrap`` (percentile method) over *clusters*: when the split has speaker ids,
whole speakers are resampled with replacement (a cluster bootstrap: clips of one speaker are not independent,
so resampling clips would understate the spread); without them every clip is its own cluster. Each resample's
accuracy / UAR / macro-F1 is computed from the summed per-cluster confusion matrices, vectorised over resamples,
with exactly the definitions of ``recipe.components.metrics.classification_metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

METRICS: tuple[str, ...] = ("accuracy", "uar", "macro_f1")
CONFIDENCE = 0.95


def metrics_from_confusion(counts: np.ndarray) -> np.ndarray:
    """(..., K, K) confusion counts (rows true, columns predicted) -> (3, ...) accuracy, UAR, macro-F1.

    UAR averages recall over the classes present in the true labels; macro-F1 over the classes that are true or
    predicted at least once (sklearn's default label set)."""
    counts = np.asarray(counts, dtype=np.float64)
    tp = np.diagonal(counts, axis1=-2, axis2=-1)
    true = counts.sum(axis=-1)
    pred = counts.sum(axis=-2)
    n = true.sum(axis=-1)
    accuracy = tp.sum(axis=-1) / n
    present = true > 0
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=present)
    uar = recall.sum(axis=-1) / present.sum(axis=-1)
    seen = (true + pred) > 0
    f1 = np.divide(2 * tp, true + pred, out=np.zeros_like(tp), where=seen)
    macro_f1 = f1.sum(axis=-1) / seen.sum(axis=-1)
    return np.stack([accuracy, uar, macro_f1])


def cluster_confusions(y_true: np.ndarray, y_pred: np.ndarray, clusters: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_clusters, K, K) confusion counts of each cluster (clusters in sorted order)."""
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    flat = (cluster_ids * n_classes + y_true) * n_classes + y_pred
    n_clusters = int(cluster_ids.max()) + 1
    return np.bincount(flat, minlength=n_clusters * n_classes * n_classes).reshape(n_clusters, n_classes, n_classes)


def bootstrap_ci(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    n_classes: int,
    speakers: Sequence[str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Percentile-bootstrap intervals of accuracy, UAR and macro-F1.

    Resamples speakers (whole, with all their clips) when ``speakers`` is given and holds at least two distinct
    ids, otherwise clips. Returns {"accuracy": [low, high], "uar": [...], "macro_f1": [...], "confidence",
    "method", "resampled": "speakers" | "clips", "n_clusters", "n_resamples", "seed"}.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.size == 0 or y_true.shape != y_pred.shape:
        raise ValueError(f"bootstrap_ci: need equally long non-empty label arrays, got {y_true.shape}, {y_pred.shape}")
    by_speaker = speakers is not None and len(set(speakers)) >= 2
    clusters = np.asarray(speakers, dtype=object) if by_speaker else np.arange(y_true.size)
    if by_speaker and len(clusters) != y_true.size:
        raise ValueError(f"bootstrap_ci: {len(clusters)} speaker ids for {y_true.size} clips")
    per_cluster = cluster_confusions(y_true, y_pred, clusters, n_classes)

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        # index: (..., n_clusters) resampled cluster numbers -> (3, ...) metrics of the pooled clips
        return metrics_from_confusion(per_cluster[index.astype(np.int64)].sum(axis=-3))

    batch = max(1, 4_000_000 // per_cluster.size)  # resamples per vectorised call: bounded memory
    result = stats.bootstrap(
        (np.arange(len(per_cluster)),),
        statistic,
        n_resamples=n_resamples,
        batch=batch,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    out: dict[str, Any] = {m: [float(low[i]), float(high[i])] for i, m in enumerate(METRICS)}
    out.update(
        confidence=confidence,
        method="percentile bootstrap (scipy.stats.bootstrap)",
        resampled="speakers" if by_speaker else "clips",
        n_clusters=len(per_cluster),
        n_resamples=n_resamples,
        seed=seed,
    )
    return out


def mean_std_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof 1) and Student-t interval of the mean of a few runs (seeds, folds).

    With a single value std and ci95 are None: one run says nothing about the spread."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_std_ci: no values")
    mean = float(arr.mean())
    if arr.size < 2:
        return {"mean": mean, "std": None, "ci95": None}
    std = float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, arr.size - 1) * std / np.sqrt(arr.size))
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half]}
