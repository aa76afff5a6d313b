"""Convert EmoBox's published split files into a split file for `python -m data_prep --split_file`.

    python -m data_prep.emobox data/ravdess/fold_*/ravdess_*_fold_*.jsonl --output ravdess_folds.csv

EmoBox (github.com/emo-box/EmoBox) publishes, per corpus, `data/<dataset>/fold_<N>/<dataset>_{train,test}_fold_<N>
.jsonl` (one JSON object per line: `key`, `dataset`, `wav` = `downloads/<dataset>/<path in the corpus>`, `emo`,
`length`, ...) and the same content as `.json` (an object keyed by `key`). The fold number comes from the file
name (`_fold_<N>`), else from a parent folder `fold_<N>`, and the split (train / test, and valid where given)
from the file name. With two or more folds the output is `path,fold` with each clip's fold = the fold whose test
file lists it (EmoBox's folds are leave-speakers-out: every clip is tested exactly once), so
`python -m recipe.experiments --variants kfold` tests on each EmoBox fold in turn; with one fold it is
`path,split` (train / test). `path` is EmoBox's `wav`, which data_prep matches by its tail to the clips on disk.
A clip in two test folds, a file without a fold or split in its name, or a line that is not JSON is refused
(one line naming the file, exit 2).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from common.cli import UserError, run_cli
from common.config import CliParser

FOLD_IN_NAME = re.compile(r"_fold_?(\d+)\.jsonl?$", re.IGNORECASE)
FOLD_IN_FOLDER = re.compile(r"^fold_?(\d+)$", re.IGNORECASE)
SPLIT_IN_NAME = re.compile(r"_(train|test|valid|validation|dev)_", re.IGNORECASE)


class EmoBoxError(UserError, ValueError):
    """An EmoBox metadata file that cannot be converted (names the file and line)."""


def read_entries(path: Path) -> list[dict]:
    """The records of one EmoBox metadata file (.jsonl: one object per line; .json: an object keyed by `key`)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise EmoBoxError(f"{path}: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise EmoBoxError(f"{path}: expected an object keyed by clip key")
        return [{"key": key, **value} for key, value in data.items()]
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise EmoBoxError(f"{path}:{line_no}: not a JSON line ({err})") from None
        if not isinstance(record, dict) or not record.get("wav"):
            raise EmoBoxError(f"{path}:{line_no}: no `wav` entry")
        records.append(record)
    return records


def fold_and_split(path: Path) -> tuple[int, str]:
    """(fold number, "train" | "test" | "validation") of an EmoBox file, from its name and folder."""
    match = FOLD_IN_NAME.search(path.name) or FOLD_IN_FOLDER.match(path.parent.name)
    split = SPLIT_IN_NAME.search(path.name)
    if not match or not split:
        raise EmoBoxError(f"{path}: not an EmoBox split file (expected <dataset>_<train|test>_fold_<N>.jsonl)")
    name = split.group(1).lower()
    return int(match.group(1)), {"valid": "validation", "dev": "validation"}.get(name, name)


def convert(files: Sequence[str | Path]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """(kind "fold" or "split", rows (path, value), notes) for the EmoBox files."""
    parsed = [(Path(f), *fold_and_split(Path(f))) for f in files]
    folds = sorted({fold for _, fold, _ in parsed})
    notes: list[str] = []
    if len(folds) == 1:
        placed: dict[str, str] = {}
        for path, _, split in parsed:
            for record in read_entries(path):
                wav = str(record["wav"])
                if placed.setdefault(wav, split) != split:
                    raise EmoBoxError(f"{path}: {wav} is in both {placed[wav]} and {split}")
        return "split", sorted(placed.items()), notes
    fold_of: dict[str, int] = {}
    listed: set[str] = set()
    for path, fold, split in parsed:
        for record in read_entries(path):
            wav = str(record["wav"])
            listed.add(wav)
            if split != "test":
                continue
            if fold_of.setdefault(wav, fold) != fold:
                raise EmoBoxError(f"{path}: {wav} is in the test sets of folds {fold_of[wav]} and {fold}")
    untested = sorted(listed - set(fold_of))
    if untested:
        notes.append(f"{len(untested)} clip(s) are in no test file and get no fold, e.g. {untested[0]}")
    missing = [fold for fold in folds if fold not in set(fold_of.values())]
    if missing:
        notes.append(f"fold(s) {missing} have no test file among the inputs")
    return "fold", sorted((wav, str(fold)) for wav, fold in fold_of.items()), notes


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: exit 2 with one line for a file that cannot be converted."""
    parser = CliParser(prog="python -m data_prep.emobox", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="EmoBox <dataset>_<train|test>_fold_<N>.jsonl (or .json) files")
    parser.add_argument("--output", required=True, help="split file to write (CSV path,fold or path,split)")
    args = parser.parse_args(argv)

    def run() -> int:
        for name in args.files:
            if not Path(name).is_file():
                raise EmoBoxError(f"{name}: file not found")
        kind, rows, notes = convert(args.files)
        out = Path(args.output)
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", kind])
            writer.writerows(rows)
        tmp.replace(out)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"wrote {out}: {len(rows)} clips, path,{kind}")
        return 0

    return run_cli("data_prep.emobox", run)


if __name__ == "__main__":
    sys.exit(main())
