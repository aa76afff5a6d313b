"""Model repos and folders are untrusted input: a SpeechBrain hyperparams.yaml cannot expand into a memory bomb, and
a local folder whose config.json points at code (`auto_map`) is refused with one line, never an interactive prompt."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipe.components.speechbrain_checkpoint import (
    SpeechBrainFormatError,
    parse_hyperparams,
    read_speechbrain_encoder,
)
from tests.support.tiny_models import save_tiny_speechbrain_repo

ROOT = Path(__file__).resolve().parents[2]


def alias_bomb(levels: int = 7, fanout: int = 8) -> str:
    """`a` holds 8 strings, `b` 8 aliases of `a`, ...: 8**7 = 2 097 152 strings (15 MB printed) in 248 bytes."""
    names = "abcdefghij"[:levels]
    lines = [f"{names[0]}: &{names[0]} [" + ",".join(['"lol"'] * fanout) + "]"]
    lines += [f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * fanout) + "]" for prev, cur in zip(names, names[1:])]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_before_it_expands() -> None:
    text = alias_bomb()
    assert len(text) < 300
    with pytest.raises(SpeechBrainFormatError, match=r"^repo/hyperparams.yaml: expands to more than 100000 YAML"):
        parse_hyperparams(text, "repo/hyperparams.yaml")
    assert parse_hyperparams(alias_bomb(levels=3), "small")["c"][0][0] == ["lol"] * 8  # 8**3 strings: fine


def test_bomb_inside_a_speechbrain_repo_is_refused(tmp_path: Path) -> None:
    repo, _ = save_tiny_speechbrain_repo(tmp_path / "sb")
    hyperparams = Path(repo, "hyperparams.yaml")
    text = hyperparams.read_text().replace("source: !ref <wav2vec2_hub>", "source: !ref <g>/encoder")
    hyperparams.write_text(alias_bomb() + text)
    with pytest.raises(SpeechBrainFormatError, match="expands to more than"):
        read_speechbrain_encoder(repo, {}, {})


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &a [1, *a]\n", "refers to a node that contains it"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply|not valid YAML"),
    ],
)
def test_recursive_or_deep_yaml_is_one_error(text: str, message: str) -> None:
    with pytest.raises(SpeechBrainFormatError, match=message):
        parse_hyperparams(text, "repo/hyperparams.yaml")


def test_oversized_hyperparams_file_is_not_read(tmp_path: Path) -> None:
    repo, _ = save_tiny_speechbrain_repo(tmp_path / "sb")
    with open(Path(repo, "hyperparams.yaml"), "a") as fh:
        fh.write("#" * 1_000_000)  # 1 MB of comment: SpeechBrain files are a few kB
    with pytest.raises(SpeechBrainFormatError, match="bytes, more than"):
        read_speechbrain_encoder(repo, {}, {})


def foreign_folder(path: Path) -> Path:
    """A model folder of a model type nobody registered, whose config.json asks to import code that does not exist."""
    path.mkdir(parents=True)
    auto_map = {
        "AutoConfig": "nonexistent_module.ForeignConfig",
        "AutoModelForAudioClassification": "nonexistent_module.ForeignModel",
        "AutoFeatureExtractor": "nonexistent_module.ForeignExtractor",
    }
    (path / "config.json").write_text(json.dumps({"model_type": "foreign_ser", "auto_map": auto_map}))
    (path / "preprocessor_config.json").write_text(json.dumps({"auto_map": auto_map}))
    return path


@pytest.mark.slow
def test_predict_refuses_a_folder_with_auto_map_without_prompting(tmp_path: Path) -> None:
    folder = foreign_folder(tmp_path / "foreign")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "recipe.predict", str(folder), str(tmp_path / "clip.wav")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert "Do you wish to run the custom code" not in proc.stdout + proc.stderr
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"recipe.predict: error: {folder}: cannot load the model"), err
    assert "custom code" in err[0]


def test_no_loader_of_a_local_folder_asks_to_run_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path that reads a local folder's config (model folder check, encoder, extractor) refuses auto_map code
    without calling input()."""
    from recipe.components.inference import ModelFolderError, check_model_folder
    from recipe.modeling import SERFeatureExtractor, SERForAudioClassification

    asked: list[str] = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": asked.append(prompt) or "n")
    folder = foreign_folder(tmp_path / "foreign")
    with pytest.raises(ModelFolderError, match="custom code"):
        check_model_folder(folder)
    with pytest.raises(ValueError, match="custom code"):
        SERForAudioClassification.from_encoder(str(folder))
    with pytest.raises(ValueError, match="custom code"):
        SERFeatureExtractor.for_encoder(str(folder))
    assert asked == []
