"""Generic manifest: a CSV with columns path,label[,speaker,language] (paths relative to the CSV)."""
from __future__ import annotations

import csv as _csv
from pathlib import Path

from data_prep.corpora.base import REASON_DUPLICATE_NAME, CorpusScan, ScanResult

SOURCE = "a CSV manifest with header path,label[,speaker,language]"
DEFAULT_LANGUAGE = "und"


def scan(root: str | Path, *, corpus: str = "csv", language: str = DEFAULT_LANGUAGE,
         speaker: str = "unknown") -> ScanResult:
    """`root` is the CSV file. Rows naming the same file twice are duplicates; missing files are
    reported when decoding. Per-row `speaker`/`language` columns override the defaults."""
    manifest = Path(root)
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest not found: {manifest}")
    s = CorpusScan(corpus, language)
    seen: dict[Path, int] = {}
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = _csv.DictReader(fh)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        if not {"path", "label"} <= columns.keys():
            raise ValueError(f"{manifest}: needs columns path,label[,speaker,language]; has {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            get = lambda key: (row.get(columns.get(key, ""), "") or "").strip()  # noqa: E731
            path = (manifest.parent / get("path")).resolve()
            if path in seen:
                s.skip(path, REASON_DUPLICATE_NAME, f"line {line} repeats line {seen[path]}")
                continue
            seen[path] = line
            s.keep(path, get("label"), get("speaker") or speaker, language=get("language") or None)
    return s.result
