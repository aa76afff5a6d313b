"""Settings of a `python -m data_prep` run: `PrepareOptions` (every key of configs/data.yaml, documented in
``python -m data_prep --help``) parsed by `common.config.ConfigParser`, resolved into a `PrepareConfig`."""

from __future__ import annotations

import inspect
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from common.config import ConfigError, check_value
from data_prep.corpora import get_adapter

SplitMode = Literal["utterance", "speaker"]
SPLIT_MODES: tuple[str, ...] = typing.get_args(SplitMode)

__all__ = ["ConfigError", "CorpusSpec", "PrepareConfig", "PrepareOptions", "SPLIT_MODES", "build_parser", "load_config"]


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
class PrepareOptions:
    """Every key of a data config file; the defaults are configs/data.yaml's values (less its corpus list)."""

    corpora: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "NAME: {path, language, adapter options}; NAME picks the adapter unless `adapter:` is set"},
    )
    corpus_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "ADAPTER: {options}: defaults for every corpus read by that adapter, --corpus ones too"},
    )
    output: str = field(
        default="data/prepared", metadata={"help": "folder to write the DatasetDict and prepare_report.json into"}
    )
    per_class: int = field(
        default=1000, metadata={"help": "train clips per class after balancing (0 = keep train as split)"}
    )
    split_by: SplitMode = field(
        default="utterance", metadata={"help": "utterance: stratified by class; speaker: speaker-disjoint splits"}
    )
    val_fraction: float = field(default=0.15, metadata={"help": "share of each corpus's clips in validation"})
    test_fraction: float = field(default=0.15, metadata={"help": "share of each corpus's clips in test"})
    seed: int = field(default=42, metadata={"help": "seed of the splits and of balancing"})
    max_duration: float | None = field(
        default=8.0, metadata={"help": "seconds kept per clip (centre crop); null: whole clips"}
    )
    min_duration: float = field(default=0.25, metadata={"help": "seconds; shorter clips are skipped"})
    sampling_rate: int = field(default=16000, metadata={"help": "Hz the audio is resampled to"})
    workers: int = field(default=0, metadata={"help": "decoding processes (0 = number of CPUs)"})
    keep_unbalanced: bool = field(
        default=True,
        metadata={"help": "also save the train split before balancing as `train_unbalanced` (no_balancing ablation)"},
    )
    folds: int = field(
        default=5, metadata={"help": "0: none; >= 3: assign whole speakers to this many folds in folds.json"}
    )
    split_file: str | None = field(
        default=None,
        metadata={
            "help": "CSV path,split or path,fold placing every clip (a published protocol; data_prep.split_file); "
            "replaces split_by and the fractions; clips it does not name are reported, not placed"
        },
    )


@dataclass
class PrepareConfig(PrepareOptions):
    """A resolved run: the options with `corpora` as checked CorpusSpecs (the config's list or --corpus)."""

    corpora: list[CorpusSpec] = field(default_factory=list)  # type: ignore[assignment]

    def validate(self, sources: dict[str, str] | None = None) -> None:
        """Raise ConfigError on values that make no sense alone or together; `sources` (key -> file or flag)
        says where each value came from, for the message."""

        def check(ok: bool, key: str, message: str) -> None:
            if not ok:
                where = (sources or {}).get(key)
                raise ConfigError(f"{where}: {key} {message}" if where else f"{key} {message}")

        hints = typing.get_type_hints(PrepareOptions)  # types, for configs built in code (parsed ones are checked)
        for key in set(hints) - {"corpora", "corpus_options"}:
            setattr(self, key, check_value(getattr(self, key), hints[key], key))
        for key in ("val_fraction", "test_fraction"):
            check(0 <= getattr(self, key) < 1, key, f"must be in [0, 1), got {getattr(self, key)}")
        check(
            self.val_fraction + self.test_fraction < 1,
            "val_fraction",
            "+ test_fraction must be < 1 (train needs clips)",
        )
        check(self.per_class >= 0, "per_class", f"must be >= 0 (0 = no balancing), got {self.per_class}")
        check(
            self.max_duration is None or self.max_duration > 0, "max_duration", f"must be > 0, got {self.max_duration}"
        )
        for key in ("min_duration", "workers"):
            check(getattr(self, key) >= 0, key, f"must be >= 0, got {getattr(self, key)}")
        check(self.sampling_rate > 0, "sampling_rate", f"must be > 0, got {self.sampling_rate}")
        if self.split_file is not None:
            from data_prep.split_file import read_split_file

            read_split_file(self.split_file)  # a malformed file is refused before any clip is decoded
        check(
            self.folds == 0 or self.folds >= 3,
            "folds",
            f"must be 0 (none) or >= 3 (test, validation and train folds), got {self.folds}",
        )

    @property
    def num_workers(self) -> int:
        """Decoding processes to use."""
        return self.workers or os.cpu_count() or 1

    def settings(self) -> dict[str, Any]:
        """The settings block of prepare_report.json."""
        keys = (
            "per_class",
            "split_by",
            "seed",
            "val_fraction",
            "test_fraction",
            "max_duration",
            "min_duration",
            "sampling_rate",
        )
        published = {"split_file": self.split_file} if self.split_file else {}
        return {**{key: getattr(self, key) for key in keys}, **published}


