"""Variants of the recipe (named config overrides) and the summary of their runs: ablation_results.json, its
Markdown table and its bar chart. No training here (see recipe.experiments); pure functions over run results.

ablation_results.json::

    {"variants": [{"name", "overrides": {"section.key": value},
                   "runs": [{"seed", ["fold",] "test": {"accuracy", "uar", "macro_f1"}, "validation": {...},
                             "train_seconds"}],
                   "test": {"accuracy": {"mean", "std", "ci95"}, "uar": {...}, "macro_f1": {...}},
                   "delta_vs_baseline": {"accuracy": {"mean", "ci95"}, "uar": {...}, "macro_f1": {...}} | null}]}

``std`` is the sample standard deviation over runs (seeds, or folds x seeds); ``ci95`` the Student-t 95 %
interval of the mean. ``delta_vs_baseline`` pairs each seed's run with the baseline run of the same seed
(variant minus baseline) and is null for protocols whose test set differs from the baseline's (leave-one-corpus-out,
k-fold) or when no seed is shared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt
import numpy as np
import yaml

from common.cli import UserError
from recipe.components.uncertainty import METRICS, mean_std_ci

BASELINE = "baseline"
UNBALANCED_SPLIT = "train_unbalanced"  # written by data_prep with keep_unbalanced: true
# The built-in variants: what each switches off, as overrides of the run's config.
BUILTIN_VARIANTS: dict[str, dict[str, Any]] = {
    BASELINE: {},
    "no_mixup": {"recipe.mixup_alpha": 0.0},
    "no_label_smoothing": {"recipe.label_smoothing": 0.0},
    "mean_pooling": {"model.pooling": "mean"},
    "no_balancing": {"data.train_split": UNBALANCED_SPLIT},
    "no_freeze": {"recipe.freeze_encoder_epochs": 0, "model.freeze_feature_encoder": False},
    "from_scratch": {"model.from_scratch": True},  # recipe.experiments adds the encoder's architecture
}
# Protocols run as variant sets on data derived from the prepared set (recipe.experiments builds it).
PROTOCOLS = ("loco", "kfold")
METRIC_NAMES = {"accuracy": "accuracy", "uar": "UAR", "macro_f1": "macro-F1"}


class VariantError(UserError, ValueError):
    """A variant name or a variants file that cannot be used; the message names it."""


# A variant name is one folder name under OUT/runs: letters, digits, spaces, `_`, `.`, `+`, `-`, not starting with a dot
# (`..` would put runs beside OUT/runs, `.x` hides them) and never a path separator.
VARIANT_NAME = re.compile(r"\w[\w .+-]{0,99}")


def check_variant_name(name: object, where: str) -> str:
    """`name` as text when it can name a run folder under OUT/runs, else VariantError naming `where`."""
    text = str(name) if isinstance(name, (str, int)) and not isinstance(name, bool) else None
    if text is None or not VARIANT_NAME.fullmatch(text):
        raise VariantError(
            f"{where}: variant name {name!r} cannot name a run folder (use letters, digits, spaces, _ . + -, "
            "not starting with a dot, at most 100 characters)"
        )
    return text


def load_variant_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """User variants from YAML: ``variants: {NAME: {section.key: value, ...}}`` (a top-level mapping of names
    works too). Keys must be ``section.key``; their values are checked when the run's config is built."""
    path = Path(path)
    if not path.is_file():
        raise VariantError(f"{path}: variants file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise VariantError(f"{path}: not valid YAML ({err})") from None
    raw = raw.get("variants", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict):
        raise VariantError(f"{path}: expected `variants:` mapping names to overrides")
    out: dict[str, dict[str, Any]] = {}
    for name, overrides in raw.items():
        if not isinstance(overrides, dict) or not all(isinstance(k, str) and "." in k for k in overrides):
            raise VariantError(f"{path}: variant {name!r} must map section.key names to values")
        if str(name) in PROTOCOLS:
            raise VariantError(f"{path}: variant name {name!r} is reserved (a protocol)")
        out[check_variant_name(name, str(path))] = dict(overrides)
    return out


def run_folder(out: str | Path, variant: str, seed: int, fold: int | None = None) -> Path:
    """OUT/runs/VARIANT/seed-S[/fold-K]; VariantError for a variant name that would lead anywhere else."""
    runs = Path(out) / "runs"
    folder = runs / check_variant_name(variant, "--variants") / f"seed-{seed}"
    folder = folder / f"fold-{fold}" if fold is not None else folder
    if not folder.resolve().is_relative_to(runs.resolve()) or folder.resolve() == runs.resolve():
        raise VariantError(f"variant {variant!r}: its run folder {folder} is not inside {runs}")
    return folder


def as_cli_overrides(overrides: dict[str, Any]) -> list[str]:
    """{"recipe.mixup_alpha": 0.0, "model.head_sizes": [64]} -> ["--recipe.mixup_alpha", "0.0", ...] for
    recipe.train (a list as one value per item, a mapping as YAML flow text, as its config parser reads them)."""
    argv: list[str] = []
    for key, value in overrides.items():
        if isinstance(value, list):
            argv += [f"--{key}", *(str(item) for item in value)]
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict):
            text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        elif value is None:
            text = "null"
        else:
            text = str(value)
        argv += [f"--{key}={text}"]
    return argv


