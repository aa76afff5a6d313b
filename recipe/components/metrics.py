"""Classification metrics for `Trainer.compute_metrics`: accuracy, UAR (macro recall) and macro-F1 (sklearn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score
from transformers import EvalPrediction


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, UAR and macro-F1 of integer predictions.

    UAR averages recall over the classes present in ``y_true`` (a class with no reference samples has no
    recall); macro-F1 uses sklearn's default label set (classes in ``y_true`` or ``y_pred``).
    """
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.size == 0:
        raise ValueError("classification_metrics: no samples")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"classification_metrics: {y_true.shape[0]} labels but {y_pred.shape[0]} predictions")
    present = np.unique(y_true)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "uar": float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def compute_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
    """`Trainer` hook: logits -> argmax -> `classification_metrics`."""
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    labels = eval_pred.label_ids
    return classification_metrics(np.asarray(labels), np.asarray(logits).argmax(axis=-1))
