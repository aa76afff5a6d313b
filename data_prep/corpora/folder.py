"""Generic labelled folder: label from the parent folder name, speaker from an optional regex."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from data_prep.corpora.base import CorpusScan, ScanResult

SOURCE = "any folder of <emotion>/<file> audio files"
DEFAULT_LANGUAGE = "und"


def scan(
    root: str | Path,
    *,
    corpus: str = "folder",
    language: str = DEFAULT_LANGUAGE,
    speaker_regex: str | None = None,
    speaker: str = "unknown",
) -> ScanResult:
    """`speaker_regex` is searched in the file name (group `speaker`, else group 1, else the whole match);
    without it every clip gets `speaker`. A file whose name the regex does not match is skipped.
    Only identical content is a duplicate (found when decoding): two recordings that share a file name in
    different folders are both kept."""
    return scan_labelled_folder(
        root,
        corpus=corpus,
        language=language,
        speaker_regex=speaker_regex,
        speaker=speaker,
        label_of=lambda path: path.parent.name,
    )


def scan_labelled_folder(
    root: str | Path,
    *,
    corpus: str,
    language: str,
    speaker_regex: str | None,
    speaker: str,
    label_of: Callable[[Path], str],
) -> ScanResult:
    """The walk shared by labelled-folder adapters: speaker from `speaker_regex` or `speaker`, raw label from
    `label_of(path)`; no name-based deduplication (identical bytes are caught when decoding)."""
    pattern = re.compile(speaker_regex) if speaker_regex else None
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        who = s.speaker_of(path, pattern, speaker)
        if who is not None:
            s.keep(path, label_of(path), who)
    return s.result
