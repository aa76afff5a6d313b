"""Generic labelled folder: label from the parent folder name, speaker from an optional regex."""
from __future__ import annotations

import re
from pathlib import Path

from data_prep.corpora.base import REASON_NO_SPEAKER, CorpusScan, ScanResult

SOURCE = "any folder of <emotion>/<file> audio files"
DEFAULT_LANGUAGE = "und"


def scan(root: str | Path, *, corpus: str = "folder", language: str = DEFAULT_LANGUAGE,
         speaker_regex: str | None = None, speaker: str = "unknown") -> ScanResult:
    """`speaker_regex` is searched in the file name (group `speaker`, else group 1, else the whole match);
    without it every clip gets `speaker`. A file whose name the regex does not match is skipped.
    A duplicate is the same parent folder and file name (case-insensitive)."""
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
        s.keep(path, path.parent.name, who)
    return s.result
