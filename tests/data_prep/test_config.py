"""`python -m data_prep` settings: every key documented in --help, one flag spelling, and bad values refused
(exit 2, one line naming the key) before any corpus is scanned or clip decoded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import data_prep.__main__ as cli
import data_prep.prepare
from data_prep.config import ConfigError, build_parser, load_config, parse_args

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_key_of_data_yaml_with_default() -> None:
    text = build_parser().format_help()
    entries = {}
    for match in re.finditer(r"^  (--\w+)[^\n]*\n?((?:^ {10,}.*\n?)*)", text, re.MULTILINE):
        entries[match.group(1)] = match.group(0)
    keys = yaml.safe_load((ROOT / "configs" / "data.yaml").read_text())
    assert keys, "configs/data.yaml is empty"
    for key in keys:
        assert f"--{key}" in entries, f"--{key} missing from python -m data_prep --help"
        assert "(default:" in entries[f"--{key}"], key
    assert "--corpus NAME=PATH" in text and "--config" in text


def test_flags_use_underscores_and_override_the_file(tmp_path: Path) -> None:
    cfg = parse_args(
        [
            "--config",
            str(ROOT / "configs" / "demo_data.yaml"),
            "--corpus",
            "folder=/x",
            "--per_class",
            "3",
            "--split_by",
            "speaker",
            "--val_fraction",
            "0.2",
            "--max_duration",
            "null",
        ]
    )
    assert (cfg.per_class, cfg.split_by, cfg.val_fraction, cfg.max_duration) == (3, "speaker", 0.2, None)
    assert cfg.corpora[0].options["language"] == "und" and cfg.output == "outputs/demo/prepared"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--per-class", "3"], "--per-class: unknown option"),
        (["--per", "3"], "--per: unknown option"),  # abbreviations are off
        (["--split_by", "session"], "invalid choice: 'session'"),
        (["--workers", "-1"], "workers must be >= 0"),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_args(argv)


BAD_FILES = [
    ("corpora:\n  folder: {path: x, speaker_regex: '(['}\n", "corpora.folder.speaker_regex: not a valid regular"),
    (
        "corpus_options:\n  folder: {speaker_regex: '(?P<speaker'}\ncorpora:\n  folder: {path: x}\n",
        "corpus_options.folder.speaker_regex: not a valid regular",
    ),
    ("corpora:\n  ravdess: {path: x, language: 7}\n", "corpora.ravdess.language: expected a string, got 7"),
    ("workers: true\n", "workers: expected an integer, got True"),
    ("per_class: 0.5\n", "per_class: expected an integer"),
    ("per_klass: 3\n", "unknown key per_klass"),
    ("val_fraction: 0.6\ntest_fraction: 0.5\n", "val_fraction + test_fraction must be < 1"),
]


@pytest.mark.parametrize("text, message", BAD_FILES)
def test_bad_config_files_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


@pytest.mark.parametrize("text, message", BAD_FILES[:4])
def test_cli_exits_2_before_any_clip_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, text: str, message: str
) -> None:
    def must_not_run(*args, **kwargs):
        raise AssertionError("preparation started")

    monkeypatch.setattr(data_prep.prepare, "prepare", must_not_run)
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    out = tmp_path / "out"
    assert cli.main(["--config", str(config), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and err.startswith("data_prep: error: ")
    assert not out.exists()


def test_bad_regex_on_the_command_line_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"corpus_options\.folder\.speaker_regex"):
        parse_args(["--corpus_options", "{folder: {speaker_regex: '(['}}", "--corpus", f"folder={tmp_path}"])
