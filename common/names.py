"""File names that are not valid UTF-8 (archives made on Windows, old Latin-1 disks).

Python gives such a name as a str holding surrogate escapes (`os.fsdecode`); it opens the file fine, but Arrow,
JSON encoders and `print` refuse it. Internally the surrogate-escaped str is kept (it opens the file); everywhere a
name is written or printed, `display_path` turns each undecodable byte into a visible `\\xNN` escape, and
`raw_name_b64` gives the exact bytes for a caller who must find the file again.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any


def is_lossless_text(name: str | Path) -> bool:
    """True when `name` is plain UTF-8 text (no surrogate escapes from undecodable bytes)."""
    try:
        str(name).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(name: str | Path) -> str:
    """`name` as valid text: undecodable bytes written as `\\xNN` (e.g. b'caf\\xe9.wav' -> 'caf\\\\xe9.wav')."""
    text = str(name)
    if is_lossless_text(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def raw_name_b64(name: str | Path) -> str:
    """The exact bytes of `name` in base64: `os.fsdecode(base64.b64decode(value))` opens the file again."""
    return base64.b64encode(os.fsencode(str(name))).decode("ascii")


def text_safe(value: Any) -> Any:
    """`value` (dicts, lists, tuples, strings, scalars) with every string passed through `display_path`, so that
    `json.dumps(..., ensure_ascii=False).encode("utf-8")` cannot fail on a surrogate escape."""
    if isinstance(value, str):
        return display_path(value)
    if isinstance(value, dict):
        return {text_safe(k): text_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [text_safe(v) for v in value]
    return value
