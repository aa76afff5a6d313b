"""Evaluate a trained run on the prepared dataset: `python -m recipe.evaluate --model OUT --data DIR --split test`.

Writes eval_results.json (schema: `recipe.components.evaluation`), confusion_matrix.png and, when the folder holds
a training log, training_curves.png into the model folder.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import recipe  # noqa: F401  (registers the SER config/model/feature extractor with the Auto classes)
from common.cli import run_cli
from common.config import CliParser
from recipe.components.evaluation import RESULTS_FILE, evaluate_model
from recipe.components.precision import PRECISIONS


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = CliParser(prog="python -m recipe.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="trained model folder (recipe.train --output_dir)")
    parser.add_argument("--data", required=True, help="prepared dataset folder (data_prep --output)")
    parser.add_argument("--split", default="test", help="primary split: figures and headline numbers")
    parser.add_argument(
        "--also", nargs="*", default=["validation"], help="further splits to evaluate the same way (none: --also alone)"
    )
    parser.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")
    parser.add_argument("--device", default=None, help="torch device; none given: cuda if available, else cpu")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="autocast precision; auto: bf16 on GPUs/CPUs with native bf16, fp16 on older GPUs",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_cli("recipe.evaluate", lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    """Evaluate, write the files, print the headline numbers and the top confusions."""
    results = evaluate_model(
        args.model, args.data, args.split, args.also, args.batch_size, args.device, precision=args.precision
    )
    primary = results["splits"][args.split]
    print(
        f"{args.split}: accuracy {100 * primary['accuracy']:.2f} %, UAR {100 * primary['uar']:.2f} %, "
        f"macro-F1 {100 * primary['macro_f1']:.2f} % (n={primary['n']}, {results['inference']['precision']}); "
        f"majority baseline {100 * primary['baselines']['majority']['accuracy']:.2f} %, "
        f"random {100 * primary['baselines']['random']['accuracy']:.2f} %"
    )
    for pair in primary["top_confusions"][:3]:
        print(f"  {pair['text']} ({pair['count']} clips)")
    print(f"wrote {Path(args.model) / RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
