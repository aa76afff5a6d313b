"""Shared pieces of the corpus adapters: the Utterance record, skip records and a file walker."""
from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.audio import AUDIO_EXTENSIONS
from data_prep.labels import normalise_label

# Emotion names that corpora use but we deliberately leave out of the six target classes.
DROPPED_LABELS: frozenset[str] = frozenset(
    {"calm", "disgust", "disgusted", "boredom", "bored", "sarcastic", "sarcasm", "contempt", "frustration"}
)

# Skip reasons found while scanning (decoding adds those of data_prep.audio).
REASON_HIDDEN = "hidden file"
REASON_NOT_AUDIO_FILE = "not an audio file"
REASON_DUPLICATE_NAME = "duplicate name"
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
    label: str            # one of data_prep.labels.EMOTIONS
    speaker: str          # prefixed with the corpus name, e.g. "ravdess_12"
    language: str
    corpus: str
    original_label: str   # the corpus's own spelling or code, e.g. "fearful" or "06"


@dataclass(frozen=True)
class Skipped:
    """A file that is not used, with a short canonical reason (counted) and a free-text detail."""

    path: str
    corpus: str
    reason: str
    detail: str = ""


@dataclass
class ScanResult:
    """What an adapter returns: kept utterances and skipped files (every file under the root is in one)."""

    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def found(self) -> int:
        """Number of files seen under the corpus root."""
        return len(self.utterances) + len(self.skipped)


def walk_files(root: str | Path) -> list[Path]:
    """Every regular file under `root` (symlinks followed, loops avoided), sorted case-insensitively."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    seen_dirs: set[tuple[int, int]] = set()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        files.extend(Path(dirpath) / name for name in filenames if os.path.isfile(os.path.join(dirpath, name)))
    return sorted(files, key=lambda p: (p.relative_to(root).as_posix().casefold(), p.as_posix()))


class CorpusScan:
    """Accumulates kept utterances and skip records for one corpus while an adapter walks its files."""

    def __init__(self, corpus: str, language: str) -> None:
        self.corpus = corpus
        self.language = language
        self.result = ScanResult()
        self._keys: dict[Hashable, str] = {}

    def audio_files(self, root: str | Path) -> Iterator[Path]:
        """Yield audio files under `root` in sorted order; hidden and non-audio files are recorded as skipped."""
        for path in walk_files(Path(root).resolve()):
            if path.name.startswith("."):
                self.skip(path, REASON_HIDDEN, "name starts with '.' (e.g. macOS metadata)")
            elif path.suffix.lower() not in AUDIO_EXTENSIONS:
                self.skip(path, REASON_NOT_AUDIO_FILE, f"suffix {path.suffix or '(none)'!r}")
            else:
                yield path

    def is_duplicate(self, path: Path, key: Hashable) -> bool:
        """True (and recorded as skipped) if a file with the same key was already seen in this corpus."""
        if key in self._keys:
            self.skip(path, REASON_DUPLICATE_NAME, f"same name as {self._keys[key]}")
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

    def keep(self, path: Path, raw_label: str, speaker: str, original_label: str | None = None,
             language: str | None = None) -> bool:
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
