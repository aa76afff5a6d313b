"""Combine trained model folders into one ensemble folder: members' class probabilities averaged.

    python -m recipe.ensemble --model RUN_A --model RUN_B [--model ...] --output DIR [--overwrite]

DIR loads like any model folder (`recipe.predict DIR ...`, `recipe.evaluate --model DIR`, the app,
`pipeline("audio-classification", model=DIR)`; remote code with `trust_remote_code=True`). Members must have the
same labels in the same order and the same feature-extractor settings (sampling rate, normalisation, crop);
otherwise the command refuses with one line naming the folder and the key (exit status 2).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from common.cli import run_cli
from common.config import CliParser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit 2 for members that cannot be combined or an output folder that exists."""
    parser = CliParser(prog="python -m recipe.ensemble", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, help="a trained model folder (give two or more)")
    parser.add_argument("--output", required=True, help="the ensemble folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(argv)

    def run() -> int:
        from recipe.components.ensemble import build_ensemble

        out = build_ensemble(args.model, args.output, overwrite=args.overwrite)
        print(f"wrote {out}: ensemble of {len(args.model)} models")
        return 0

    return run_cli("recipe.ensemble", run)


if __name__ == "__main__":
    sys.exit(main())
