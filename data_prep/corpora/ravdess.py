"""RAVDESS: `Actor_XX/MM-VV-EE-II-SS-RR-AA.wav`; keep audio-only speech, drop calm, disgust and song."""

from __future__ import annotations

from pathlib import Path

from data_prep.corpora.base import REASON_NOT_SPEECH, REASON_UNPARSEABLE, CorpusScan, ScanResult

SOURCE = (
    "Zenodo record 1188976, Audio_Speech_Actors_01-24.zip (or the Kaggle copy); "
    "unzip so that Actor_01/ ... Actor_24/ are inside"
)
DEFAULT_LANGUAGE = "en"

# Emotion field (third) → the corpus's own name; calm and disgust are dropped by the label mapping.
EMOTION_CODES = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}


def scan(root: str | Path, *, corpus: str = "ravdess", language: str = DEFAULT_LANGUAGE) -> ScanResult:
    """Parse the seven-field names; the Kaggle copy's second tree is dropped as duplicate names."""
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        if s.is_duplicate(path, path.name.lower()):
            continue
        fields = path.stem.split("-")
        if len(fields) != 7 or not all(f.isdigit() for f in fields):
            s.skip(path, REASON_UNPARSEABLE, "expected MM-VV-EE-II-SS-RR-AA")
            continue
        modality, channel, emotion, actor = fields[0], fields[1], fields[2], fields[6]
        if modality != "03" or channel != "01":
            kind = {"01": "audio-video", "02": "video-only"}.get(modality, "audio-only")
            s.skip(path, REASON_NOT_SPEECH, f"{kind} {'song' if channel == '02' else 'speech'}")
            continue
        s.keep(path, EMOTION_CODES.get(emotion, f"code {emotion}"), f"{int(actor):02d}")
    return s.result
