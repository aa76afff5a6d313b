"""Evaluating a trained model folder on a prepared dataset (`python -m recipe.evaluate`), and what it writes.

Writes into the model folder:
- ``eval_results.json``: every number (schema below, ``SCHEMA_VERSION``),
- ``confusion_matrix.png``: row-normalised confusion matrix of the primary split, counts annotated,
- ``reliability_diagram.png``: accuracy per confidence bin before/after temperature scaling (primary split),
- ``training_curves.png``: per-epoch loss/accuracy from ``trainer_state.json`` (unfreeze epoch marked),
  when the folder holds a training log.

eval_results.json::

    {"schema_version": 1, "split": "test", "labels": [...six emotions...],
     "model_dir": str, "data_dir": str, "evaluated_at": ISO time,
     "inference": {"device", "precision", "precision_reason", "batch_size", "sampling_rate", "batching"},
     "figures": {"confusion_matrix": "confusion_matrix.png", "training_curves": "training_curves.png" | null},
     "splits": {SPLIT: {"n", "accuracy", "uar", "macro_f1", "classes_absent", "per_class": {label: {"accuracy",
                 "precision", "f1", "support", "predicted"}}, "confusion_matrix": {"labels", "counts", "normalised"},
                 "top_confusions": [{"true", "pred", "rate", "count", "text"}], "per_corpus": {c: {"accuracy",
                 "correct", "n"}}, "per_language": {...}, "baselines": {"majority": {...}, "random": {...},
                 "classical": {...} (added by `python -m recipe.baseline --model OUT`)},
                 "ci95": {"accuracy": [low, high], "uar": [...], "macro_f1": [...], "resampled": "speakers" | "clips",
                 "confidence", "method", "n_clusters", "n_resamples", "seed"}}}}

With calibration (``calibrate_on``, default validation; see recipe.components.calibration) each split also has
``"calibration": {"n", "ece_before", "ece_after", "nll_before", "nll_after", "reliability_before",
"reliability_after"}`` (15-bin top-label ECE; before: temperature 1, after: the fitted one), the document has
``"calibration": {"temperature", "fitted_on", "n_fit", "method", "bins", "stored_in_config", "figure"}`` and
``figures.reliability_diagram`` (``reliability_diagram.png``, the primary split); the temperature is written into
the model's config.json, so every later prediction is calibrated. The fitted split's "after" figures are
in-sample; the other splits' are held out.

``split`` is the primary split (figures, headline metrics); ``splits`` also holds each ``--also`` split
(default: validation), evaluated the same way, so the model card can show validation and test side by side.
All rates are fractions in [0, 1]; "accuracy" is the weighted accuracy (WA), "uar" the macro recall.
``ci95`` is a percentile-bootstrap 95 % interval that resamples whole speakers (clips when the split has fewer
than two speaker ids), see recipe.components.uncertainty.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from common.cli import UserError
from common.outputs import check_disjoint
from data_prep.dataset import load_prepared

from .calibration import record_calibration
from .inference import (
    OnnxModel,
    batch_logits,
    check_model_folder,
    default_device,
    padding_is_masked,
    plan_batches,
)
from .metrics_report import classification_report, majority_baseline, random_baseline
from .model_io import load_model
from .plots import plot_confusion_matrix, plot_training_curves
from .precision import choose_precision, probe_hardware
from .speaker_norm import grouped_probabilities, uses_speaker_norm
from .uncertainty import bootstrap_ci

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RESULTS_FILE = "eval_results.json"
CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "training_curves.png"
GROUP_COLUMNS = ("corpus", "language")


class EvalInputError(UserError, ValueError):
    """Model and dataset that cannot be evaluated together (one line, exit 2)."""


def label_names(dataset: Dataset, model_id2label: dict[int, str], where: str) -> list[str]:
    """The dataset's ClassLabel names, checked against the model's id2label (same classes, same order)."""
    names = list(dataset.features["label"].names)
    model_names = [model_id2label[i] for i in range(len(model_id2label))]
    if names != model_names:
        raise EvalInputError(f"{where}: model labels {model_names} differ from the dataset's {names}")
    return names


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module | OnnxModel,
    feature_extractor: Any,
    dataset: Dataset,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
) -> np.ndarray:
    """Logits for every row of ``dataset`` (returned in the dataset's row order), under autocast for ``dtype``
    "bf16"/"fp16" (torch models).

    Batches follow `plan_batches` (the rule `recipe.predict` and the app use too), so every clip gets exactly the
    prediction it would get on its own (as in `pipeline`), whatever the batch size.
    """
    audio = dataset.select_columns(["audio"]).with_format("numpy")  # float32 arrays, not Python lists
    if uses_speaker_norm(model) and "speaker" in dataset.column_names:  # each speaker's clips normalised together
        waves = [np.asarray(a, dtype=np.float32) for a in audio["audio"]]
        model.to(device)
        probs = grouped_probabilities(model, feature_extractor, waves, dataset["speaker"], batch_size, dtype)
        # log-probabilities are logits of the same softmax (an ensemble's averaged probabilities included)
        return np.log(np.clip(probs, np.finfo(np.float32).tiny, None)).astype(np.float32)
    batches = plan_batches(dataset["length"], batch_size, feature_extractor)
    logits = np.zeros((len(dataset), model.config.num_labels), dtype=np.float32)
    if isinstance(model, torch.nn.Module):
        model.eval().to(device)
    for idx in batches:
        waves = [np.asarray(a, dtype=np.float32) for a in audio[idx.tolist()]["audio"]]
        logits[idx] = batch_logits(model, feature_extractor, waves, device, dtype)
    return logits


def predict_probabilities(
    model: torch.nn.Module | OnnxModel,
    feature_extractor: Any,
    dataset: Dataset,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    dtype: str = "fp32",
) -> np.ndarray:
    """Softmax class probabilities of `predict_logits`."""
    logits = predict_logits(model, feature_extractor, dataset, batch_size, device, dtype)
    return torch.softmax(torch.from_numpy(logits), dim=-1).numpy()


def evaluate_split(
    probs: np.ndarray, dataset: Dataset, train_labels: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """All numbers of one split from its probabilities and metadata columns, plus the two baselines."""
    y_true = np.asarray(dataset["label"], dtype=np.int64)
    y_pred = probs.argmax(axis=-1)
    report = classification_report(y_true, y_pred, labels, groups={col: dataset[col] for col in GROUP_COLUMNS})
    speakers = dataset["speaker"] if "speaker" in dataset.column_names else None
    report["ci95"] = bootstrap_ci(y_true, y_pred, len(labels), speakers)
    report["baselines"] = {
        "majority": majority_baseline(train_labels, y_true, labels),
        "random": random_baseline(y_true, labels),
    }
    return report


def draw_training_curves(model_dir: Path) -> str | None:
    """training_curves.png from model_dir/trainer_state.json (+ run_info.json's unfreeze_epoch); None if the
    folder has no training log (e.g. a model trained elsewhere), which is logged, not silent."""
    state_path = model_dir / "trainer_state.json"
    if not state_path.is_file():
        logger.warning("%s not found: %s not drawn", state_path, CURVES_PNG)
        return None
    try:
        log_history = json.loads(state_path.read_text())["log_history"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{state_path}: not a Trainer state with a log_history ({err})") from err
    info_path = model_dir / "run_info.json"
    unfreeze = json.loads(info_path.read_text()).get("unfreeze_epoch") if info_path.is_file() else None
    # unfreeze_epoch 0/None means the encoder was never frozen: nothing to mark.
    plot_training_curves(log_history, model_dir / CURVES_PNG, unfreeze_epoch=unfreeze or None)
    return CURVES_PNG


def evaluate_model(
    model_dir: str | Path,
    data_dir: str | Path,
    split: str = "test",
    also: Sequence[str] = ("validation",),
    batch_size: int = 8,
    device: str | None = None,
    write: bool = True,
    precision: str = "auto",
    calibrate_on: str | None = "validation",
) -> dict[str, Any]:
    """Evaluate the model saved in ``model_dir`` on ``split`` (and each ``also`` split) of ``data_dir``, in
    ``precision`` (auto|fp32|fp16|bf16, see `components.precision`); fit the calibration temperature on
    ``calibrate_on`` (evaluated too; None: no calibration), see `components.calibration`.

    Returns the eval_results.json dict; with ``write`` also writes it and the figures into ``model_dir``, and the
    fitted temperature into its config.json (a ``model_dir`` that is, holds or lies inside ``data_dir`` is refused).
    """
    check_disjoint(model_dir, [("--data", data_dir)] if write else [], flag="--model")  # it writes into model_dir
    model_dir, data_dir = check_model_folder(model_dir), Path(data_dir)
    splits = [split] + [s for s in dict.fromkeys([*also, *([calibrate_on] if calibrate_on else [])]) if s != split]
    dsd = load_prepared(data_dir, [*splits, "train"], ("audio", "label", "length", *GROUP_COLUMNS))
    device = default_device(device)
    chosen = choose_precision(precision, probe_hardware(device), key="--precision")
    model, feature_extractor = load_model(model_dir, device)
    labels = label_names(dsd[split], model.config.id2label, f"{model_dir} vs {data_dir}")
    if hasattr(model.config, "temperature"):
        model.config.temperature = 1.0  # the uncalibrated logits: metrics and the fit start from them
    train_labels = dsd["train"]["label"]

    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "split": split,
        "labels": labels,
        "model_dir": str(model_dir),
        "data_dir": str(data_dir),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inference": {
            "device": str(device),
            "precision": chosen.name,
            "precision_reason": chosen.reason,
            "batch_size": batch_size,
            "sampling_rate": int(feature_extractor.sampling_rate),
            "batching": "padded batches, padding masked"
            if padding_is_masked(feature_extractor)
            else "equal-length batches, no padding (no attention mask for this encoder)",
        },
        "splits": {},
    }
    logits = {}
    for name in splits:
        logits[name] = predict_logits(model, feature_extractor, dsd[name], batch_size, device, chosen.name)
        probs = torch.softmax(torch.from_numpy(logits[name]), dim=-1).numpy()
        results["splits"][name] = evaluate_split(probs, dsd[name], train_labels, labels)
        logger.info(
            "%s: accuracy %.4f, UAR %.4f, macro-F1 %.4f (n=%d)",
            name,
            results["splits"][name]["accuracy"],
            results["splits"][name]["uar"],
            results["splits"][name]["macro_f1"],
            results["splits"][name]["n"],
        )
    if calibrate_on:
        true = {name: dsd[name]["label"] for name in splits}
        record_calibration(results, logits, true, calibrate_on, model_dir if write else None, model.config)
    if write:
        primary = results["splits"][split]
        plot_confusion_matrix(
            primary["confusion_matrix"]["counts"],
            labels,
            model_dir / CONFUSION_PNG,
            title=f"Confusion matrix ({split}, n={primary['n']})",
        )
        results["figures"] = {
            "confusion_matrix": CONFUSION_PNG,
            "training_curves": draw_training_curves(model_dir),
            "reliability_diagram": (results.get("calibration") or {}).get("figure"),
        }
        (model_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results
