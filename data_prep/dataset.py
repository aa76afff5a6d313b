"""The on-disk DatasetDict: features, building from decoded rows, and the final split datasets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value
from datasets.exceptions import DatasetGenerationError

from common.cli import UserError
from data_prep.decode import DecodeWorkerError, decoded_rows
from data_prep.labels import EMOTIONS

# The columns every prepared split has (docs/data.md). `audio` is a plain float32 list, not datasets.Audio
# (its decoding needs torchcodec).
FEATURES = Features(
    {
        "audio": List(Value("float32")),
        "label": ClassLabel(names=list(EMOTIONS)),
        "speaker": Value("string"),
        "corpus": Value("string"),
        "language": Value("string"),
        "path": Value("string"),
        "duration": Value("float32"),
        "length": Value("int32"),
    }
)
COLUMNS: tuple[str, ...] = tuple(FEATURES)
# Working columns of the decoded table, dropped before saving.
_WORK_FEATURES = Features({**FEATURES, "sha1": Value("string"), "error": Value("string"), "detail": Value("string")})


def decode_to_dataset(
    utterances: Sequence[dict[str, str]],
    cache_dir: str | Path,
    *,
    sampling_rate: int,
    max_duration: float | None,
    min_duration: float,
    workers: int,
) -> Dataset:
    """Decode every utterance once into an Arrow table under `cache_dir` (rows in input order; failed
    rows kept with empty audio and their `error`), without holding all audio in memory."""
    settings = [list(utterances), sampling_rate, max_duration, min_duration]
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    datasets.disable_progress_bars()  # our own "decoding" bar is the one that matters
    try:
        # No `features` while writing: with features, datasets encodes every example in Python and turns each
        # float32 array into a list of numpy scalars (about 12 ms per clip, slower than decoding it); without, it
        # converts the arrays to Arrow directly. The cast to FEATURES afterwards is a cheap Arrow cast.
        rows = Dataset.from_generator(
            decoded_rows,
            features=None if utterances else _WORK_FEATURES,  # no rows: nothing to infer from
            cache_dir=str(cache_dir),
            fingerprint=fingerprint,
            writer_batch_size=64,
            # a tuple, not a list: datasets would treat a list as shards, one generator call per item
            gen_kwargs={
                "utterances": tuple(utterances),
                "sampling_rate": sampling_rate,
                "max_duration": max_duration,
                "min_duration": min_duration,
                "workers": workers,
            },
        )
        return rows.cast(_WORK_FEATURES, batch_size=64)
    except DatasetGenerationError as err:  # datasets wraps what the generator raised; a dead worker is ours to say
        if isinstance(err.__cause__, DecodeWorkerError):
            raise err.__cause__ from None
        raise
    finally:
        datasets.enable_progress_bars()


def split_datasets(decoded: Dataset, splits: dict[str, Sequence[int]]) -> DatasetDict:
    """Select each split's rows (repeats allowed: oversampled train) with exactly the COLUMNS of FEATURES."""
    base = decoded.select_columns(list(COLUMNS))
    return DatasetDict({name: base.select(list(rows)) for name, rows in splits.items()})


class PreparedDataError(UserError, ValueError):
    """A folder is not a usable prepared dataset; the message names the folder and the problem."""


def load_prepared(path: str | Path, splits: Sequence[str], columns: Sequence[str] = ("audio", "label")) -> DatasetDict:
    """Load the DatasetDict written by ``python -m data_prep`` and check what the caller reads: every split in
    ``splits`` present and non-empty, with ``columns`` and a ClassLabel ``label`` column, and the same label names.

    Raises PreparedDataError (a ValueError) naming the folder; training and evaluation turn it into exit 2.
    """
    path = Path(path)
    if not path.is_dir():
        raise PreparedDataError(f"{path}: not a prepared dataset (folder not found); run `make prepare` first")
    if not (path / "dataset_dict.json").is_file():
        raise PreparedDataError(f"{path}: not a prepared dataset (no dataset_dict.json); run `make prepare` first")
    try:
        dsd = datasets.load_from_disk(str(path))
    except Exception as err:  # datasets raises several types for a folder that is not a saved dataset
        raise PreparedDataError(
            f"{path}: cannot be loaded ({type(err).__name__}: {err}); run `make prepare` again"
        ) from err
    if not isinstance(dsd, DatasetDict):
        raise PreparedDataError(f"{path}: expected a DatasetDict with splits {', '.join(splits)}")
    for split in splits:
        if split not in dsd:
            raise PreparedDataError(f"{path}: split {split!r} not found (has: {', '.join(dsd)})")
        missing = [c for c in dict.fromkeys(("label", *columns)) if c not in dsd[split].column_names]
        if missing:
            raise PreparedDataError(f"{path}: split {split!r} lacks column(s) {', '.join(missing)}")
        if not isinstance(dsd[split].features["label"], ClassLabel):
            raise PreparedDataError(f"{path}: column 'label' of split {split!r} is not a ClassLabel")
        if len(dsd[split]) == 0:
            raise PreparedDataError(f"{path}: split {split!r} is empty")
    names = dsd[splits[0]].features["label"].names
    for split in splits[1:]:
        if dsd[split].features["label"].names != names:
            raise PreparedDataError(f"{path}: label names of split {split!r} differ from split {splits[0]!r}")
    return dsd
