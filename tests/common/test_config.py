"""Shared config plumbing: strict YAML value checks; every CLI flag with one spelling, help, no abbreviations."""

from __future__ import annotations

import importlib
import re
from typing import Literal

import pytest

from common.config import CliParser, ConfigError, check_value

CLIS = [
    "recipe.evaluate",
    "recipe.predict",
    "recipe.hub",
    "model_card.__main__",
    "bench.__main__",
    "bench.infer_bench",
    "bench.train_bench",
    "bench.prepare_bench",
    "demo.corpus",
    "demo.pipeline",
]


@pytest.mark.parametrize(
    "value, annotation, expected",
    [
        (3, int, 3),
        ("5e-5", float, 5e-5),  # YAML 1.1 reads 5e-5 as a string
        (2, float, 2.0),
        (None, int | None, None),
        (False, Literal["no", "steps"], "no"),  # an unquoted `no` where `no` is a choice
        ([1, "2"], list[int], [1, 2]),
        ("auto", bool, "auto"),
    ],
)
def test_check_value_accepts(value, annotation, expected):
    assert check_value(value, annotation, "k", allow_auto=True) == expected


@pytest.mark.parametrize(
    "value, annotation, message",
    [
        (True, int, "k: expected an integer, got True"),
        (7, str, "k: expected a string, got 7"),
        (False, str, "quote it"),
        (1.5, int, "expected an integer"),
        (None, float, "expected a number, got null"),
        ("auto", bool, "expected true/false"),
        ({"a": 1}, list[int], "expected a list"),
        ("x", Literal["a", "b"], "expected one of a, b"),
    ],
)
def test_check_value_refuses(value, annotation, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_value(value, annotation, "k")


def test_cli_parser_refuses_abbreviations_in_one_line(capsys):
    parser = CliParser(prog="tool")
    parser.add_argument("--batch_size", type=int, default=8, help="clips per step")
    assert parser.parse_args([]).batch_size == 8
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--batch", "2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tool: error: unrecognized arguments: --batch")
    assert "(default: 8)" in parser.format_help()


@pytest.mark.parametrize("module", CLIS)
def test_every_cli_flag_has_underscores_help_and_default(module, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    flags = re.findall(r"^  (--\w[\w-]*)", text, re.MULTILINE)
    assert flags, text
    assert not [f for f in flags if "-" in f[2:]], text  # one spelling: underscores
    entries = re.split(r"\n  (?=-)", text.split("options:", 1)[1])
    for entry in entries[1:]:
        option, _, help_text = entry.partition("  ")
        assert help_text.strip() or "\n" in entry, f"{module}: {option.strip()} has no help"
