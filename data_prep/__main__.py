"""`python -m data_prep`: build the train/validation/test DatasetDict and prepare_report.json."""

from __future__ import annotations

import sys

from common.cli import run_cli

# `data_prep.config` (transformers' argument parser) and `data_prep.prepare` (datasets, pyarrow, pandas: seconds to
# import) are imported inside main(): the decoding pool spawns fresh interpreters that re-import this main module,
# and each would otherwise pay those imports again.


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 2 for a user error (bad config, flag or manifest, no corpus on disk, nothing
    usable, output exists without --overwrite or is being written by another run); a bad config or flag is refused
    before any clip is decoded."""
    from data_prep.config import parse_cli
    from data_prep.prepare import prepare

    def run() -> int:
        cfg, args = parse_cli(sys.argv[1:] if argv is None else list(argv))
        prepare(cfg, overwrite=args.overwrite)
        return 0

    return run_cli("data_prep", run)


if __name__ == "__main__":
    sys.exit(main())
