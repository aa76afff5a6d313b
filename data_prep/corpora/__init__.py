"""Corpus adapters, one module per corpus, and the registry that maps a name to its adapter.

Every adapter module has `scan(root, *, corpus=NAME, language=..., **options) -> ScanResult`,
`SOURCE` (where to get the corpus) and `DEFAULT_LANGUAGE`.
"""

from __future__ import annotations

from types import ModuleType

from data_prep.corpora import csv, folder, hindi, iesc, kai_indian, ravdess, urdu, urdu_ser
from data_prep.corpora.base import ScanResult, Skipped, Utterance, walk_files

ADAPTERS: dict[str, ModuleType] = {
    "ravdess": ravdess,
    "iesc": iesc,
    "hindi": hindi,
    "kai_indian": kai_indian,
    "urdu": urdu,
    "urdu_ser": urdu_ser,
    "folder": folder,
    "csv": csv,
}


def get_adapter(name: str) -> ModuleType:
    """The adapter module registered under `name` (KeyError listing the known names otherwise)."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise KeyError(f"unknown corpus adapter {name!r}; known: {', '.join(ADAPTERS)}") from None


__all__ = ["ADAPTERS", "ScanResult", "Skipped", "Utterance", "get_adapter", "walk_files"]
