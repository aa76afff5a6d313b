"""Hindi SER (Kaggle vishlb): `<speaker>.<session>.<emotion>-<NN>.wav` in two layouts of the same clips.

Layout A `my Dataset/<emotion>/*.wav`, layout B `SER HINDI SESSION 1/<speaker>/session<k>/<emotion>/*.wav`.
Both are walked; the second copy of a file name is a duplicate. Label and speaker come from the name;
for a name that does not parse, the emotion folder and (layout B) the speaker folder are used.
"""

from __future__ import annotations

import re
from pathlib import Path

from data_prep.corpora.base import REASON_UNPARSEABLE, CorpusScan, ScanResult

SOURCE = (
    "Kaggle vishlb/speech-emotion-recognition-hindi; unzip so that 'my Dataset/' and/or "
    "'SER HINDI SESSION 1/' are inside"
)
DEFAULT_LANGUAGE = "hi"
NAME = re.compile(r"^(?P<speaker>[^.]+)\.(?P<session>[^.]+)\.(?P<emotion>[a-z]+)[-_ ]?(?P<idx>\d+)$", re.IGNORECASE)
SESSION_DIR = re.compile(r"^session\s*\d+$", re.IGNORECASE)


def scan(root: str | Path, *, corpus: str = "hindi", language: str = DEFAULT_LANGUAGE) -> ScanResult:
    """Walk both layouts; keep the first copy of each file name (layout A sorts first)."""
    s = CorpusScan(corpus, language)
    for path in s.audio_files(root):
        if s.is_duplicate(path, path.name.lower()):
            continue
        match = NAME.match(path.stem)
        if match:
            s.keep(path, match["emotion"], match["speaker"])
        elif len(path.parts) >= 4 and SESSION_DIR.match(path.parent.parent.name):
            s.keep(path, path.parent.name, path.parts[-4])  # layout B folders
        else:
            s.skip(path, REASON_UNPARSEABLE, "expected <speaker>.<session>.<emotion>-<NN>")
    return s.result
