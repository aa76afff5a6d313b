"""KAI-Indian: a small labelled folder; label from the parent folder or a keyword in the file name."""
from __future__ import annotations

import re
from pathlib import Path

from data_prep.corpora.base import REASON_NO_SPEAKER, CorpusScan, ScanResult
from data_prep.labels import normalise_label

SOURCE = "no public source known; put the 16 labelled files (emotion folders or emotion in the name) here"
DEFAULT_LANGUAGE = "hi"
KEYWORD = re.compile(r"(anger|angry|fearful|fear|happy|neutral|sad|surprised|surprise|disgust|calm)", re.IGNORECASE)


def scan(root: str | Path, *, corpus: str = "kai_indian", language: str = DEFAULT_LANGUAGE,
         speaker: str = "1", speaker_regex: str | None = None) -> ScanResult:
    """`speaker_regex` (group `speaker` or the first group, matched on the file name) overrides `speaker`."""
    pattern = re.compile(speaker_regex) if speaker_regex else None
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        if s.is_duplicate(path, (path.parent.name.lower(), path.name.lower())):
            continue
        who = speaker
        if pattern:
            match = pattern.search(path.name)
            if not match:
                s.skip(path, REASON_NO_SPEAKER, f"speaker_regex {speaker_regex!r} does not match")
                continue
            who = match.groupdict().get("speaker") or match.group(1 if pattern.groups else 0)
        keyword = KEYWORD.search(path.stem)
        raw = path.parent.name if normalise_label(path.parent.name) or not keyword else keyword.group(1)
        s.keep(path, raw, who)
    return s.result