def summarise_variant(
    name: str, overrides: dict[str, Any], runs: list[dict[str, Any]], baseline_runs: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """One entry of ablation_results.json; `baseline_runs` None when the test sets differ (no paired delta)."""
    runs = sorted(runs, key=lambda r: (r.get("fold") or 0, r["seed"]))
    test = {m: mean_std_ci([r["test"][m] for r in runs]) for m in METRICS}
    delta = None
    if baseline_runs is not None:
        base = {r["seed"]: r for r in baseline_runs}
        pairs = [(r, base[r["seed"]]) for r in runs if r["seed"] in base]
        if pairs:
            delta = {}
            for m in METRICS:
                stats = mean_std_ci([r["test"][m] - b["test"][m] for r, b in pairs])
                delta[m] = {"mean": stats["mean"], "ci95": stats["ci95"]}
    return {"name": name, "overrides": overrides, "runs": runs, "test": test, "delta_vs_baseline": delta}


def _pm(stats: dict[str, Any]) -> str:
    mean = 100 * stats["mean"]
    return f"{mean:.2f}" if stats.get("std") is None else f"{mean:.2f} ± {100 * stats['std']:.2f}"


def _delta(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return "—"
    ci = stats.get("ci95")
    text = f"{100 * stats['mean']:+.2f}"
    return text if ci is None else f"{text} [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]"


def overrides_text(overrides: dict[str, Any]) -> str:
    """Short human form of a variant's overrides (architecture dicts abbreviated)."""
    if not overrides:
        return "(the config as is)"
    parts = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            value = f"{{{len(value)} keys}}"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def markdown_table(results: dict[str, Any]) -> str:
    """The Markdown table of ablation_results.json: test metrics as mean ± std (percent) and the paired change of
    each metric against the baseline with its 95 % interval (percentage points)."""
    header = [
        "variant",
        "runs",
        *[f"test {METRIC_NAMES[m]} %" for m in METRICS],
        *[f"Δ {METRIC_NAMES[m]} vs baseline (pp, 95 % CI)" for m in ("accuracy", "uar")],
        "overrides",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for v in results["variants"]:
        delta = v.get("delta_vs_baseline") or {}
        cells = [
            v["name"],
            str(len(v["runs"])),
            *[_pm(v["test"][m]) for m in METRICS],
            *[_delta(delta.get(m)) if v["delta_vs_baseline"] else "—" for m in ("accuracy", "uar")],
            overrides_text(v["overrides"]).replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_results(results: dict[str, Any], path: str | Path, chance: float | None = None) -> Path:
    """Grouped bars: test accuracy / UAR / macro-F1 of each variant (mean over runs), error bars = 95 % interval
    of the mean (none for a single run); a dotted line at chance level when given."""
    variants = results["variants"]
    x = np.arange(len(variants))
    width = 0.8 / len(METRICS)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(variants) + 2), 4.2))
    for i, metric in enumerate(METRICS):
        means = np.array([100 * v["test"][metric]["mean"] for v in variants])
        err = np.array(
            [
                [
                    100 * (v["test"][metric]["mean"] - v["test"][metric]["ci95"][0]),
                    100 * (v["test"][metric]["ci95"][1] - v["test"][metric]["mean"]),
                ]
                if v["test"][metric]["ci95"]
                else [0.0, 0.0]
                for v in variants
            ]
        ).T
        ax.bar(x + (i - 1) * width, means, width, yerr=err, capsize=3, label=f"test {METRIC_NAMES[metric]}")
    if chance is not None:
        ax.axhline(100 * chance, color="grey", linestyle=":", label=f"chance ({100 * chance:.1f} %)")
    ax.set_xticks(x, [v["name"] for v in variants], rotation=30, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 118)  # headroom for the legend above 100 %
    ax.set_yticks(range(0, 101, 20))
    ax.set_title("Variants: mean over runs, error bars = 95 % CI of the mean")
    ax.legend(loc="upper center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def check_schema(results: dict[str, Any]) -> None:
    """Raise ValueError when `results` does not have the ablation_results.json shape (used by tests and loaders)."""
    if set(results) != {"variants"} or not isinstance(results["variants"], list):
        raise ValueError("ablation results: expected exactly {'variants': [...]}")
    for v in results["variants"]:
        if set(v) != {"name", "overrides", "runs", "test", "delta_vs_baseline"}:
            raise ValueError(f"ablation results: variant keys {sorted(v)}")
        for run in v["runs"]:
            if (
                not {"seed", "test", "validation", "train_seconds"}
                <= set(run)
                <= {"seed", "fold", "test", "validation", "train_seconds"}
            ):
                raise ValueError(f"ablation results: run keys {sorted(run)} of variant {v['name']}")
            for split in ("test", "validation"):
                if set(run[split]) != set(METRICS):
                    raise ValueError(f"ablation results: {split} metrics {sorted(run[split])} of {v['name']}")
        if set(v["test"]) != set(METRICS) or any(set(s) != {"mean", "std", "ci95"} for s in v["test"].values()):
            raise ValueError(f"ablation results: test summary of {v['name']}")
