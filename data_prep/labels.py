"""The six target emotions and the mapping of corpus label spellings onto them."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("anger", "fear", "happy", "neutral", "sad", "surprise")

# Spellings seen in corpus folder names, file names and manifests, mapped to a target class.
_SYNONYMS: dict[str, str] = {
    "anger": "anger",
    "angry": "anger",
    "ang": "anger",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "fea": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "hap": "happy",
    "neutral": "neutral",
    "neu": "neutral",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "sur": "surprise",
}


def normalise_label(raw: str) -> str | None:
    """Map a corpus label spelling (any case) to one of EMOTIONS, or None if it is not a target class."""
    return _SYNONYMS.get(raw.strip().lower())
