"""recipe.ensemble: one folder whose predictions are the average of its members' own probabilities, loaded by
recipe.predict, recipe.evaluate, pipeline and remote code; mismatched members are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

from recipe.components.evaluation import evaluate_model, predict_probabilities
from recipe.ensemble import main as ensemble_main
from recipe.predict import main as predict_main
from tests.support.fresh_process import run_remote_code_script
from tests.support.tiny_models import save_tiny_ser_model
from tests.support.train_helpers import make_dataset

SR = 16000


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("members")
    return [save_tiny_ser_model(root / f"m{seed}", seed=seed) for seed in (1, 2)]


@pytest.fixture(scope="module")
def ensemble_dir(members: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("ens") / "ensemble"
    assert ensemble_main(["--model", members[0], "--model", members[1], "--output", str(out)]) == 0
    return str(out)


def _clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _own_probabilities(folder: str, clip: np.ndarray) -> np.ndarray:
    """A member's probabilities for one clip, through its own extractor and model (no ensemble code)."""
    model = AutoModelForAudioClassification.from_pretrained(folder).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    inputs = extractor(clip, sampling_rate=SR, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**inputs).logits, dim=-1)[0].numpy()


def test_folder_holds_members_files_and_no_second_weights(ensemble_dir: str, members: list[str]) -> None:
    folder = Path(ensemble_dir)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "ser_ensemble" and len(config["members"]) == 2
    assert {"AutoConfig", "AutoModelForAudioClassification"} <= set(config["auto_map"])
    assert (folder / "modeling_ensemble.py").is_file() and (folder / "modeling_ser.py").is_file()
    member_dirs = sorted(p.name for p in (folder / "members").iterdir())
    assert member_dirs == ["0-m1", "1-m2"]
    for name in member_dirs:
        assert (folder / "members" / name / "config.json").is_file()
        assert not list((folder / "members" / name).glob("*.safetensors"))


def test_pipeline_and_predict_give_the_mean_of_members(ensemble_dir: str, members: list[str], tmp_path: Path) -> None:
    clips = [_clip(0.8, 1), _clip(1.3, 2)]
    expected = [(_own_probabilities(members[0], c) + _own_probabilities(members[1], c)) / 2 for c in clips]
    classifier = pipeline("audio-classification", model=ensemble_dir, device="cpu")
    for clip, want in zip(clips, expected):
        got = {item["label"]: item["score"] for item in classifier(clip, top_k=None)}
        labels = [classifier.model.config.id2label[i] for i in range(len(want))]
        assert [got[label] for label in labels] == pytest.approx(want.tolist(), abs=1e-5)

    for i, clip in enumerate(clips):
        sf.write(tmp_path / f"c{i}.wav", clip, SR)
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = predict_main([ensemble_dir, str(tmp_path), "--json", "--top_k", "6", "--precision", "fp32"])
    assert rc == 0
    predictions = {Path(p["path"]).name: p for p in json.loads(buffer.getvalue())["predictions"]}
    for i, want in enumerate(expected):
        scores = {item["label"]: item["score"] for item in predictions[f"c{i}.wav"]["top_k"]}
        labels = [classifier.model.config.id2label[k] for k in range(len(want))]
        assert [scores[label] for label in labels] == pytest.approx(want.tolist(), abs=1e-4)


def test_evaluate_scores_the_mean_of_members(ensemble_dir: str, members: list[str], tmp_path: Path) -> None:
    from datasets import load_from_disk

    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    test = load_from_disk(data)["test"]
    ensemble, _ = AutoModelForAudioClassification.from_pretrained(ensemble_dir), None
    extractor = AutoFeatureExtractor.from_pretrained(ensemble_dir)
    got = predict_probabilities(ensemble, extractor, test)
    want = np.stack(
        [
            (_own_probabilities(members[0], np.asarray(a)) + _own_probabilities(members[1], np.asarray(a))) / 2
            for a in test["audio"]
        ]
    )
    assert got == pytest.approx(want, abs=1e-5)
    results = evaluate_model(ensemble_dir, data, "test", also=(), write=False, precision="fp32")
    assert results["splits"]["test"]["accuracy"] == pytest.approx(
        float((want.argmax(axis=1) == np.asarray(test["label"])).mean())
    )


def test_mismatched_members_are_refused(members: list[str], tmp_path: Path, capsys) -> None:
    other = save_tiny_ser_model(tmp_path / "four", seed=3, id2label={0: "neu", 1: "hap", 2: "ang", 3: "sad"})
    rc = ensemble_main(["--model", members[0], "--model", other, "--output", str(tmp_path / "bad")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "labels" in err and "four" in err
    assert not (tmp_path / "bad").exists()

    slow_rate = save_tiny_ser_model(tmp_path / "sr8k", seed=4)
    cfg_path = Path(slow_rate) / "preprocessor_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["sampling_rate"] = 8000
    cfg_path.write_text(json.dumps(cfg))
    rc = ensemble_main(["--model", members[0], "--model", slow_rate, "--output", str(tmp_path / "bad2")])
    assert rc == 2
    assert "sampling_rate" in capsys.readouterr().err
    assert not (tmp_path / "bad2").exists()

    assert ensemble_main(["--model", members[0], "--output", str(tmp_path / "one")]) == 2


REMOTE_SCRIPT = """
import json, sys
import numpy as np
from transformers import pipeline
clip = np.load(sys.argv[2])
classifier = pipeline("audio-classification", model=sys.argv[1], trust_remote_code=True, device="cpu")
out = classifier({"raw": clip, "sampling_rate": 16000}, top_k=None)
print(json.dumps({"module": type(classifier.model).__module__, "scores": {i["label"]: i["score"] for i in out}}))
"""


@pytest.mark.slow
def test_remote_code_loads_the_ensemble_in_a_fresh_process(ensemble_dir: str, members: list[str], tmp_path: Path):
    clip = _clip(1.0, 7)
    # -I: isolated mode (no PYTHONPATH, no cwd or script dir on sys.path); cwd is a folder without this project.
    report = run_remote_code_script(REMOTE_SCRIPT, ensemble_dir, clip, tmp_path)
    assert report["module"].startswith("transformers_modules.")
    want = (_own_probabilities(members[0], clip) + _own_probabilities(members[1], clip)) / 2
    config = json.loads((Path(ensemble_dir) / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(want))]
    assert [report["scores"][label] for label in labels] == pytest.approx(want.tolist(), abs=1e-5)


def test_the_app_classifies_with_the_ensemble(ensemble_dir: str, members: list[str], tmp_path: Path) -> None:
    from recipe.app import classify_file
    from recipe.components.model_io import load_model

    clip = _clip(1.1, 4)
    sf.write(tmp_path / "clip.wav", clip, SR)
    model, extractor = load_model(ensemble_dir, "cpu")
    prediction = classify_file(model, extractor, tmp_path / "clip.wav")
    want = (_own_probabilities(members[0], clip) + _own_probabilities(members[1], clip)) / 2
    labels = [model.config.id2label[i] for i in range(len(want))]
    assert [prediction.probabilities[label] for label in labels] == pytest.approx(want.tolist(), abs=1e-4)
