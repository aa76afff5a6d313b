"""Parallel decoding of utterances into dataset rows (a process pool with an ordered map + tqdm).

`concurrent.futures.ProcessPoolExecutor` rather than `multiprocessing.Pool`: when a worker dies (the out-of-memory
killer, a crash in a native decoder) the executor fails every pending call with BrokenProcessPool, where Pool waits
forever for the lost results. Each worker notes the index of the file it is decoding in a shared array, so the error
names the file(s) that were being decoded.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from common.cli import UserError
from common.files import file_sha1
from common.names import display_path
from data_prep.audio import REASON_UNREADABLE, AudioError, load_audio
from data_prep.corpora.base import Utterance
from data_prep.labels import EMOTIONS

Task = tuple[str, int, float | None, float]
IDLE = -1
_slots: Any = None  # in a worker: the shared array of in-progress task indices, one slot per worker
_slot = 0


class DecodeWorkerError(UserError, RuntimeError):
    """A decoding worker process died; the message names the file(s) it was decoding (exit 2, nothing written)."""


def decode_one(task: Task) -> dict[str, Any]:
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


def _init_worker(slots: Any, counter: Any) -> None:
    """Claim this worker's slot in the shared in-progress array."""
    global _slots, _slot
    with counter.get_lock():
        _slot = counter.value
        counter.value += 1
    _slots = slots


def _decode_noted(job: tuple[int, Task], decode: Callable[[Task], dict[str, Any]] = decode_one) -> dict[str, Any]:
    """`decode(task)` with the task's index noted in this worker's slot while it runs."""
    index, task = job
    _slots[_slot] = index
    try:
        return decode(task)
    finally:
        _slots[_slot] = IDLE


def _parallel(tasks: list[Task], workers: int, decode: Callable[[Task], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Results of `decode` over `tasks`, in order, from `workers` spawned processes (safe inside threaded parents
    such as a datasets writer); DecodeWorkerError naming the files in progress if a worker dies."""
    ctx = mp.get_context("spawn")
    n = min(workers, len(tasks))
    slots, counter = ctx.Array("q", [IDLE] * n), ctx.Value("i", 0)
    executor = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(slots, counter))
    chunksize = max(1, min(16, len(tasks) // (4 * workers)))
    try:
        yield from executor.map(partial(_decode_noted, decode=decode), enumerate(tasks), chunksize=chunksize)
    except BrokenProcessPool:
        busy = [tasks[i][0] for i in slots[:] if i != IDLE]
        files = ", ".join(display_path(p) for p in busy) or "(none had started a file)"
        raise DecodeWorkerError(
            f"a decoding worker process died (killed, e.g. out of memory?) while decoding: {files}; nothing was written"
        ) from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def decoded_rows(
    utterances: Sequence[dict[str, str]],
    sampling_rate: int,
    max_duration: float | None,
    min_duration: float,
    workers: int,
    decode: Callable[[Task], dict[str, Any]] = decode_one,
) -> Iterator[dict[str, Any]]:
    """Yield one row per utterance, in input order, decoding with `workers` processes. Failed rows have empty
    audio and a non-empty `error`. `decode` (a module-level function, picklable) is `decode_one` but in tests."""
    tasks = [(u["path"], sampling_rate, max_duration, min_duration) for u in utterances]
    bar = dict(total=len(tasks), desc="decoding", unit="clip", mininterval=1.0)
    if workers <= 1 or len(tasks) < 8:
        results: Iterator[dict[str, Any]] = map(decode, tasks)
    else:
        results = _parallel(tasks, workers, decode)
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


def utterance_dicts(utterances: Sequence[Utterance]) -> list[dict[str, str]]:
    """Plain dicts (picklable, hashable by datasets) of the fields the rows need."""
    return [
        {"path": u.path, "label": u.label, "speaker": u.speaker, "corpus": u.corpus, "language": u.language}
        for u in utterances
    ]
