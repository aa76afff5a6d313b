"""Generic labelled folder: label from the parent folder name, speaker from an optional regex."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from data_prep.corpora.base import CorpusScan, ScanResult

SOURCE = "any folder of <emotion>/<file> audio files"
DEFAULT_LANGUAGE = "und"


def scan(root: str | Path, *, corpus: str = "folder", language: str = DEFAULT_LANGUAGE,
         speaker_regex: str | None = None, speaker: str = "unknown") -> ScanResult:
    """`speaker_regex` is searched in the file name (group `speaker`, else group 1, else the whole match);
    without it every clip gets `speaker`. A file whose name the regex does not match is skipped.
    A duplicate is the same parent folder and file name (case-insensitive)."""
    return scan_labelled_folder(root, corpus=corpus, language=language, speaker_regex=speaker_regex,
                                speaker=speaker, label_of=lambda path: path.parent.name)


def scan_labelled_folder(root: str | Path, *, corpus: str, language: str, speaker_regex: str | None,
                         speaker: str, label_of: Callable[[Path], str]) -> ScanResult:
    """The walk shared by labelled-folder adapters: duplicates by (parent folder, file name), speaker from
    `speaker_regex` or `speaker`, raw label from `label_of(path)`."""
    pattern = re.compile(speaker_regex) if speaker_regex else None
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        if s.is_duplicate(path, (path.parent.name.lower(), path.name.lower())):
            continue
        who = s.speaker_of(path, pattern, speaker)
        if who is not None:
            s.keep(path, label_of(path), who)
    return s.result
