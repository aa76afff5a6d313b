"""The cross-corpus protocol (`python -m recipe.experiments --variants cross_corpus`): train on each corpus alone,
test on the test split of every corpus, and write the matrix (cross_corpus.json, .md, .png heat map).

Variant `cross_corpus-<C>` trains and validates on corpus C's train and validation clips; its test split is the
whole prepared test split, and one extra split `test-<T>` per corpus T holds T's test clips, so every row of the
matrix is scored on the same clips per column (the diagonal is C's in-corpus test). Cells are UAR (and accuracy)
averaged over seeds; each cell keeps its per-seed values and the bootstrap interval of the first seed.

cross_corpus.json::

    {"metric": "uar", "train_corpora": [...], "test_corpora": [...],
     "cells": {TRAIN: {TEST: {"uar", "accuracy", "macro_f1", "n_seeds", "per_seed": {"uar": [...]}, "ci95": {...}}}}}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt
import numpy as np

from .uncertainty import METRICS

PREFIX = "cross_corpus-"
SPLIT_PREFIX = "test-"
RESULTS_JSON = "cross_corpus.json"
RESULTS_MD = "cross_corpus.md"
RESULTS_PNG = "cross_corpus.png"


def test_split(corpus: str) -> str:
    return SPLIT_PREFIX + corpus


def build_datasets(dsd, corpus: str):
    """The DatasetDict of variant cross_corpus-<corpus>: its train/validation, every test clip, test-<T> per T."""
    from datasets import DatasetDict

    test = dsd["test"]
    out = {
        "train": dsd["train"].filter(lambda c: c == corpus, input_columns="corpus"),
        "validation": dsd["validation"].filter(lambda c: c == corpus, input_columns="corpus"),
        "test": test,
    }
    for target in sorted(set(test["corpus"])):
        out[test_split(target)] = test.filter(lambda c, t=target: c == t, input_columns="corpus")
    return DatasetDict(out)


def corpora_of(dsd) -> list[str]:
    """Corpora that have train, validation and test clips (the others cannot be a row or a column)."""
    return sorted(set(dsd["train"]["corpus"]) & set(dsd["validation"]["corpus"]) & set(dsd["test"]["corpus"]))


def matrix(results: dict[tuple[str, int, int | None], dict[str, Any]], corpora: list[str]) -> dict[str, Any]:
    """cross_corpus.json from the runs' results (each with `extra_splits` {test-<T>: {metrics, ci95}})."""
    cells: dict[str, dict[str, Any]] = {}
    for train in corpora:
        runs = [r for (name, _seed, _fold), r in sorted(results.items()) if name == PREFIX + train]
        row: dict[str, Any] = {}
        for target in corpora:
            scored = [r["extra_splits"][test_split(target)] for r in runs if test_split(target) in r["extra_splits"]]
            if not scored:
                continue
            row[target] = {
                **{m: float(np.mean([s[m] for s in scored])) for m in METRICS},
                "n_seeds": len(scored),
                "per_seed": {m: [s[m] for s in scored] for m in METRICS},
                "ci95": scored[0]["ci95"],
            }
        cells[train] = row
    return {"metric": "uar", "train_corpora": corpora, "test_corpora": corpora, "cells": cells}


def markdown(summary: dict[str, Any], command: str) -> str:
    """The matrix as a Markdown table (UAR in percent, rows = training corpus)."""
    cols = summary["test_corpora"]
    lines = [
        "# Cross-corpus results",
        "",
        f"Command: `{command}`",
        "",
        "UAR in percent on each corpus's test split (columns) of a model trained on one corpus (rows), mean over "
        "seeds; the diagonal is the in-corpus test.",
        "",
        "| trained on \\ tested on | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for train in summary["train_corpora"]:
        row = summary["cells"].get(train, {})
        values = [f"{100 * row[c]['uar']:.1f}" if c in row else "–" for c in cols]
        lines.append(f"| {train} | " + " | ".join(values) + " |")
    return "\n".join(lines) + f"\n\n![heat map]({RESULTS_PNG})\n"


def heatmap(summary: dict[str, Any], path: Path, chance: float | None = None) -> Path:
    """The matrix as a heat map (UAR), each cell annotated."""
    rows, cols = summary["train_corpora"], summary["test_corpora"]
    values = np.full((len(rows), len(cols)), np.nan)
    for i, train in enumerate(rows):
        for j, target in enumerate(cols):
            cell = summary["cells"].get(train, {}).get(target)
            if cell:
                values[i, j] = cell["uar"]
    size = max(4.0, 1.1 * len(cols) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    image = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="UAR")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("tested on")
    ax.set_ylabel("trained on")
    ax.set_title("Cross-corpus UAR" + (f" (chance {100 * chance:.0f} %)" if chance else ""))
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{100 * values[i, j]:.0f}", ha="center", va="center", color="w", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write(results: dict, corpora: list[str], out: Path, command: str, chance: float | None) -> dict[str, Any]:
    """cross_corpus.json, .md and .png in `out`; returns the summary."""
    summary = matrix(results, corpora)
    (out / RESULTS_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    (out / RESULTS_MD).write_text(markdown(summary, command))
    heatmap(summary, out / RESULTS_PNG, chance)
    return summary


def variants(data_dir: str, out: Path, load_dsd: Callable, save_derived: Callable, make_variant: Callable) -> list:
    """One variant per corpus (see the module docstring), on datasets derived once under OUT/data/."""
    dsd = load_dsd(data_dir)
    corpora = corpora_of(dsd)
    if len(corpora) < 2:
        raise ValueError(f"{data_dir}: cross_corpus needs two corpora with train, validation and test clips: {corpora}")
    made = []
    for corpus in corpora:
        spec = {"protocol": "cross_corpus", "train_on": corpus, "source": str(Path(data_dir).resolve())}
        folder = save_derived(out / "data" / f"{PREFIX}{corpus}", spec, lambda c=corpus: build_datasets(dsd, c))
        made.append(
            make_variant(
                PREFIX + corpus,
                folder,
                tuple(test_split(t) for t in corpora),
                f"trained on {corpus} alone, tested on every corpus's test split",
            )
        )
    return made
