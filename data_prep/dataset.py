"""The on-disk DatasetDict: features, building from decoded rows, and the final split datasets."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from data_prep.decode import decoded_rows
from data_prep.labels import EMOTIONS

# Contract item 3. `audio` is a plain float32 list, not datasets.Audio (its decoding needs torchcodec).
FEATURES = Features({
    "audio": List(Value("float32")),
    "label": ClassLabel(names=list(EMOTIONS)),
    "speaker": Value("string"),
    "corpus": Value("string"),
    "language": Value("string"),
    "path": Value("string"),
    "duration": Value("float32"),
    "length": Value("int32"),
})
COLUMNS: tuple[str, ...] = tuple(FEATURES)
# Working columns of the decoded table, dropped before saving.
_WORK_FEATURES = Features({**FEATURES, "sha1": Value("string"), "error": Value("string"), "detail": Value("string")})


def decode_to_dataset(utterances: Sequence[dict[str, str]], cache_dir: str | Path, *, sampling_rate: int,
                      max_duration: float | None, min_duration: float, workers: int) -> Dataset:
    """Decode every utterance once into an Arrow table under `cache_dir` (rows in input order; failed
    rows kept with empty audio and their `error`), without holding all audio in memory."""
    settings = [list(utterances), sampling_rate, max_duration, min_duration]
    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    datasets.disable_progress_bars()  # our own "decoding" bar is the one that matters
    try:
        # No `features` while writing: with features, datasets encodes every example in Python and turns each
        # float32 array into a list of numpy scalars (about 12 ms per clip, slower than decoding it); without, it
        # converts the arrays to Arrow directly. The cast to the contract features afterwards is a cheap Arrow cast.
        rows = Dataset.from_generator(
            decoded_rows, features=None if utterances else _WORK_FEATURES,  # no rows: nothing to infer from
            cache_dir=str(cache_dir), fingerprint=fingerprint, writer_batch_size=64,
            # a tuple, not a list: datasets would treat a list as shards, one generator call per item
            gen_kwargs={"utterances": tuple(utterances), "sampling_rate": sampling_rate,
                        "max_duration": max_duration, "min_duration": min_duration, "workers": workers},
        )
        return rows.cast(_WORK_FEATURES, batch_size=64)
    finally:
        datasets.enable_progress_bars()


def split_datasets(decoded: Dataset, splits: dict[str, Sequence[int]]) -> DatasetDict:
    """Select each split's rows (repeats allowed: oversampled train) with exactly the contract columns."""
    base = decoded.select_columns(list(COLUMNS))
    return DatasetDict({name: base.select(list(rows)) for name, rows in splits.items()})
