"""Parallel decoding of utterances into dataset rows (a process pool with an ordered imap + tqdm)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from common.files import file_sha1
from common.names import display_path
from data_prep.audio import REASON_UNREADABLE, AudioError, load_audio
from data_prep.corpora.base import Utterance
from data_prep.labels import EMOTIONS


def decode_one(task: tuple[str, int, float | None, float]) -> dict[str, Any]:
    """Decode one file: {"audio", "sha1", "error", "detail"} with error "" on success."""
    path, sampling_rate, max_duration, min_duration = task
    try:
        wave = load_audio(path, sampling_rate, max_duration, min_duration)
        # Identical bytes (even under other names or corpora) are duplicates; a re-encoded copy is not caught.
        return {"audio": wave, "sha1": file_sha1(path), "error": "", "detail": ""}
    except AudioError as exc:
        return {"audio": np.zeros(0, np.float32), "sha1": "", "error": exc.reason, "detail": exc.detail}
    except Exception as exc:  # never let one odd file stop the run; it is reported like any bad input
        return {
            "audio": np.zeros(0, np.float32),
            "sha1": "",
            "error": REASON_UNREADABLE,
            "detail": f"{type(exc).__name__}: {exc}"[:200],
        }


def decoded_rows(
    utterances: Sequence[dict[str, str]],
    sampling_rate: int,
    max_duration: float | None,
    min_duration: float,
    workers: int,
) -> Iterator[dict[str, Any]]:
    """Yield one row per utterance, in input order, decoding with `workers` processes (spawned, so the
    pool is safe inside threaded parents such as a datasets writer). Failed rows have empty audio and
    a non-empty `error`."""
    tasks = [(u["path"], sampling_rate, max_duration, min_duration) for u in utterances]
    bar = dict(total=len(tasks), desc="decoding", unit="clip", mininterval=1.0)
    if workers <= 1 or len(tasks) < 8:
        results: Iterator[dict[str, Any]] = map(decode_one, tasks)
        pool = None
    else:
        pool = mp.get_context("spawn").Pool(min(workers, len(tasks)))
        results = pool.imap(decode_one, tasks, chunksize=max(1, min(16, len(tasks) // (4 * workers))))
    try:
        for utt, result in zip(utterances, tqdm(results, **bar)):
            wave = result["audio"]
            yield {
                **result,
                "label": EMOTIONS.index(utt["label"]),
                # names that are not UTF-8 are stored with \xNN escapes (Arrow strings must be valid UTF-8)
                "speaker": display_path(utt["speaker"]),
                "corpus": utt["corpus"],
                "language": utt["language"],
                "path": display_path(utt["path"]),
                "duration": float(len(wave) / sampling_rate),
                "length": int(len(wave)),
            }
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def utterance_dicts(utterances: Sequence[Utterance]) -> list[dict[str, str]]:
    """Plain dicts (picklable, hashable by datasets) of the fields the rows need."""
    return [
        {"path": u.path, "label": u.label, "speaker": u.speaker, "corpus": u.corpus, "language": u.language}
        for u in utterances
    ]
