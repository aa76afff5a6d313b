"""What one uploaded file may cost a server: its duration, read from the file header before anything is decoded,
and error messages that name the file without the server's paths.

Imports only the standard library, soundfile and `data_prep.audio`, because `python -m recipe.hub --with_app`
ships this module and `data_prep/audio.py` beside the Space's app.py: the web apps and `recipe.predict` then refuse
the same files with the same reasons (`data_prep.audio.load_clip`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

from data_prep.audio import _FALLBACK_ONLY, AudioError, load_clip

REASON_TOO_LONG = "too long"
# Absolute POSIX paths or Windows drive paths inside a message (a decoder's "Error opening '/tmp/x/y.wav'"), not a
# slash inside a word ("NaN/inf").
_ABSOLUTE_PATH = re.compile(r"(?<![\w./\\-])(?:[A-Za-z]:\\|/)[^\s'\"():,]*")


def audio_duration(path: str | Path) -> float | None:
    """Duration in seconds from the header (libsndfile formats: nothing decoded); for the formats only the
    fallback decoder reads, librosa's estimate. None when the file cannot be probed: `load_clip` then gives the
    canonical reason (missing, empty, not audio, ...)."""
    path = Path(path)
    try:
        if path.suffix.lower() in _FALLBACK_ONLY:
            import librosa  # slow to import and rarely needed

            return float(librosa.get_duration(path=str(path)))
        info = sf.info(str(path))
        return info.frames / info.samplerate if info.samplerate else None
    except Exception:  # noqa: BLE001 - any probe failure is reported by the decoder itself
        return None


def check_duration(path: str | Path, max_seconds: float | None) -> float | None:
    """The header duration of `path`; AudioError(REASON_TOO_LONG) when it exceeds `max_seconds` (None: no bound)."""
    duration = audio_duration(path)
    if max_seconds is not None and duration is not None and duration > max_seconds:
        raise AudioError(path, REASON_TOO_LONG, f"{duration:.1f} s > the {max_seconds:g} s limit")
    return duration


def load_limited_clip(
    path: str | Path, target_sr: int, max_seconds: float | None, min_duration: float = 0.25
) -> tuple[np.ndarray, float]:
    """`check_duration`, then the whole file through `load_clip` (the checks `recipe.predict` applies: silent,
    constant, NaN/inf, too short, undecodable)."""
    check_duration(path, max_seconds)
    return load_clip(path, target_sr=target_sr, max_duration=None, min_duration=min_duration)


def public_message(err: AudioError | str, path: str | Path | None = None) -> str:
    """The error as "NAME: reason (detail)" with every absolute path (an upload's temporary folder, a decoder's
    quoted path) replaced by its last component, so a web page never shows where the server keeps files."""
    if isinstance(err, AudioError):
        text = f"{Path(err.path).name}: {err.reason}" + (f" ({err.detail})" if err.detail else "")
    else:
        text = str(err)
    if path:
        text = text.replace(str(path), Path(path).name)
    return _ABSOLUTE_PATH.sub(lambda m: re.split(r"[\\/]", m.group(0).rstrip("\\/"))[-1] or "<path>", text)
