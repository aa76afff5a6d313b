"""IESC: `Speaker-<N>/<Emotion>/*.wav` (Indian-accented English); label and speaker from the folders."""

from __future__ import annotations

import re
from pathlib import Path

from data_prep.corpora.base import REASON_NO_SPEAKER, CorpusScan, ScanResult

SOURCE = (
    "Kaggle ybsingh/indian-emotional-speech-corpora-iesc; unzip so that the Speaker-<N>/ folders "
    "are inside (the 'Indian Emotional Speech Corpora (IESC)' level may stay)"
)
DEFAULT_LANGUAGE = "en"
SPEAKER_DIR = re.compile(r"^speaker[\s_-]*(\d+)$", re.IGNORECASE)


def scan(root: str | Path, *, corpus: str = "iesc", language: str = DEFAULT_LANGUAGE) -> ScanResult:
    """Label and speaker from the folders. File names are unknown and repeat across folders, so only identical
    content is a duplicate (found when decoding)."""
    s = CorpusScan(corpus, language)
    root = Path(root).resolve()
    for path in s.audio_files(root):
        speakers = [m.group(1) for m in map(SPEAKER_DIR.match, path.relative_to(root).parts[:-2]) if m]
        if not speakers:
            s.skip(path, REASON_NO_SPEAKER, "not under a Speaker-<N>/<Emotion>/ folder")
            continue
        speaker, emotion = str(int(speakers[-1])), path.parent.name
        s.keep(path, emotion, speaker)
    return s.result
