"""Figures of the evaluation report: confusion matrix and per-epoch training curves (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from common.log_history import epoch_rows  # noqa: E402
from recipe.components.metrics_report import row_normalise  # noqa: E402

CURVE_KEYS = ("train_loss", "eval_loss", "train_accuracy", "eval_accuracy")


def epoch_curves(log_history: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Per-epoch series from a Trainer ``log_history``: {key: [(epoch, value), ...]} for CURVE_KEYS
    (rows from ``common.log_history.epoch_rows``: per-epoch entries only, a later entry for an epoch wins)."""
    rows = epoch_rows(log_history, CURVE_KEYS)
    return {key: [(row["epoch"], float(row[key])) for row in rows if key in row] for key in CURVE_KEYS}


def plot_training_curves(
    log_history: Sequence[dict[str, Any]], path: str | Path, unfreeze_epoch: float | None = None
) -> Path:
    """Loss and accuracy per epoch (train vs validation) side by side; a dashed line where the encoder
    was unfrozen. Raises ValueError when the log has no per-epoch values at all."""
    curves = epoch_curves(log_history)
    if not any(curves.values()):
        raise ValueError(
            "log_history has no per-epoch train_loss/eval_loss/train_accuracy/eval_accuracy entries to plot"
        )
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for split, style in (("train", "o-"), ("eval", "s-")):
            points = curves[f"{split}_{metric}"]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, label="train" if split == "train" else "validation")
        if unfreeze_epoch is not None:
            ax.axvline(
                unfreeze_epoch, color="grey", linestyle="--", label=f"encoder unfrozen after epoch {unfreeze_epoch:g}"
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion_matrix(
    counts: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    title: str = "Confusion matrix",
) -> Path:
    """Row-normalised confusion matrix as a heat map, each cell annotated with its percentage and count."""
    counts = np.asarray(counts)
    rates = row_normalise(counts)
    size = max(4.0, 0.9 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{100 * rates[i, j]:.0f}%\n({counts[i, j]})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reliability_diagram(
    before: Sequence[dict[str, float]],
    after: Sequence[dict[str, float]],
    path: str | Path,
    title: str = "Reliability diagram",
    ece: tuple[float, float] | None = None,
    temperature: float | None = None,
) -> Path:
    """Accuracy per confidence bin before and after temperature scaling (rows of
    `recipe.components.calibration.reliability_bins`), side by side, against the diagonal of perfect calibration;
    bars are as wide as the bin, empty bins are left blank, each bar's clip count is written above it."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), dpi=100, sharey=True)
    names = ("before (T = 1)", "after" + (f" (T = {temperature:.3g})" if temperature is not None else ""))
    for k, (ax, rows, name) in enumerate(zip(axes, (before, after), names)):
        filled = [row for row in rows if row["count"]]
        ax.bar(
            [row["lower"] for row in filled],
            [row["accuracy"] for row in filled],
            width=[row["upper"] - row["lower"] for row in filled],
            align="edge",
            edgecolor="black",
            color="tab:blue",
            alpha=0.8,
            label="accuracy",
        )
        ax.plot(
            [row["confidence"] for row in filled],
            [row["accuracy"] for row in filled],
            "o",
            color="tab:orange",
            label="mean confidence",
        )
        for row in filled:
            ax.text(
                (row["lower"] + row["upper"]) / 2,
                min(row["accuracy"], 0.95) + 0.02,
                str(row["count"]),
                ha="center",
                fontsize=6,
            )
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("confidence (top probability)")
        ax.set_title(name + (f": ECE {ece[k]:.3f}" if ece is not None else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
