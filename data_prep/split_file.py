"""Published protocols: place every clip where a split file says (`python -m data_prep ... --split_file FILE`).

The file is a CSV with a header: ``path,split`` (train / validation / test; ``val``, ``valid`` and ``dev`` mean
validation) or ``path,fold`` (fold ids, any integers or names). ``path`` is a clip's path relative to its corpus
root (``Actor_01/03-01-05-01-01-01-01.wav``), a longer path ending the same way (as written on another machine), or
a shorter tail down to the bare file name; matching is case-insensitive and the longest shared tail wins.
A clip the file does not name is not placed anywhere: it is counted and listed in prepare_report.json
(``split_file.not_named``) and skipped with the reason ``not in split file``, so ``found = kept + sum(skipped)``
still holds. Entries that name no clip are listed too (``split_file.unmatched_entries``); an entry that matches two
clips is an error (name them by a longer path).

With folds, fold ``F0`` (the first fold in the file's order, sorted when they are integers) is the test split,
the next one validation and the rest train, and folds.json maps every clip's path to its fold index, so
``python -m recipe.experiments --variants kfold`` tests on each published fold in turn.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from common.config import ConfigError
from common.names import display_path
from data_prep.corpora import Skipped, Utterance

REASON_NOT_NAMED = "not in split file"
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "eval": "test",
}


@dataclass
class SplitFile:
    """A parsed split file: `kind` "split" or "fold", entries keyed by the lower-cased path (posix separators)."""

    path: str
    kind: str
    entries: dict[str, str]
    folds: list[str] = field(default_factory=list)  # fold ids in fold-index order (kind "fold")


def _key(path: str) -> str:
    return PurePath(path.replace("\\", "/")).as_posix().lstrip("/").lower()


def read_split_file(path: str | Path) -> SplitFile:
    """Parse and check a split file; ConfigError naming the file and line for anything malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: split file not found")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        kind = "split" if "split" in header else "fold" if "fold" in header else None
        if "path" not in header or kind is None:
            raise ConfigError(f"{path}: header must be path,split or path,fold, got {','.join(header) or 'nothing'}")
        reader.fieldnames = header
        entries: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            name, value = (row.get("path") or "").strip(), (row.get(kind) or "").strip()
            if not name or not value:
                raise ConfigError(f"{path}:{line}: empty path or {kind}")
            if kind == "split":
                if value.lower() not in SPLIT_ALIASES:
                    raise ConfigError(f"{path}:{line}: split {value!r} is not train, validation or test")
                value = SPLIT_ALIASES[value.lower()]
            key = _key(name)
            if key in entries and entries[key] != value:
                raise ConfigError(f"{path}:{line}: {name} is placed twice ({entries[key]} and {value})")
            entries[key] = value
    if not entries:
        raise ConfigError(f"{path}: no rows")
    folds: list[str] = []
    if kind == "fold":
        ids = sorted(set(entries.values()), key=lambda f: (0, int(f), "") if f.lstrip("-").isdigit() else (1, 0, f))
        if len(ids) < 2:
            raise ConfigError(f"{path}: a fold file needs at least two folds, got {ids}")
        folds = ids
    return SplitFile(str(path), kind, entries, folds)


@dataclass
class Placement:
    """Where each clip goes: `value[i]` the split or fold id of clip i (None: not named)."""

    value: list[str | None]
    unmatched_entries: list[str]

    @property
    def not_named(self) -> list[int]:
        return [i for i, v in enumerate(self.value) if v is None]


