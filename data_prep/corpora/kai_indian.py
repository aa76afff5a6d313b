"""KAI-Indian: a small labelled folder; label from the parent folder or a keyword in the file name."""

from __future__ import annotations

import re
from pathlib import Path

from data_prep.corpora.base import ScanResult
from data_prep.corpora.folder import scan_labelled_folder
from data_prep.labels import normalise_label

SOURCE = "no public source known; put the 16 labelled files (emotion folders or emotion in the name) here"
DEFAULT_LANGUAGE = "hi"
KEYWORD = re.compile(r"(anger|angry|fearful|fear|happy|neutral|sad|surprised|surprise|disgust|calm)", re.IGNORECASE)


def scan(
    root: str | Path,
    *,
    corpus: str = "kai_indian",
    language: str = DEFAULT_LANGUAGE,
    speaker: str = "1",
    speaker_regex: str | None = None,
) -> ScanResult:
    """`speaker_regex` (group `speaker` or the first group, matched on the file name) overrides `speaker`."""
    return scan_labelled_folder(
        root, corpus=corpus, language=language, speaker_regex=speaker_regex, speaker=speaker, label_of=raw_label
    )


def raw_label(path: Path) -> str:
    """The parent folder when it names a class (or no keyword is in the file name), else the keyword."""
    keyword = KEYWORD.search(path.stem)
    return path.parent.name if normalise_label(path.parent.name) or not keyword else keyword.group(1)