def _spec(name: str, path: Any, entry: dict[str, Any], corpus_options: dict[str, Any], source: str) -> CorpusSpec:
    """Build and check a CorpusSpec: the adapter's `corpus_options` block overridden by the corpus's own
    `entry` (its `path` key ignored). Options must be keyword arguments of the adapter's scan(), of its types;
    a regex must compile. Errors name `corpora.NAME.KEY` or `corpus_options.ADAPTER.KEY`."""
    adapter_name = entry.get("adapter", name)
    if not isinstance(adapter_name, str):
        raise ConfigError(f"{source}corpora.{name}.adapter: expected a string, got {adapter_name!r}")
    try:
        adapter = get_adapter(adapter_name)
    except KeyError as exc:
        raise ConfigError(f"{source}corpus {name!r}: {exc.args[0]}") from None
    defaults = corpus_options.get(adapter_name, {})
    options = {**defaults, **entry}
    options.pop("adapter", None)
    options.pop("path", None)
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{source}corpora.{name}.path: expected a folder name, got {path!r}")
    params = inspect.signature(adapter.scan).parameters
    hints = typing.get_type_hints(adapter.scan)
    allowed = set(params) - {"root", "corpus"}
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(
            f"{source}corpus {name!r}: unknown option(s) {sorted(unknown)}; "
            f"adapter {adapter_name!r} takes {sorted(allowed)}"
        )
    for key, value in options.items():
        where = f"{source}corpora.{name}.{key}" if key in entry else f"{source}corpus_options.{adapter_name}.{key}"
        options[key] = check_value(value, hints.get(key, Any), where)
        if key.endswith("regex") and options[key] is not None:
            try:
                re.compile(options[key])
            except re.error as err:
                raise ConfigError(f"{where}: not a valid regular expression ({err})") from None
    return CorpusSpec(name, adapter_name, path, options)


def _corpus_tables(raw: PrepareOptions, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for key in ("corpora", "corpus_options"):  # each checked: a name may be in both
        for name, value in getattr(raw, key).items():
            if not isinstance(value, dict):
                raise ConfigError(f"{source}{key}.{name}: must map to options, got {value!r}")
    return raw.corpora, raw.corpus_options


def resolve(
    raw: PrepareOptions, corpus_overrides: list[str] | None, source: str = "", sources: dict[str, str] | None = None
) -> PrepareConfig:
    """PrepareConfig from parsed options: `--corpus NAME=PATH` items (when given) replace the config's corpus list;
    options for NAME still come from `corpora` / `corpus_options`. `source` prefixes messages ('FILE: ')."""
    entries, defaults = _corpus_tables(raw, source)
    settings = {k: v for k, v in vars(raw).items() if k != "corpora"}
    cfg = PrepareConfig(**settings)
    if corpus_overrides:
        for item in corpus_overrides:
            name, sep, corpus_path = item.partition("=")
            if not sep or not name or not corpus_path:
                raise ConfigError(f"--corpus wants NAME=PATH, got {item!r}")
            cfg.corpora.append(_spec(name, corpus_path, entries.get(name, {}), defaults, source))
    else:
        for name, entry in entries.items():
            if "path" not in entry:
                raise ConfigError(f"{source}corpora.{name}: has no path")
            cfg.corpora.append(_spec(name, entry["path"], entry, defaults, source))
    names = [c.name for c in cfg.corpora]
    if len(set(names)) != len(names):
        raise ConfigError(f"corpus names must be unique, got {names}")
    cfg.validate(sources)
    return cfg


def build_parser():
    """The `python -m data_prep` parser: every PrepareOptions key, --config and the repeatable --corpus."""
    from common.config import ConfigParser  # transformers: imported here, not by the decoding workers

    parser = ConfigParser(
        [PrepareOptions],
        prog="python -m data_prep",
        description="Build the train/validation/test DatasetDict and prepare_report.json.",
    )
    parser.add_argument(
        "--corpus",
        action="append",
        metavar="NAME=PATH",
        help="corpus to read (repeatable); replaces the config's corpus list. NAME is an adapter "
        "(ravdess iesc hindi kai_indian urdu urdu_ser folder csv) or a corpus named in the config",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the output folder if it already holds files (otherwise exit 2)",
    )
    return parser


def parse_cli(argv: list[str], overrides: dict[str, Any] | None = None) -> tuple[PrepareConfig, Any]:
    """Parse a command line (``--config FILE --per_class 20 --corpus folder=DIR ...``): the checked config and the
    options that are no config key (``--overwrite``)."""
    parsed = build_parser().parse(argv, overrides)
    (raw,) = parsed.instances.values()
    cfg = resolve(raw, parsed.extra.corpus, f"{parsed.config}: " if parsed.config else "", parsed.sources)
    return cfg, parsed.extra


def parse_args(argv: list[str], overrides: dict[str, Any] | None = None) -> PrepareConfig:
    """The checked config of a command line (`parse_cli` without the other options)."""
    return parse_cli(argv, overrides)[0]


def load_config(path: str | Path | None, corpus_overrides: list[str] | None = None, **overrides: Any) -> PrepareConfig:
    """Read the YAML at `path` (None = built-in defaults, no corpora), apply `--corpus NAME=PATH` items and the
    keyword `overrides` whose value is not None. Unknown keys and wrong types are errors."""
    argv = ["--config", str(path)] if path is not None else []
    for item in corpus_overrides or []:
        argv += ["--corpus", item]
    unknown = set(overrides) - set(PrepareOptions.__dataclass_fields__) | (
        {"corpora", "corpus_options"} & set(overrides)
    )
    if unknown:
        raise ConfigError(f"unknown override(s) {sorted(unknown)}")
    return parse_args(argv, {k: v for k, v in overrides.items() if v is not None})
