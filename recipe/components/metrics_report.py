"""Pure evaluation computations over labels/predictions (no model, no files): the numbers of eval_results.json.

Everything takes integer class ids (indices into ``labels``) so it can be tested with hand-made arrays.
sklearn supplies the metrics themselves; this module only arranges them into the report's shape and adds
what sklearn lacks (confusion pairs in words, group-wise accuracy, chance baselines).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from recipe.components.metrics import classification_metrics


def _as_ids(values: Sequence[int] | np.ndarray, n_classes: int, name: str) -> np.ndarray:
    """Validate a 1-D array of class ids in [0, n_classes)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(
            f"{name} must hold integer class ids in [0, {n_classes}), got {arr.dtype} "
            f"values in [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Divide each confusion-matrix row by its total (rows with no true examples stay all zero)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def headline_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy (= weighted accuracy, WA), UAR (macro recall) and macro-F1, with exactly the definitions the
    Trainer logged during training (recipe.components.metrics.classification_metrics): UAR averages recall over the
    classes present in ``y_true``; macro-F1 over the classes in ``y_true`` or ``y_pred`` (sklearn's default).
    The report lists classes absent from the split separately so this is never hidden.
    """
    if len(y_true) == 0:
        raise ValueError("cannot compute metrics on an empty split")
    return classification_metrics(y_true, y_pred)


def top_confusions(counts: np.ndarray, labels: Sequence[str], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` largest off-diagonal cells of the row-normalised confusion matrix, largest first.

    Each entry: {"true", "pred", "rate" (fraction of the true class), "count", "text": "fear → sad: 14.00 %"}.
    Ties on rate are broken by count, then by class order. Empty cells are never listed.
    """
    counts = np.asarray(counts)
    rates = row_normalise(counts)
    cells = [(i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j and counts[i, j] > 0]
    cells.sort(key=lambda ij: (-rates[ij], -counts[ij], ij))
    return [
        {
            "true": labels[i],
            "pred": labels[j],
            "rate": float(rates[i, j]),
            "count": int(counts[i, j]),
            "text": f"{labels[i]} → {labels[j]}: {100 * rates[i, j]:.2f} %",
        }
        for i, j in cells[:k]
    ]


def group_accuracy(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Accuracy within each group (corpus, language, ...): {group: {"accuracy", "correct", "n"}}, sorted by name."""
    groups = np.asarray(groups, dtype=object)
    if len(groups) != len(y_true):
        raise ValueError(f"groups has {len(groups)} entries but there are {len(y_true)} examples")
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(groups.tolist())):
        mask = groups == name
        correct = int((y_true[mask] == y_pred[mask]).sum())
        out[str(name)] = {"accuracy": correct / int(mask.sum()), "correct": correct, "n": int(mask.sum())}
    return out


def classification_report(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    labels: Sequence[str],
    *,
    groups: dict[str, Sequence[str]] | None = None,
    k_confusions: int = 5,
) -> dict[str, Any]:
    """All numbers for one split.

    Returns {"n", "accuracy", "uar", "macro_f1", "classes_absent", "per_class": {label: {"accuracy" (recall),
    "precision", "f1", "support", "predicted"}}, "confusion_matrix": {"labels", "counts", "normalised"},
    "top_confusions": [...], "per_<group>": {...} for each entry of ``groups`` (e.g. corpus, language)}.
    """
    n_classes = len(labels)
    y_true = _as_ids(y_true, n_classes, "y_true")
    y_pred = _as_ids(y_pred, n_classes, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} entries but y_pred has {len(y_pred)}")
    ids = list(range(n_classes))
    counts = confusion_matrix(y_true, y_pred, labels=ids)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    predicted = counts.sum(axis=0)
    report: dict[str, Any] = {"n": int(len(y_true)), **headline_metrics(y_true, y_pred)}
    report["classes_absent"] = [labels[i] for i in ids if support[i] == 0]
    report["per_class"] = {
        labels[i]: {
            "accuracy": float(recall[i]) if support[i] else None,
            "precision": float(precision[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(predicted[i]),
        }
        for i in ids
    }
    report["confusion_matrix"] = {
        "labels": list(labels),
        "counts": counts.tolist(),
        "normalised": row_normalise(counts).tolist(),
    }
    report["top_confusions"] = top_confusions(counts, labels, k_confusions)
    for name, values in (groups or {}).items():
        report[f"per_{name}"] = group_accuracy(y_true, y_pred, values)
    return report


def majority_baseline(train_labels: Sequence[int], y_true: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Always predict the most frequent TRAIN class (ties: first in label order); its metrics on ``y_true``."""
    n_classes = len(labels)
    train_ids = _as_ids(train_labels, n_classes, "train_labels")
    if train_ids.size == 0:
        raise ValueError("majority baseline needs a non-empty training split")
    freq = Counter(train_ids.tolist())
    best = min(freq, key=lambda c: (-freq[c], c))
    y_true = _as_ids(y_true, n_classes, "y_true")
    y_pred = np.full_like(y_true, best)
    return {
        "class": labels[best],
        "method": "most frequent training class (ties: first in label order), predicted for every example",
        **headline_metrics(y_true, y_pred),
    }


def random_baseline(y_true: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Expected scores of guessing uniformly at random among all classes, computed exactly (no sampling).

    Accuracy and UAR: every example is right with probability 1/K, so both expectations are exactly 1/K.
    Macro-F1 has no closed-form expectation; we report the macro-F1 of the EXPECTED confusion matrix (each
    true row spread evenly over the K columns, so every class is predicted and enters the average, as in
    sklearn's default), which is what the "macro_f1" entry here means.
    """
    n_classes = len(labels)
    y_true = _as_ids(y_true, n_classes, "y_true")
    if y_true.size == 0:
        raise ValueError("cannot compute a baseline on an empty split")
    support = np.bincount(y_true, minlength=n_classes).astype(np.float64)
    expected = np.repeat(support[:, None] / n_classes, n_classes, axis=1)  # expected confusion counts
    tp = np.diag(expected)
    precision = tp / expected.sum(axis=0)  # column sums are N/K > 0
    recall = np.full(n_classes, 1.0 / n_classes)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=(precision + recall) > 0)
    return {
        "method": "uniform random guess over all classes, exact expectation (macro_f1: F1 of the "
        "expected confusion matrix)",
        "accuracy": 1.0 / n_classes,
        "uar": 1.0 / n_classes,
        "macro_f1": float(f1.mean()),
    }
