"""Per-epoch rows from a Trainer ``log_history`` (trainer_state.json): read by the evaluation plots and the card."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

EPOCH_KEYS = ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "eval_uar", "eval_macro_f1")


def epoch_rows(log_history: Iterable[dict[str, Any]], keys: Sequence[str] = EPOCH_KEYS) -> list[dict[str, Any]]:
    """One dict per epoch, sorted by epoch: ``{"epoch": float, key: value, ..., "step": int}``.

    Only entries that carry an ``epoch`` and at least one of ``keys`` count. Trainer's step-wise ``loss`` logs
    are not read (the recipe's callback logs ``train_loss``/``train_accuracy`` once per epoch), and neither is
    the end-of-training summary (the entry with ``train_runtime``), whose ``train_loss`` averages all steps.
    A later entry for the same epoch wins; ``None`` values are left out. ``step`` is the global step of the
    epoch's evaluation (the entry with ``eval_loss``), which is how a checkpoint is matched to its epoch.
    """
    by_epoch: dict[float, dict[str, Any]] = {}
    for entry in log_history:
        if "epoch" not in entry or "train_runtime" in entry:
            continue
        values = {k: entry[k] for k in keys if entry.get(k) is not None}
        if not values:
            continue
        epoch = float(entry["epoch"])
        row = by_epoch.setdefault(epoch, {"epoch": epoch})
        row.update(values)
        if "eval_loss" in entry:
            row["step"] = entry.get("step")
    return [by_epoch[e] for e in sorted(by_epoch)]
