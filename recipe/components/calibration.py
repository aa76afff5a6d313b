"""Calibrated confidence: post-hoc temperature scaling, expected calibration error, and the `uncertain` answer.

Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks") divides the logits by one scalar
T > 0 fitted to minimise the negative log-likelihood on held-out data (the validation split): the argmax, hence
accuracy, UAR and F1, is unchanged; only the probabilities move. The fitted T is stored as `temperature` in the
model's config.json and applied in the model's forward (`recipe.modeling`), so predict, `pipeline(...)`, the app
and the exported ONNX graph all return calibrated scores.

The expected calibration error (ECE) is the top-label ECE of Guo et al. with 15 equal-width confidence bins:
sum over bins of |bin| / n * |accuracy(bin) - mean confidence(bin)|. Written with numpy because sklearn has no ECE
(its `calibration_curve` gives per-bin points for one class of a binary problem only).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ECE_BINS = 15
# Search range of T: wide enough for any network seen in practice (over-confident ones need T of 1.5-5),
# narrow enough to keep the bounded search well conditioned.
TEMPERATURE_BOUNDS = (0.05, 50.0)
UNCERTAIN = "uncertain"
CONFIG_KEY = "temperature"
RELIABILITY_PNG = "reliability_diagram.png"


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature), in float64."""
    logits = np.asarray(logits, dtype=np.float64) / temperature
    labels = np.asarray(labels, dtype=np.int64)
    return float(-log_softmax(logits, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) on (logits, labels).

    One scalar, so a bounded 1-D search (scipy's Brent-type `minimize_scalar`) over log T finds it; the NLL is
    convex in 1/T, so the minimum is unique. ValueError for an empty set or non-finite logits.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) == 0 or len(labels) != len(logits):
        raise ValueError(f"need (n, classes) logits with n > 0 matching labels, got {logits.shape} and {labels.shape}")
    if not np.isfinite(logits).all():
        raise ValueError("logits hold NaN/inf values: cannot fit a temperature")
    low, high = (math.log(b) for b in TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: nll(logits, labels, math.exp(log_t)),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(result.x))


def reliability_bins(
    probs: np.ndarray, labels: Sequence[int] | np.ndarray, n_bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Top-label reliability table: per equal-width bin (lower, upper] of the top probability, the number of clips,
    their mean confidence and their accuracy (0.0 for empty bins, whose count is 0)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin i holds edges[i] < confidence <= edges[i + 1]; a confidence of exactly 0 cannot be a top label's.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    for i in range(n_bins):
        mine = index == i
        count = int(mine.sum())
        rows.append(
            {
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "count": count,
                "confidence": float(confidence[mine].mean()) if count else 0.0,
                "accuracy": float(correct[mine].mean()) if count else 0.0,
            }
        )
    return rows


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int] | np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE: sum over bins of (count / n) * |accuracy - mean confidence|, in [0, 1]."""
    rows = reliability_bins(probs, labels, n_bins)
    n = sum(row["count"] for row in rows)
    if n == 0:
        raise ValueError("no predictions: the ECE is undefined")
    return float(sum(row["count"] / n * abs(row["accuracy"] - row["confidence"]) for row in rows))


def calibration_report(
    logits_by_split: Mapping[str, np.ndarray],
    labels_by_split: Mapping[str, Sequence[int] | np.ndarray],
    fit_split: str,
    n_bins: int = ECE_BINS,
) -> dict[str, Any]:
    """Fit T on `fit_split` and measure ECE and NLL before (T = 1) and after (the fitted T) on every split.

    `logits_by_split` are the uncalibrated logits (temperature 1). Returns {"temperature", "fitted_on", "n_fit",
    "method", "bins", "splits": {name: {"n", "ece_before", "ece_after", "nll_before", "nll_after",
    "reliability_before", "reliability_after"}}}. The fitted split's "after" numbers are in-sample.
    """
    if fit_split not in logits_by_split:
        raise ValueError(f"no logits for the calibration split {fit_split!r}")
    temperature = fit_temperature(logits_by_split[fit_split], labels_by_split[fit_split])
    splits = {}
    for name, logits in logits_by_split.items():
        labels = np.asarray(labels_by_split[name], dtype=np.int64)
        before = softmax(np.asarray(logits, dtype=np.float64), axis=1)
        after = softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
        splits[name] = {
            "n": len(labels),
            "ece_before": round(expected_calibration_error(before, labels, n_bins), 6),
            "ece_after": round(expected_calibration_error(after, labels, n_bins), 6),
            "nll_before": round(nll(logits, labels), 6),
            "nll_after": round(nll(logits, labels, temperature), 6),
            "reliability_before": reliability_bins(before, labels, n_bins),
            "reliability_after": reliability_bins(after, labels, n_bins),
        }
    return {
        "temperature": round(temperature, 6),
        "fitted_on": fit_split,
        "n_fit": len(labels_by_split[fit_split]),
        "method": "temperature scaling: T minimising the NLL of softmax(logits / T), scipy minimize_scalar on log T",
        "bins": n_bins,
        "splits": splits,
    }


def record_calibration(
    results: dict[str, Any],
    logits_by_split: Mapping[str, np.ndarray],
    labels_by_split: Mapping[str, Sequence[int] | np.ndarray],
    fit_split: str,
    model_dir: str | Path | None,
    config: Any,
) -> dict[str, Any]:
    """Fit and measure (`calibration_report`) and put the numbers into an eval_results dict: each split gets
    "calibration" (ECE/NLL before and after, reliability tables), the dict gets "calibration" (temperature, where
    it was fitted, the figure). With `model_dir`, the temperature is written into its config.json (models whose
    config has a `temperature`, i.e. this recipe's) and RELIABILITY_PNG of the primary split is drawn there."""
    from recipe.components.plots import plot_reliability_diagram  # matplotlib: only when a figure is drawn

    report = calibration_report(logits_by_split, labels_by_split, fit_split)
    for name, numbers in report["splits"].items():
        results["splits"][name]["calibration"] = numbers
    stored = hasattr(config, CONFIG_KEY)
    summary = {key: report[key] for key in ("temperature", "fitted_on", "n_fit", "method", "bins")}
    summary.update(stored_in_config=stored and model_dir is not None, figure=None)
    if not stored:
        summary["note"] = "the model's config has no temperature (not this recipe's model): scores stay uncalibrated"
    if model_dir is not None:
        if stored:
            write_temperature(model_dir, report["temperature"])
            config.temperature = report["temperature"]
        primary = results["split"]
        numbers = report["splits"][primary]
        plot_reliability_diagram(
            numbers["reliability_before"],
            numbers["reliability_after"],
            Path(model_dir) / RELIABILITY_PNG,
            title=f"Reliability diagram ({primary}, n={numbers['n']}; T fitted on {fit_split})",
            ece=(numbers["ece_before"], numbers["ece_after"]),
            temperature=report["temperature"],
        )
        summary["figure"] = RELIABILITY_PNG
    results["calibration"] = summary
    return summary


def calibration_summary(results: Mapping[str, Any]) -> str:
    """One line per split: ECE before and after, with the temperature and where it was fitted."""
    calibration = results["calibration"]
    lines = [f"calibration: temperature {calibration['temperature']:.3f} fitted on {calibration['fitted_on']}"]
    for name, split in results["splits"].items():
        if "calibration" in split:
            numbers = split["calibration"]
            lines.append(
                f"  {name}: ECE {100 * numbers['ece_before']:.2f} % -> {100 * numbers['ece_after']:.2f} %, "
                f"NLL {numbers['nll_before']:.3f} -> {numbers['nll_after']:.3f} (n={numbers['n']})"
            )
    return "\n".join(lines)


def write_temperature(model_dir: str | Path, temperature: float) -> Path:
    """Store `temperature` in model_dir/config.json (every other entry kept), replacing the file atomically."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config[CONFIG_KEY] = float(temperature)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.json.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def stored_temperature(config_path: str | Path) -> float:
    """The temperature a config.json holds (1.0 when it has none: an uncalibrated model)."""
    return float(json.loads(Path(config_path).read_text()).get(CONFIG_KEY, 1.0))


def check_min_confidence(value: float | None) -> float | None:
    """`value` if it is None or in (0, 1], else ValueError (a probability threshold)."""
    if value is not None and not 0.0 < value <= 1.0:
        raise ValueError(f"--min_confidence must be in (0, 1], got {value}")
    return value


def decide(probabilities: Mapping[str, float], min_confidence: float | None) -> str:
    """The top label, or UNCERTAIN when its probability is below `min_confidence` (None: always the top label)."""
    label = max(probabilities, key=probabilities.get)
    if min_confidence is not None and probabilities[label] < min_confidence:
        return UNCERTAIN
    return label


def stamp_onnx_temperature(onnx_path: str | Path, temperature: float) -> None:
    """Record in the graph's metadata_props the temperature its traced forward divides the logits by, so the
    onnx backend can tell a graph exported before the latest calibration (`check_onnx_temperature`)."""
    import onnx

    from recipe.components.inference import TEMPERATURE_METADATA

    graph = onnx.load(str(onnx_path))
    entries = {prop.key: prop.value for prop in graph.metadata_props}
    entries[TEMPERATURE_METADATA] = repr(float(temperature))
    onnx.helper.set_model_props(graph, entries)
    onnx.save(graph, str(onnx_path))


def check_onnx_temperature(model_dir: str | Path, onnx_model: Any) -> None:
    """ValueError when the graph divides its logits by another temperature than model_dir/config.json holds (the
    model was calibrated again after the export): its scores would not be the torch model's."""
    config_path = Path(model_dir) / "config.json"
    if not config_path.is_file():
        return
    wanted = stored_temperature(config_path)
    if not math.isclose(onnx_model.temperature, wanted, rel_tol=1e-6):
        raise ValueError(
            f"{onnx_model.path}: exported with calibration temperature {onnx_model.temperature:g}, but "
            f"{config_path} holds {wanted:g} (calibrated after the export): re-run python -m recipe.export "
            f"--model {model_dir}"
        )
