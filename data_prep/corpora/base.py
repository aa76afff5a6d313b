"""Shared pieces of the corpus adapters: the Utterance record, skip records and a file walker."""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import UserError
from common.files import REASON_HIDDEN_FILE, file_sha1, walk_tree
from data_prep.audio import AUDIO_EXTENSIONS
from data_prep.labels import normalise_label

# Emotion names that corpora use but we deliberately leave out of the six target classes.
DROPPED_LABELS: frozenset[str] = frozenset(
    {"calm", "disgust", "disgusted", "boredom", "bored", "sarcastic", "sarcasm", "contempt", "frustration"}
)

# Skip reasons found while scanning (decoding adds those of data_prep.audio).
REASON_HIDDEN = REASON_HIDDEN_FILE
REASON_NOT_AUDIO_FILE = "not an audio file"
REASON_DUPLICATE_NAME = "duplicate name"
REASON_NAME_COLLISION = "name collision"
REASON_UNKNOWN_LABEL = "unknown label"
REASON_DROPPED_LABEL = "dropped label"
REASON_UNPARSEABLE = "unparseable name"
REASON_NOT_SPEECH = "not audio-only speech"
REASON_LABEL_MISMATCH = "label mismatch"
REASON_NO_SPEAKER = "no speaker"


@dataclass(frozen=True)
class Utterance:
    """One usable clip: where it is, its target class and who said it in which language."""

    path: str
    label: str  # one of data_prep.labels.EMOTIONS
    speaker: str  # prefixed with the corpus name, e.g. "ravdess_12"
    language: str
    corpus: str
    original_label: str  # the corpus's own spelling or code, e.g. "fearful" or "06"


@dataclass(frozen=True)
class Skipped:
    """A file that is not used, with a short canonical reason (counted) and a free-text detail."""

    path: str
    corpus: str
    reason: str
    detail: str = ""


class ManifestError(UserError, ValueError):
    """A corpus manifest (CSV) that cannot be read at all; the message names the file and what to fix."""


class ManifestNotFoundError(UserError, FileNotFoundError):
    """A corpus manifest (CSV) that does not exist."""


@dataclass
class ScanResult:
    """What an adapter returns: kept utterances and skipped files (every file under the root is in one), and
    notes on how the corpus was read (e.g. a manifest's encoding) for the report."""

    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        """Number of files seen under the corpus root."""
        return len(self.utterances) + len(self.skipped)


def walk_files(root: str | Path) -> list[Path]:
    """Every file read under `root` by the shared walk rule (`common.files.walk_tree`), sorted case-insensitively."""
    return walk_tree(root).files


def same_bytes(a: str | Path, b: str | Path) -> bool:
    """True when the two files hold identical bytes (sizes compared first, then SHA-1 of the content)."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    return file_sha1(a) == file_sha1(b)


class CorpusScan:
    """Accumulates kept utterances and skip records for one corpus while an adapter walks its files."""

    def __init__(self, corpus: str, language: str) -> None:
        self.corpus = corpus
        self.language = language
        self.result = ScanResult()
        self._keys: dict[Hashable, str] = {}

    def audio_files(self, root: str | Path) -> Iterator[Path]:
        """Yield audio files under `root` in sorted order (walk rule of `common.files`); hidden entries, link
        aliases, broken links, loops and non-audio files are recorded as skipped."""
        walk = walk_tree(Path(root).resolve())
        for entry in walk.unused:
            self.skip(entry.path, entry.reason, entry.detail)
        for path in walk.files:
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                self.skip(path, REASON_NOT_AUDIO_FILE, f"suffix {path.suffix or '(none)'!r}")
            else:
                yield path

    def is_duplicate(self, path: Path, key: Hashable) -> bool:
        """For corpora known to ship duplicated trees: True (and recorded as skipped) if a file with the same
        name key was already seen. Same bytes: "duplicate name". Different bytes: "name collision" (a re-saved or
        misfiled copy; the first copy in sorted order is kept and the pair is reported to be looked at)."""
        if key in self._keys:
            first = self._keys[key]
            if same_bytes(first, path):
                self.skip(path, REASON_DUPLICATE_NAME, f"same name and bytes as {first}")
            else:
                self.skip(
                    path, REASON_NAME_COLLISION, f"same name as {first} but different bytes: check which copy is right"
                )
            return True
        self._keys[key] = str(path)
        return False

    def speaker_of(self, path: Path, pattern: re.Pattern[str] | None, default: str) -> str | None:
        """Speaker from `pattern` searched in the file name (group `speaker`, else group 1, else the whole
        match), or `default` without a pattern; None (and recorded as skipped) when the pattern does not match."""
        if pattern is None:
            return default
        match = pattern.search(path.name)
        if not match:
            self.skip(path, REASON_NO_SPEAKER, f"speaker_regex {pattern.pattern!r} does not match")
            return None
        return match.groupdict().get("speaker") or match.group(1 if pattern.groups else 0)

    def skip(self, path: Path | str, reason: str, detail: str = "") -> None:
        """Record a file that is not kept."""
        self.result.skipped.append(Skipped(str(path), self.corpus, reason, detail))

    def keep(
        self, path: Path, raw_label: str, speaker: str, original_label: str | None = None, language: str | None = None
    ) -> bool:
        """Keep `path` if `raw_label` maps to a target class, else record it as a dropped/unknown label."""
        label = normalise_label(raw_label)
        original = original_label if original_label is not None else raw_label
        if label is None:
            reason = REASON_DROPPED_LABEL if raw_label.strip().lower() in DROPPED_LABELS else REASON_UNKNOWN_LABEL
            self.skip(path, reason, f"label {original!r}")
            return False
        self.result.utterances.append(
            Utterance(str(path), label, f"{self.corpus}_{speaker}", language or self.language, self.corpus, original)
        )
        return True
