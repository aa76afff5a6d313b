"""`python -m data_prep`: build the train/validation/test DatasetDict and prepare_report.json."""

from __future__ import annotations

import sys

# `data_prep.config` (transformers' argument parser) and `data_prep.prepare` (datasets, pyarrow, pandas: seconds to
# import) are imported inside main(): the decoding pool spawns fresh interpreters that re-import this main module,
# and each would otherwise pay those imports again.


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 2 for a bad config or when no corpus is on disk."""
    from common.config import ConfigError, fail
    from data_prep.config import parse_args

    try:
        cfg = parse_args(sys.argv[1:] if argv is None else list(argv))
    except ConfigError as exc:
        return fail("data_prep", exc)
    from data_prep.prepare import NoCorpusError, prepare

    try:
        prepare(cfg)
    except (ConfigError, FileNotFoundError) as exc:
        return fail("data_prep", exc)
    except NoCorpusError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
