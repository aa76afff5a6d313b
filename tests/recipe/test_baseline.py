"""recipe.baseline: openSMILE eGeMAPS + logistic regression on fixture clips, folded into eval_results.json."""

from __future__ import annotations

import json

import numpy as np
import opensmile  # noqa: F401  (a dependency in requirements.txt: fail, never skip, when it is missing)
import pytest

from recipe import baseline
from tests.support.train_helpers import make_dataset


def test_egemaps_functionals_of_a_clip():
    smile = baseline.egemaps_extractor()
    from tests.support.train_helpers import make_split

    ds = make_split(1, seed=0)
    feats = baseline.extract_features(ds, 16000, smile)
    assert feats.shape == (6, 88) and np.isfinite(feats).all()
    # class k is a 200 * (k + 1) Hz tone; the mean pitch functional is in semitones from 27.5 Hz: 12 log2(f / 27.5)
    # (checked within eGeMAPS' pitch range; the 1000 and 1200 Hz tones lie above it)
    names = list(smile.feature_names)
    pitch = feats[:4, names.index("F0semitoneFrom27.5Hz_sma3nz_amean")]
    expected = 12 * np.log2(np.array([200, 400, 600, 800]) / 27.5)
    assert pitch == pytest.approx(expected, abs=0.5)


def test_classical_baseline_scores_fixture_clips_and_folds_into_eval_results(tmp_path, capsys):
    data = make_dataset(tmp_path / "data", n_train=4, n_eval=2)
    scores = baseline.classical_baseline(data, ["test", "validation"])
    assert set(scores) == {"test", "validation"}
    test = scores["test"]
    assert test["feature_set"] == "eGeMAPSv02" and test["n_features"] == 88
    assert test["accuracy"] >= 0.8  # six tones of different pitch: trivially separable by the pitch functionals
    assert test["ci95"]["resampled"] == "speakers" and test["ci95"]["accuracy"][0] <= test["accuracy"]

    # the same numbers as refitting by hand: openSMILE, sklearn and recall per class, none of the baseline's code
    from datasets import load_from_disk
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    dsd = load_from_disk(data).with_format("numpy")
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)

    def features(split):
        rows = [smile.process_signal(np.asarray(a, dtype=np.float32), 16000).to_numpy().ravel() for a in split["audio"]]
        return np.nan_to_num(np.vstack(rows).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)

    scaler = StandardScaler().fit(features(dsd["train"]))
    clf = LogisticRegression(max_iter=5000, C=1.0, random_state=0)
    clf.fit(scaler.transform(features(dsd["train"])), dsd["train"]["label"])
    truth, pred = dsd["test"]["label"], clf.predict(scaler.transform(features(dsd["test"])))
    recalls = [np.mean(pred[truth == c] == c) for c in np.unique(truth)]
    assert np.mean(pred == truth) == pytest.approx(test["accuracy"])
    assert np.mean(recalls) == pytest.approx(test["uar"])

    model = tmp_path / "model"
    model.mkdir()
    assert baseline.main(["--data", data, "--model", str(model)]) == 2  # no eval_results.json yet
    assert "eval_results.json: not found" in capsys.readouterr().err
    (model / "eval_results.json").write_text(
        json.dumps(
            {
                "split": "test",
                "splits": {"test": {"uar": 0.5, "baselines": {"majority": {}}}, "validation": {"uar": 0.4}},
            }
        )
    )
    assert baseline.main(["--data", data, "--model", str(model)]) == 0
    ev = json.loads((model / "eval_results.json").read_text())
    assert ev["splits"]["test"]["baselines"]["classical"] == json.loads(json.dumps(test))
    assert ev["splits"]["test"]["baselines"]["majority"] == {}  # the other entries stay as they were
    assert ev["splits"]["validation"]["baselines"]["classical"]["uar"] == scores["validation"]["uar"]
    assert "classical baseline (eGeMAPSv02 + logistic regression), test" in capsys.readouterr().out


def test_bad_data_dir_is_exit_2(tmp_path, capsys):
    assert baseline.main(["--data", str(tmp_path / "nope")]) == 2
    assert "recipe.baseline:" in capsys.readouterr().err
