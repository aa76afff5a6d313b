"""Write predictions as they are produced: text lines, one JSON document, JSON lines, a CSV table or WebVTT cues.

Every writer takes `recipe.predict.Prediction.to_dict()` dicts one file at a time (`write`) and the per-file errors
(`error`); `close` finishes the document. With segments (`--segment vad|fixed`) the table and the cues have one row
per segment; without, one per file, spanning it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

FORMATS = ("text", "json", "jsonl", "csv", "vtt")


def segment_rows(prediction: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per segment ({"start", "end", "label", "score", "scores"}), or one for the whole file."""
    if "segments" in prediction:
        return prediction["segments"]
    return [
        {
            "start": 0.0,
            "end": round(prediction["duration_s"], 2),
            "label": prediction["label"],
            "score": prediction["score"],
            "scores": prediction["scores"],
        }
    ]


def vtt_time(seconds: float) -> str:
    """WebVTT timestamp HH:MM:SS.mmm."""
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


class Writer:
    """Text lines (`path<TAB>label score[, label score ...]`), the default output; a file answered `uncertain`
    (below --min_confidence) reads `path<TAB>uncertain (label score, ...)`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, prediction: dict[str, Any]) -> None:
        labels = ", ".join(f"{item['label']} {item['score']:.3f}" for item in prediction["top_k"])
        if prediction["label"] != prediction["top_k"][0]["label"]:  # the answer is UNCERTAIN, not the top label
            labels = f"{prediction['label']} ({labels})"
        self.out.write(f"{prediction['path']}\t{labels}\n")
        self.out.flush()

    def error(self, error: dict[str, str]) -> None:
        """Errors go to stderr only, except in the JSON formats."""

    def close(self) -> None:
        self.out.flush()


class JsonWriter(Writer):
    """One document {"predictions": [...], "errors": [...]}, its predictions written as they come."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.count = 0
        self.errors: list[dict[str, str]] = []
        out.write('{\n  "predictions": [')

    def write(self, prediction: dict[str, Any]) -> None:
        text = json.dumps(prediction, indent=2).replace("\n", "\n    ")
        self.out.write(("," if self.count else "") + "\n    " + text)
        self.count += 1
        self.out.flush()

    def error(self, error: dict[str, str]) -> None:
        self.errors.append(error)

    def close(self) -> None:
        errors = json.dumps(self.errors, indent=2).replace("\n", "\n  ")
        self.out.write(("\n  " if self.count else "") + f'],\n  "errors": {errors}\n}}\n')
        self.out.flush()


class JsonLinesWriter(Writer):
    """One line per file (the same object as in the JSON document) and one per error, flushed as written."""

    def write(self, prediction: dict[str, Any]) -> None:
        self.out.write(json.dumps(prediction) + "\n")
        self.out.flush()

    def error(self, error: dict[str, str]) -> None:
        self.write(error)


class CsvWriter(Writer):
    """path,start,end,label,score and one column per class; one row per segment."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.writer: csv.DictWriter | None = None

    def write(self, prediction: dict[str, Any]) -> None:
        for row in segment_rows(prediction):
            if self.writer is None:
                fields = ["path", "start", "end", "label", "score", *row["scores"]]
                self.writer = csv.DictWriter(self.out, fieldnames=fields, lineterminator="\n")
                self.writer.writeheader()
            flat = {key: value for key, value in row.items() if key != "scores"}
            self.writer.writerow({"path": prediction["path"], **flat, **row["scores"]})
        self.out.flush()


class VttWriter(Writer):
    """WebVTT subtitles of one recording: one cue per segment, "emotion score" (e.g. "happy 0.82")."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.cues = 0
        out.write("WEBVTT\n")

    def write(self, prediction: dict[str, Any]) -> None:
        for row in segment_rows(prediction):
            self.cues += 1
            self.out.write(
                f"\n{self.cues}\n{vtt_time(row['start'])} --> {vtt_time(row['end'])}\n"
                f"{row['label']} {row['score']:.2f}\n"
            )
        self.out.flush()


WRITERS: dict[str, type[Writer]] = {
    "text": Writer,
    "json": JsonWriter,
    "jsonl": JsonLinesWriter,
    "csv": CsvWriter,
    "vtt": VttWriter,
}


def make_writer(fmt: str, out: TextIO) -> Writer:
    """The writer for `fmt` (one of FORMATS) on the open text stream `out`."""
    if fmt not in WRITERS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return WRITERS[fmt](out)


def segment_records(spans: list[tuple[float, float]], probabilities: list[dict[str, float]]) -> list[dict[str, Any]]:
    """{"start", "end" (seconds, 2 decimals), "label", "score", "scores"} for each segment, in time order."""
    records = []
    for (start, end), scores in zip(spans, probabilities):
        label = max(scores, key=scores.get)
        records.append(
            {"start": round(start, 2), "end": round(end, 2), "label": label, "score": scores[label], "scores": scores}
        )
    return records


def speech_shares(segments: list[dict[str, Any]], labels: list[str]) -> dict[str, float]:
    """Share of the segments' total time labelled with each class (3 decimals; every class listed)."""
    total = sum(s["end"] - s["start"] for s in segments)
    time = dict.fromkeys(labels, 0.0)
    for s in segments:
        time[s["label"]] += s["end"] - s["start"]
    return {label: round(t / total, 3) if total > 0 else 0.0 for label, t in time.items()}


@contextlib.contextmanager
def open_output(path: str | Path | None) -> Iterator[TextIO]:
    """stdout for None; else a temporary file beside `path`, renamed to it when the block ends without error and
    removed when it does not, so a failed run leaves no half-written file. `path` must not exist yet."""
    if path is None:
        yield sys.stdout
        return
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"--output {path}: already exists (choose a new file name)")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
