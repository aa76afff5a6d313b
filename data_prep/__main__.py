"""`python -m data_prep`: build the train/validation/test DatasetDict and prepare_report.json."""
from __future__ import annotations

import argparse
import sys

from data_prep.config import SPLIT_MODES, ConfigError, load_config

# `data_prep.prepare` (datasets, pyarrow, pandas: seconds to import) is imported inside main(): the decoding pool
# spawns fresh interpreters that re-import this main module, and each would otherwise pay that import again.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; every one left unset falls back to the config file."""
    ap = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__)
    ap.add_argument("--config", help="YAML config (e.g. configs/data.yaml)")
    ap.add_argument("--corpus", action="append", metavar="NAME=PATH",
                    help="corpus to read (repeatable); replaces the config's corpus list. NAME is an adapter "
                         "(ravdess iesc hindi kai_indian urdu urdu_ser folder csv) or a corpus named in the config")
    ap.add_argument("--output", help="where to save the DatasetDict and prepare_report.json")
    ap.add_argument("--per-class", type=int, help="train clips per class after balancing (0 = no balancing)")
    ap.add_argument("--split-by", choices=SPLIT_MODES)
    ap.add_argument("--val-fraction", type=float)
    ap.add_argument("--test-fraction", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--max-duration", type=float, help="seconds kept (centre crop)")
    ap.add_argument("--min-duration", type=float, help="shorter clips are skipped")
    ap.add_argument("--workers", type=int, help="decoding processes (0 = number of CPUs)")
    ap.add_argument("--keep-unbalanced", action=argparse.BooleanOptionalAction, default=None,
                    help="also save the train split before balancing as `train_unbalanced`")
    ap.add_argument("--folds", type=int, help="speaker folds for k-fold cross-validation in folds.json (0 = none)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 2 for a bad config or when no corpus is on disk."""
    args = parse_args(argv)
    from data_prep.prepare import NoCorpusError, prepare

    try:
        cfg = load_config(args.config, args.corpus, output=args.output, per_class=args.per_class,
                          split_by=args.split_by, val_fraction=args.val_fraction,
                          test_fraction=args.test_fraction, seed=args.seed, max_duration=args.max_duration,
                          min_duration=args.min_duration, workers=args.workers,
                          keep_unbalanced=args.keep_unbalanced, folds=args.folds)
        prepare(cfg)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NoCorpusError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
