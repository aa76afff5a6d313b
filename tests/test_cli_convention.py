"""One convention for every command line: the shared parser without abbreviations (`--seed` is not `--seeds`), and
a user error is one line on stderr with exit status 2, no traceback."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
from pathlib import Path

import pytest

from common.config import CliParser, ConfigError

# Every `python -m` entry point that parses options (recipe.space.app is the Space's self-contained app and
# recipe.modeling's __main__ takes one JSON argument: neither has options).
CLIS = [
    "data_prep.__main__",
    "data_prep.emobox",
    "recipe.ensemble",
    "recipe.train",
    "recipe.evaluate",
    "recipe.predict",
    "recipe.export",
    "recipe.baseline",
    "recipe.experiments",
    "recipe.search",
    "recipe.hub",
    "recipe.app",
    "model_card.__main__",
    "bench.__main__",
    "bench.report",
    "bench.parity",
    "bench.train_bench",
    "bench.infer_bench",
    "bench.prepare_bench",
    "bench.recipe_bench",
    "bench.precision_agreement",
    "bench.segment_bench",
    "demo.corpus",
    "demo.pipeline",
    "demo.recording",
]


class _Captured(Exception):
    """Raised by the patched parse to hand the CLI's parser to the test before it parses anything."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def cli_parser(module: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser `module.main` builds, caught at its first parse."""

    def capture(self, *args, **kwargs):
        raise _Captured(self)

    main = importlib.import_module(module).main
    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
        with pytest.raises(_Captured) as caught:
            main([])
    parser = caught.value.parser
    for action in parser._actions:  # a throwaway parser: no required option gets in the way of the probe
        action.required = False
    return parser


def accepts_abbreviation(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether `option` minus its last letter is read as `option`: consumed, or refused naming `option`."""
    token = f"{option[:-1]}=1"
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            _, rest = parser.parse_known_args([token])
    except SystemExit:
        return option in stderr.getvalue()
    except ConfigError as err:
        return option in str(err)
    return token not in rest


def abbreviable_options(parser: argparse.ArgumentParser) -> list[str]:
    """Long options whose name minus the last letter is no option itself and a prefix of this option only."""
    options = [s for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"]
    return [o for o in options if o[:-1] not in options and sum(x.startswith(o[:-1]) for x in options) == 1]


def test_the_probe_tells_abbreviations_apart():
    loose = argparse.ArgumentParser(prog="x")
    loose.add_argument("--seeds", type=int)
    loose.add_argument("--quiet", action="store_true")
    assert accepts_abbreviation(loose, "--seeds") and accepts_abbreviation(loose, "--quiet")
    strict = CliParser(prog="x")
    strict.add_argument("--seeds", type=int, help="runs")
    assert not accepts_abbreviation(strict, "--seeds")


@pytest.mark.parametrize("module", CLIS)
def test_every_cli_refuses_abbreviations(module, monkeypatch):
    parser = cli_parser(module, monkeypatch)
    options = abbreviable_options(parser)
    assert options, f"{module}: no option to probe"
    accepted = [o for o in options if accepts_abbreviation(parser, o)]
    assert accepted == [], f"{module} reads abbreviations of {accepted}"


def test_experiments_passes_seed_on_to_the_recipe_instead_of_reading_seeds(monkeypatch):
    from recipe import experiments

    args, extra = experiments.parse_args(["--config", "c", "--data", "d", "--output", "o", "--seed", "7"])
    assert args.seeds == 3 and extra == ["--seed", "7"]


def user_errors(tmp: Path) -> dict[str, list[str]]:
    """For each CLI a command line that reaches its work and fails there on a missing input."""
    nope = str(tmp / "nope")
    return {
        "data_prep.__main__": ["--corpus", "ravdess", "--output", str(tmp / "prepared")],  # NAME=PATH wanted
        "data_prep.emobox": [nope, "--output", str(tmp / "split.csv")],
        "recipe.ensemble": ["--model", nope, "--model", nope + "2", "--output", str(tmp / "ens")],
        "recipe.train": ["--data", nope, "--output_dir", str(tmp / "out")],
        "recipe.evaluate": ["--model", nope, "--data", nope],
        "recipe.predict": [nope, nope],
        "recipe.export": ["--model", nope],
        "recipe.baseline": ["--data", nope],
        "recipe.experiments": ["--config", "configs/demo.yaml", "--data", nope, "--output", str(tmp / "exp")],
        "recipe.search": ["--config", "configs/demo.yaml", "--data", nope, "--output", str(tmp / "search")],
        "recipe.hub": ["--model", nope, "--hub_model_id", "user/name"],
        "recipe.app": ["--model", nope],
        "model_card.__main__": ["--model", nope],
        "bench.__main__": ["--models", "huge", "--out", str(tmp / "bench.json")],
        "bench.report": [nope],
        "bench.parity": [nope],
        "demo.pipeline": ["--model", nope, "--corpus", nope],
    }


def exit_status(module: str, argv: list[str]) -> int:
    main = importlib.import_module(module).main
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize("module", sorted(user_errors(Path("/x"))))
def test_a_user_error_is_one_line_and_exit_2(module, tmp_path, capsys):
    status = exit_status(module, user_errors(tmp_path)[module])
    err = capsys.readouterr().err
    prog = module.removesuffix(".__main__")
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith((f"{prog}: error: ", f"python -m {prog}: error: ")), err


@pytest.mark.parametrize("module", CLIS)
def test_a_usage_error_is_one_line_and_exit_2(module, capsys):
    """An unknown option (or the required options it leaves out) is refused by the parser in one line."""
    assert exit_status(module, ["--no_such_option_anywhere", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err and "Traceback" not in err, err


def test_the_list_holds_every_command_line_module():
    from tests.test_import_graph import is_cli, source_modules

    no_options = {"recipe.space.app", "recipe.modeling.__main__"}
    found = {name for name, path in source_modules().items() if is_cli(path)} - no_options
    assert found == set(CLIS)


@pytest.mark.parametrize("module", CLIS)
def test_help_documents_every_option(module, monkeypatch, capsys):
    """`--help` exits 0 and shows every option of the parser main builds, each with its own help text."""
    parser = cli_parser(module, monkeypatch)
    assert exit_status(module, ["--help"]) == 0
    text = capsys.readouterr().out
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{module}: {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in text, f"{module} --help does not show {option}"
