"""URDU-Dataset (Latif et al.): `Angry|Happy|Neutral|Sad/S<G><spk>_F<n>_<E><idx>.wav`."""

from __future__ import annotations

import re
from pathlib import Path

from data_prep.corpora.base import REASON_LABEL_MISMATCH, REASON_UNPARSEABLE, CorpusScan, ScanResult
from data_prep.labels import normalise_label

SOURCE = "GitHub siddiquelatif/URDU-Dataset (research use only); put Angry/ Happy/ Neutral/ Sad/ here"
DEFAULT_LANGUAGE = "ur"
NAME = re.compile(r"^(?P<speaker>S[MF]\d+)_F\d+_(?P<emotion>[AHNS])\d+$", re.IGNORECASE)
EMOTION_CODES = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}


def scan(root: str | Path, *, corpus: str = "urdu", language: str = DEFAULT_LANGUAGE) -> ScanResult:
    """Label and speaker from the name; a name that disagrees with its emotion folder is skipped."""
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        if s.is_duplicate(path, path.name.lower()):
            continue
        match = NAME.match(path.stem)
        if not match:
            s.skip(path, REASON_UNPARSEABLE, "expected S<G><spk>_F<n>_<E><idx>")
            continue
        raw = EMOTION_CODES[match["emotion"].upper()]
        folder = normalise_label(path.parent.name)
        if folder is not None and folder != normalise_label(raw):
            s.skip(path, REASON_LABEL_MISMATCH, f"name says {raw}, folder says {path.parent.name}")
            continue
        s.keep(path, raw, match["speaker"].upper(), original_label=match["emotion"].upper())
    return s.result