def place(split_file: SplitFile, clip_paths: list[str], roots: list[str]) -> Placement:
    """Match each clip to the entry that shares the longest path tail with the clip's path relative to its corpus
    root (down to the file name), so an entry written from another copy of the corpus
    (`downloads/ravdess/audio/Audio_Speech_Actors_01-24/Actor_14/x.wav`) still finds `Actor_14/x.wav`."""
    by_tail: dict[str, set[str]] = defaultdict(set)
    for entry in split_file.entries:
        parts = entry.split("/")
        for start in range(len(parts)):
            by_tail["/".join(parts[start:])].add(entry)
    values: list[str | None] = []
    used: dict[str, int] = {}
    for i, (clip, root) in enumerate(zip(clip_paths, roots)):
        try:
            rel = Path(clip).resolve().relative_to(Path(root).resolve())
        except ValueError:
            rel = Path(clip)
        parts = _key(rel.as_posix()).split("/")
        value = None
        for start in range(len(parts)):
            found = by_tail.get("/".join(parts[start:]))
            if not found:
                continue
            if len(found) > 1:
                raise ConfigError(f"{split_file.path}: {clip} matches several entries ({', '.join(sorted(found))})")
            (entry,) = found
            if entry in used:
                raise ConfigError(
                    f"{split_file.path}: entry {entry!r} matches two clips ({clip_paths[used[entry]]} and {clip}); "
                    "name them by a longer path"
                )
            used[entry] = i
            value = split_file.entries[entry]
            break
        values.append(value)
    return Placement(values, sorted(set(split_file.entries) - set(used)))


def splits_from_placement(split_file: SplitFile, placement: Placement) -> dict[str, list[int]]:
    """train / validation / test row indices (rows = placed clips only, in order)."""
    rows = [v for v in placement.value if v is not None]
    out: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    if split_file.kind == "split":
        for j, v in enumerate(rows):
            out[v].append(j)
        return out
    test_fold, val_fold = split_file.folds[0], split_file.folds[1]
    for j, v in enumerate(rows):
        out["test" if v == test_fold else "validation" if v == val_fold else "train"].append(j)
    return out


def report_block(split_file: SplitFile, placement: Placement, clip_paths: list[str]) -> dict[str, Any]:
    """The `split_file` block of prepare_report.json."""
    not_named = [clip_paths[i] for i in placement.not_named]
    return {
        "path": split_file.path,
        "kind": split_file.kind,
        "entries": len(split_file.entries),
        "placed": len(clip_paths) - len(not_named),
        "not_named_count": len(not_named),
        "not_named": not_named,
        "unmatched_entries_count": len(placement.unmatched_entries),
        "unmatched_entries": placement.unmatched_entries,
        **({"folds": split_file.folds} if split_file.kind == "fold" else {}),
    }


def apply_split_file(
    path: str, candidates: list[Utterance], kept: list[int], skipped: list[Skipped], roots: dict[str, str]
) -> tuple[list[int], dict[str, list[int]], dict[str, Any], dict[str, Any] | None]:
    """Place the kept clips by the split file: returns (the clips still kept, their train/validation/test rows,
    the report block, folds.json content for a fold file or None). Clips it does not name are appended to
    `skipped` with REASON_NOT_NAMED."""
    split_file = read_split_file(path)
    clip_paths = [candidates[i].path for i in kept]
    placement = place(split_file, clip_paths, [roots[candidates[i].corpus] for i in kept])
    for i in placement.not_named:
        utt = candidates[kept[i]]
        skipped.append(Skipped(utt.path, utt.corpus, REASON_NOT_NAMED, f"{split_file.path} does not name it"))
    block = report_block(split_file, placement, [display_path(p) for p in clip_paths])
    placed = [k for k, v in zip(kept, placement.value) if v is not None]
    if not placed:
        raise ConfigError(f"{split_file.path}: names none of the {len(kept)} clips found (see paths in --help)")
    folds = None
    if split_file.kind == "fold":
        index = {fold: n for n, fold in enumerate(split_file.folds)}
        folds = {
            "k": len(split_file.folds),
            "by": "split_file",
            "split_file": split_file.path,
            "fold_ids": split_file.folds,
            "paths": {display_path(candidates[k].path): index[v] for k, v in zip(kept, placement.value) if v},
        }
    return placed, splits_from_placement(split_file, placement), block, folds
