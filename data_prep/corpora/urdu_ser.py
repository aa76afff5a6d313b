"""UrduSER (Akhtar et al. 2025): `<Emotion>/<actor>_<gender>_<emotion>_<seq>.wav`, 32-bit float WAV.

The file name is authoritative (the CSV beside it is not read; it is counted as a non-audio file).
"""

from __future__ import annotations

from pathlib import Path

from data_prep.corpora.base import REASON_UNPARSEABLE, CorpusScan, ScanResult

SOURCE = (
    "UrduSER, Data in Brief 60 (2025), Mendeley Data; put the emotion folders "
    "(Angry Fear Boredom Disgust Happy Neutral Sad) here"
)
DEFAULT_LANGUAGE = "ur"
EMOTION_CODES = {"1": "angry", "2": "fear", "3": "boredom", "4": "disgust", "5": "happy", "6": "neutral", "7": "sad"}


def scan(root: str | Path, *, corpus: str = "urdu_ser", language: str = DEFAULT_LANGUAGE) -> ScanResult:
    """Split names on `_` (widths vary); boredom and disgust are dropped."""
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        if s.is_duplicate(path, path.name.lower()):
            continue
        fields = path.stem.split("_")
        if len(fields) != 4 or not all(f.isdigit() for f in fields) or fields[2].lstrip("0") not in EMOTION_CODES:
            s.skip(path, REASON_UNPARSEABLE, "expected <actor>_<gender>_<emotion 1-7>_<seq>")
            continue
        code = fields[2].lstrip("0")
        s.keep(path, EMOTION_CODES[code], str(int(fields[0])), original_label=f"{code} {EMOTION_CODES[code]}")
    return s.result
