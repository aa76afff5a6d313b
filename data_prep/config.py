"""Settings of a `python -m data_prep` run: YAML config merged with command-line overrides."""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from data_prep.corpora import get_adapter

SPLIT_MODES = ("utterance", "speaker")


class ConfigError(ValueError):
    """A config file or command-line value that cannot be used."""


@dataclass
class CorpusSpec:
    """One corpus to read: its name (report key, speaker prefix), adapter, path and adapter options."""

    name: str
    adapter: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        """The language this corpus is labelled with (adapter default unless configured)."""
        return self.options.get("language", get_adapter(self.adapter).DEFAULT_LANGUAGE)


@dataclass
class PrepareConfig:
    """Every setting of a prepare run (defaults are those of configs/data.yaml)."""

    corpora: list[CorpusSpec] = field(default_factory=list)
    output: str = "data/prepared"
    per_class: int = 1000
    split_by: str = "utterance"
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 42
    max_duration: float = 8.0
    min_duration: float = 0.25
    sampling_rate: int = 16000
    workers: int = 0           # decoding processes; 0 = number of CPUs
    keep_unbalanced: bool = False  # also save split `train_unbalanced` (train before balancing; ablation no_balancing)
    folds: int = 0             # >= 3: assign speakers to this many folds in folds.json (speaker k-fold CV)

    def validate(self) -> None:
        """Coerce numeric settings (YAML may give strings) and raise ConfigError on values that make no sense."""
        for key, kind in (("per_class", int), ("seed", int), ("sampling_rate", int), ("workers", int),
                          ("folds", int), ("val_fraction", float), ("test_fraction", float), ("min_duration", float),
                          ("max_duration", float)):
            value = getattr(self, key)
            if value is None and key == "max_duration":   # null: no cropping
                continue
            try:
                if kind is int and float(value) != int(float(value)):
                    raise ValueError
                setattr(self, key, kind(float(value)) if kind is int else kind(value))
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a{'n integer' if kind is int else ' number'}, got {value!r}") from None
        if self.split_by not in SPLIT_MODES:
            raise ConfigError(f"split_by must be one of {SPLIT_MODES}, got {self.split_by!r}")
        for key in ("val_fraction", "test_fraction"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"{key} must be in [0, 1), got {getattr(self, key)}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError("val_fraction + test_fraction must be < 1 (train needs clips)")
        if not isinstance(self.keep_unbalanced, bool):
            raise ConfigError(f"keep_unbalanced must be true or false, got {self.keep_unbalanced!r}")
        if self.folds < 0 or self.folds in (1, 2):
            raise ConfigError(f"folds must be 0 (none) or >= 3 (test, validation and train folds), got {self.folds}")
        if self.per_class < 0:
            raise ConfigError(f"per_class must be >= 0 (0 = no balancing), got {self.per_class}")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ConfigError(f"max_duration must be > 0, got {self.max_duration}")
        if self.min_duration < 0 or self.sampling_rate <= 0 or self.workers < 0:
            raise ConfigError("min_duration, sampling_rate and workers must not be negative")

    @property
    def num_workers(self) -> int:
        """Decoding processes to use."""
        return self.workers or os.cpu_count() or 1

    def settings(self) -> dict[str, Any]:
        """The settings block of prepare_report.json."""
        keys = ("per_class", "split_by", "seed", "val_fraction", "test_fraction", "max_duration",
                "min_duration", "sampling_rate")
        return {key: getattr(self, key) for key in keys}


_TOP_KEYS = {"corpora", "corpus_options", "output", "per_class", "split_by", "val_fraction", "test_fraction",
             "seed", "max_duration", "min_duration", "sampling_rate", "workers", "keep_unbalanced", "folds"}


def _spec(name: str, path: str, entry: dict[str, Any], corpus_options: dict[str, Any]) -> CorpusSpec:
    """Build and check a CorpusSpec: the adapter's `corpus_options` block overridden by the corpus's own
    `entry` (its `path` key ignored); options must be keyword arguments of the adapter's scan()."""
    options = {**corpus_options.get(entry.get("adapter", name), {}), **entry}
    adapter_name = options.pop("adapter", name)
    options.pop("path", None)
    try:
        adapter = get_adapter(adapter_name)
    except KeyError as exc:
        raise ConfigError(f"corpus {name!r}: {exc.args[0]}") from None
    allowed = set(inspect.signature(adapter.scan).parameters) - {"root", "corpus"}
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"corpus {name!r}: unknown option(s) {sorted(unknown)}; "
                          f"adapter {adapter_name!r} takes {sorted(allowed)}")
    return CorpusSpec(name, adapter_name, str(path), options)


def load_config(path: str | Path | None, corpus_overrides: list[str] | None = None,
                **overrides: Any) -> PrepareConfig:
    """Read the YAML at `path` (None = built-in defaults, no corpora), apply `--corpus NAME=PATH` (these
    replace the config's corpus list; options for NAME still come from `corpora` / `corpus_options`)
    and other overrides whose value is not None. Unknown keys are errors."""
    raw: dict[str, Any] = {}
    if path is not None:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    entries: dict[str, Any] = raw.get("corpora") or {}
    defaults: dict[str, Any] = raw.get("corpus_options") or {}
    for key, mapping in (("corpora", entries), ("corpus_options", defaults)):  # each checked: a name may be in both
        if not isinstance(mapping, dict):
            raise ConfigError(f"{path}: {key} must map corpus names to options, got {mapping!r}")
        for name, value in mapping.items():
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: corpus {name!r} must map to options, got {value!r}")
    cfg = PrepareConfig(**{k: v for k, v in raw.items() if k not in ("corpora", "corpus_options")})
    if corpus_overrides:
        for item in corpus_overrides:
            name, sep, corpus_path = item.partition("=")
            if not sep or not name or not corpus_path:
                raise ConfigError(f"--corpus wants NAME=PATH, got {item!r}")
            cfg.corpora.append(_spec(name, corpus_path, entries.get(name, {}), defaults))
    else:
        for name, entry in entries.items():
            if "path" not in entry:
                raise ConfigError(f"{path}: corpus {name!r} has no path")
            cfg.corpora.append(_spec(name, entry["path"], entry, defaults))
    names = [c.name for c in cfg.corpora]
    if len(set(names)) != len(names):
        raise ConfigError(f"corpus names must be unique, got {names}")
    for key, value in overrides.items():
        if key not in _TOP_KEYS or key in ("corpora", "corpus_options"):
            raise ConfigError(f"unknown override {key!r}")
        if value is not None:
            setattr(cfg, key, value)
    cfg.validate()
    return cfg
