"""End to end on a tiny REAL run: synthetic corpus → data_prep → recipe.train (a few steps) → recipe.evaluate
→ model_card, each through its CLI; then the card is parsed back and checked against the run's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.dataset import PreparedDataError
from model_card.__main__ import main as card_main
from model_card.render import render_card
from recipe.components.evaluation import evaluate_model
from recipe.evaluate import main as evaluate_main
from tests.support.card_checks import check_card, parse_tables
from tests.support.train_helpers import REPO, tiny_config, write_config

pytestmark = pytest.mark.slow


def _run(*args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args[:1])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny_run")
    raw, prep, out = root / "raw", root / "prepared", root / "model"
    _run("demo.corpus", "--output", str(raw), "--speakers", "4", "--clips_per_speaker_per_emotion", "2")
    _run(
        "data_prep",
        "--config",
        str(REPO / "configs/demo_data.yaml"),
        "--corpus",
        f"folder={raw}",
        "--output",
        str(prep),
        "--per_class",
        "0",
        "--max_duration",
        "1.0",
        "--workers",
        "1",
    )
    cfg = tiny_config(recipe={"freeze_encoder_epochs": 1, "demo": True}, training={"num_train_epochs": 2})
    _run(
        "recipe.train", "--config", write_config(root / "tiny.yaml", cfg), "--data", str(prep), "--output_dir", str(out)
    )
    # evaluate and card through their CLI entry points, in-process (saves two interpreter start-ups)
    # fp32 like the training (tiny_config): the scores must reproduce the Trainer's logged ones exactly
    assert evaluate_main(["--model", str(out), "--data", str(prep), "--split", "test", "--precision", "fp32"]) == 0
    assert card_main(["--model", str(out), "--data", str(prep)]) == 0
    return out, prep


def test_card_of_tiny_real_run_traces_to_its_files(tiny_run):
    out, prep = tiny_run
    checked = check_card(out, prep)
    assert checked["cells"] > 100 and checked["percentages"] > 20 and checked["numbers"] > 100
    text = (out / "README.md").read_text()
    assert "NOT an emotion model for real speech" in text  # demo banner
    assert "base_model" not in text.split("---")[1]  # trained from scratch: no base model claimed
    progress = parse_tables(text)["Training progress"][0]
    info = json.loads((out / "run_info.json").read_text())
    assert progress[int(info["unfreeze_epoch"]) - 1]["note"].startswith("encoder unfrozen")


def test_eval_results_agree_with_dataset_and_report(tiny_run):
    out, prep = tiny_run
    ev = json.loads((out / "eval_results.json").read_text())
    report = json.loads((prep / "prepare_report.json").read_text())
    assert ev["schema_version"] == 1 and ev["split"] == "test" and set(ev["splits"]) == {"test", "validation"}
    assert ev["figures"] == {"confusion_matrix": "confusion_matrix.png", "training_curves": "training_curves.png"}
    train_counts = report["splits"]["train"]
    majority = min(ev["labels"], key=lambda c: (-train_counts.get(c, 0), ev["labels"].index(c)))
    for split, res in ev["splits"].items():
        counts = res["confusion_matrix"]["counts"]
        assert sum(map(sum, counts)) == res["n"] == sum(report["splits"][split].values())
        for i, label in enumerate(ev["labels"]):
            assert res["per_class"][label]["support"] == sum(counts[i]) == report["splits"][split][label]
        correct = sum(counts[i][i] for i in range(len(counts)))
        assert res["accuracy"] == pytest.approx(correct / res["n"])
        assert sum(g["n"] for g in res["per_corpus"].values()) == res["n"]
        assert set(res["per_language"]) == {"und"}
        assert res["baselines"]["majority"]["class"] == majority
        assert res["baselines"]["random"]["accuracy"] == pytest.approx(1 / 6)
        for pair in res["top_confusions"]:
            i, j = ev["labels"].index(pair["true"]), ev["labels"].index(pair["pred"])
            assert pair["count"] == counts[i][j] and pair["rate"] == pytest.approx(counts[i][j] / sum(counts[i]))


def test_usage_snippet_of_the_card_runs(tiny_run):
    """The card's `pipeline` snippet, run as written in a clean process (remote code, no `import recipe`)."""
    out, prep = tiny_run
    text = (out / "README.md").read_text()
    snippet = text.split("```python\n")[1].split("```")[0]
    clip = next((prep.parent / "raw").rglob("*.wav"))
    assert '"clip.wav"' in snippet and "import recipe" not in snippet
    code = snippet.replace('"clip.wav"', repr(str(clip)))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=out.parent, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = json.loads((out / "eval_results.json").read_text())["labels"]
    printed = proc.stdout.strip().splitlines()[-1]
    assert all(f"'{label}'" in printed for label in labels), printed


def test_evaluate_reproduces_the_trainers_validation_scores(tiny_run):
    """Our inference path (length-sorted batches, feature extractor padding) gives the kept checkpoint the
    validation scores the Trainer logged for it (clips are all cropped to 1 s here, so padding cannot differ)."""
    out, _ = tiny_run
    ev = json.loads((out / "eval_results.json").read_text())["splits"]["validation"]
    state = json.loads((out / "trainer_state.json").read_text())
    logged = next(e for e in state["log_history"] if "eval_uar" in e and e["step"] == state["best_global_step"])
    for key in ("accuracy", "uar", "macro_f1"):
        assert ev[key] == pytest.approx(logged[f"eval_{key}"]), key


def test_card_rerender_is_stable(tiny_run):
    """`make card MODEL=OUT` rerun alone gives the same card (file sizes are measured, not cached)."""
    out, prep = tiny_run
    assert str(render_card(out, prep)) == (out / "README.md").read_text()


def test_evaluate_names_bad_inputs(tiny_run, tmp_path):
    out, prep = tiny_run
    with pytest.raises(PreparedDataError, match="not a prepared dataset"):
        evaluate_model(out, tmp_path / "missing", write=False)
    with pytest.raises(ValueError, match="split 'dev' not found"):
        evaluate_model(out, prep, split="dev", write=False)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        evaluate_model(tmp_path, prep, write=False)
