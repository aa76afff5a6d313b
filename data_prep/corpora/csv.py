"""Generic manifest: a CSV with columns path,label[,speaker,language] (paths relative to the CSV's folder).

Spreadsheet exports are read as they come: UTF-8 (with or without BOM), else Windows-1252 (noted in the report);
the delimiter (`,` `;` tab `|`) is sniffed. An empty file or one without `path` and `label` columns is a
ManifestError (one line, exit 2). A header-only file is a corpus of 0 rows.

Paths must stay inside the manifest's folder: an absolute path or one that climbs out with `../` is skipped as
"path outside manifest folder" unless the corpus option `allow_outside: true` is set.
"""

from __future__ import annotations

import csv as _csv
import os
from pathlib import Path

from data_prep.corpora.base import CorpusScan, ManifestError, ManifestNotFoundError, ScanResult

SOURCE = "a CSV manifest with header path,label[,speaker,language]"
DEFAULT_LANGUAGE = "und"
REASON_DUPLICATE_ROW = "duplicate row"
REASON_OUTSIDE = "path outside manifest folder"
REASON_NO_PATH = "empty path"
DELIMITERS = ",;\t|"


def read_manifest_text(manifest: Path) -> tuple[str, str | None]:
    """The manifest's text and a note when it was not UTF-8 (decoded as Windows-1252, else Latin-1)."""
    raw = manifest.read_bytes()
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        where = f"byte {err.start}"
    for encoding in ("cp1252", "latin-1"):  # cp1252 leaves 5 byte values undefined; Latin-1 maps all 256
        try:
            return raw.decode(encoding), f"{manifest.name}: not UTF-8 ({where}); read as {encoding}"
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def sniff_dialect(text: str) -> type[_csv.Dialect] | _csv.Dialect:
    """The CSV dialect of `text` (delimiter among `DELIMITERS`), or the default comma dialect."""
    head = "\n".join(text.splitlines()[:20])
    try:
        return _csv.Sniffer().sniff(head, delimiters=DELIMITERS)
    except _csv.Error:  # one column, or too few rows to tell: plain commas
        return _csv.excel


def scan(
    root: str | Path,
    *,
    corpus: str = "csv",
    language: str = DEFAULT_LANGUAGE,
    speaker: str = "unknown",
    allow_outside: bool = False,
) -> ScanResult:
    """`root` is the CSV file. A row naming a file an earlier row named is a "duplicate row"; different files
    are never duplicates by name (identical bytes are caught when decoding); missing files are reported when
    decoding. Per-row `speaker`/`language` columns override the defaults."""
    manifest = Path(root)
    if not manifest.is_file():
        raise ManifestNotFoundError(f"manifest not found: {manifest}")
    text, note = read_manifest_text(manifest)
    if not text.strip():
        raise ManifestError(f"{manifest}: empty file; expected a header line path,label[,speaker,language]")
    s = CorpusScan(corpus, language)
    if note:
        s.result.notes.append(note)
    reader = _csv.DictReader(text.splitlines(), dialect=sniff_dialect(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or [] if name}
    if not {"path", "label"} <= columns.keys():
        raise ManifestError(
            f"{manifest}: needs columns path,label[,speaker,language]; header has "
            f"{', '.join(reader.fieldnames or []) or 'nothing'}"
        )
    folder = manifest.parent.resolve()
    seen: dict[Path, int] = {}
    for line, row in enumerate(reader, start=2):

        def get(key: str) -> str:
            return (row.get(columns.get(key, ""), "") or "").strip()

        raw_path = get("path")
        if not raw_path:
            s.skip(f"{manifest}:{line}", REASON_NO_PATH, f"line {line} has no path")
            continue
        path = Path(os.path.normpath(folder / raw_path))
        if not allow_outside and (Path(raw_path).is_absolute() or not path.is_relative_to(folder)):
            s.skip(
                path,
                REASON_OUTSIDE,
                f"line {line}: {raw_path!r} leaves {folder} (corpus option allow_outside: true reads it)",
            )
            continue
        if path in seen:
            s.skip(path, REASON_DUPLICATE_ROW, f"line {line} repeats line {seen[path]}")
            continue
        seen[path] = line
        s.keep(path, get("label"), get("speaker") or speaker, language=get("language") or None)
    return s.result
