"""`recipe.experiments --variants cross_corpus --ensemble` on two fixture corpora prepared by data_prep: a tiny real
run that writes the train x test corpus matrix and each variant's seed ensemble."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

from data_prep.config import load_config
from data_prep.prepare import prepare
from recipe import experiments
from recipe.components.evaluation import predict_probabilities
from recipe.components.metrics import classification_metrics
from tests.support import fixture_corpora as fc
from tests.support.train_helpers import tiny_config, write_config


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("corpora")
    iesc, hindi = fc.iesc(root / "iesc"), fc.hindi(root / "hindi")
    out = root / "prepared"
    cfg = load_config(
        None, [f"iesc={iesc.root}", f"hindi={hindi.root}"], output=str(out), workers=1, per_class=0, max_duration=1.0
    )
    prepare(cfg, verbose=False)
    return str(out)


@pytest.mark.slow
def test_cross_corpus_matrix_and_seed_ensembles(tmp_path: Path, two_corpora: str) -> None:
    cfg = tiny_config(training={"num_train_epochs": 1, "per_device_train_batch_size": 4, "logging_steps": 50})
    config = write_config(tmp_path / "cfg.yaml", cfg)
    out = tmp_path / "exp"
    argv = ["--config", config, "--data", two_corpora, "--output", str(out), "--seeds", "2"]
    assert experiments.main([*argv, "--variants", "cross_corpus", "--ensemble"]) == 0

    matrix = json.loads((out / "cross_corpus.json").read_text())
    assert matrix["train_corpora"] == matrix["test_corpora"] == ["hindi", "iesc"]
    for train in ("hindi", "iesc"):
        derived = load_from_disk(str(out / "data" / f"cross_corpus-{train}"))
        assert set(derived["train"]["corpus"]) == set(derived["validation"]["corpus"]) == {train}
        for target in ("hindi", "iesc"):
            assert set(derived[f"test-{target}"]["corpus"]) == {target}
            # the cell is the mean over seeds of each run's own evaluation of that corpus's test clips
            uars = [
                json.loads((out / "runs" / f"cross_corpus-{train}" / f"seed-{s}" / "eval_results.json").read_text())[
                    "splits"
                ][f"test-{target}"]["uar"]
                for s in (42, 43)
            ]
            assert matrix["cells"][train][target]["uar"] == pytest.approx(np.mean(uars))
            assert matrix["cells"][train][target]["n_seeds"] == 2
    md = (out / "cross_corpus.md").read_text()
    assert "| hindi |" in md and "| iesc |" in md and "cross_corpus.png" in md
    assert Image.open(out / "cross_corpus.png").size[0] > 100

    # the seed ensemble of each variant: the mean of its two seed models' probabilities on the same test split
    summary = json.loads((out / "ablation_results.json").read_text())
    entry = next(v for v in summary["variants"] if v["name"] == "cross_corpus-iesc")["ensemble"]
    test = load_from_disk(str(out / "data" / "cross_corpus-iesc"))["test"]
    probs = []
    for seed in (42, 43):
        folder = out / "runs" / "cross_corpus-iesc" / f"seed-{seed}"
        model = AutoModelForAudioClassification.from_pretrained(str(folder)).eval()
        probs.append(predict_probabilities(model, AutoFeatureExtractor.from_pretrained(str(folder)), test))
    y_pred = ((probs[0] + probs[1]) / 2).argmax(axis=1)
    expected = classification_metrics(np.asarray(test["label"]), y_pred)
    assert entry["test"]["uar"] == pytest.approx(expected["uar"])
    assert entry["test_ci95"]["uar"][0] <= entry["test"]["uar"] <= entry["test_ci95"]["uar"][1]
    assert (out / "ensembles" / "cross_corpus-iesc" / "config.json").is_file()
    assert "Seed ensembles" in (out / "ablation_results.md").read_text()


def test_cross_corpus_needs_two_corpora(tmp_path: Path) -> None:
    from tests.support.train_helpers import make_dataset

    data = make_dataset(tmp_path / "data", n_train=2, n_eval=1)
    with pytest.raises(experiments.VariantError, match="two corpora"):
        experiments.cross_corpus_variants(data, tmp_path / "out")
