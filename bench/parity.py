"""Accuracy per precision: mean ± std of the test scores of trained model folders, grouped by training precision.

    python -m bench.parity OUT [OUT ...] [--split test]

Each OUT is a `recipe.train` output folder evaluated by `recipe.evaluate` (run_info.json + eval_results.json). The
precision is run_info.json's `precision` (eval_results.json's `inference.precision` for runs that predate it).
Prints a Markdown table: runs, seeds, accuracy, UAR and macro-F1 (mean ± sample std) and the mean training time.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from common.cli import UserError, run_cli
from common.config import CliParser
from common.tables import markdown_table


def read_run(folder: Path, split: str) -> dict[str, Any]:
    """One run's precision, seed, scores on `split` and training seconds."""
    info = json.loads((folder / "run_info.json").read_text())
    results = json.loads((folder / "eval_results.json").read_text())
    config = (folder / "train_config.yaml").read_text()
    seed = next(
        (line.split(":", 1)[1].strip() for line in config.splitlines() if line.strip().startswith("seed:")), "?"
    )
    scores = results["splits"][split]
    return {
        "precision": info.get("precision") or results["inference"].get("precision", "?"),
        "seed": seed,
        "accuracy": scores["accuracy"],
        "uar": scores["uar"],
        "macro_f1": scores["macro_f1"],
        "train_runtime_s": info["train_runtime_s"],
    }


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def table(runs: list[dict[str, Any]], split: str) -> str:
    """Markdown table, one row per precision."""
    header = [
        "precision",
        "runs",
        "seeds",
        f"{split} accuracy %",
        f"{split} UAR %",
        f"{split} macro-F1 %",
        "training s (mean)",
    ]
    rows = []
    for precision in sorted({r["precision"] for r in runs}):
        group = [r for r in runs if r["precision"] == precision]
        rows.append(
            [
                precision,
                len(group),
                ", ".join(str(r["seed"]) for r in group),
                _mean_std([r["accuracy"] for r in group]),
                _mean_std([r["uar"] for r in group]),
                _mean_std([r["macro_f1"] for r in group]),
                f"{statistics.mean(r['train_runtime_s'] for r in group):.0f}",
            ]
        )
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(prog="python -m bench.parity", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="recipe.train output folders, evaluated")
    ap.add_argument("--split", default="test", help="split of eval_results.json to compare")
    args = ap.parse_args(argv)

    def parity() -> int:
        try:
            runs = [read_run(Path(folder), args.split) for folder in args.runs]
        except (OSError, KeyError, json.JSONDecodeError) as err:
            raise UserError(f"{type(err).__name__}: {err}") from None
        print(table(runs, args.split))
        return 0

    return run_cli("bench.parity", parity)


if __name__ == "__main__":
    sys.exit(main())
