"""The classical baseline: openSMILE eGeMAPSv02 functionals + a standardised logistic regression.

    python -m recipe.baseline --data DIR [--model OUT] [--split test] [--also validation] [--output FILE]

eGeMAPSv02 (88 functionals of pitch, loudness, spectral balance, formants, jitter/shimmer, rates; Eyben et al.
2016) is the affective-computing community's reference feature set. The classifier is an sklearn Pipeline
(StandardScaler -> LogisticRegression) fitted on the prepared `train` split exactly as the model is trained
(balanced copies included) and scored on the same clips as the model. With ``--model OUT`` the scores are
folded into OUT/eval_results.json as ``splits[SPLIT]["baselines"]["classical"]``; ``--output FILE`` writes
them to a JSON file of their own.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import UserError, run_cli
from common.config import CliParser
from common.outputs import check_disjoint
from data_prep.dataset import load_prepared
from recipe.components.metrics import classification_metrics
from recipe.components.uncertainty import bootstrap_ci

FEATURE_SET = "eGeMAPSv02"
METHOD = (
    "openSMILE eGeMAPSv02 functionals (88 per clip) + StandardScaler + LogisticRegression (sklearn), "
    "fitted on the train split"
)


class BaselineError(UserError, ValueError):
    """Input the baseline cannot use; the message names the file and the reason."""


def egemaps_extractor():
    """openSMILE's eGeMAPSv02 functionals extractor (imported here: the rest of the recipe does not need it)."""
    try:
        import opensmile
    except ImportError as err:
        raise BaselineError(
            f"the classical baseline needs the `opensmile` package ({err}); pip install -r requirements.txt"
        ) from None
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


def extract_features(dataset, sampling_rate: int, smile, cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(n_clips, 88) eGeMAPS functionals of a prepared split; `cache` (keyed by clip path) spares repeated clips,
    e.g. the copies balancing made."""
    cache = {} if cache is None else cache
    rows = []
    audio = dataset.select_columns(["audio", "path"]).with_format("numpy")
    for i in range(len(dataset)):
        item = audio[i]
        key = str(item["path"])
        if key not in cache:
            wave = np.asarray(item["audio"], dtype=np.float32)
            cache[key] = smile.process_signal(wave, sampling_rate).to_numpy(dtype=np.float64).reshape(-1)
        rows.append(cache[key])
    feats = np.vstack(rows)
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)


def fit_classifier(features: np.ndarray, labels: np.ndarray, seed: int = 0):
    """StandardScaler + multinomial LogisticRegression (L2, C=1) as an sklearn Pipeline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0, random_state=seed))
    return clf.fit(features, labels)


def score_split(clf, features: np.ndarray, dataset, n_classes: int) -> dict[str, Any]:
    """Accuracy / UAR / macro-F1 of the classifier on one split, with the same bootstrap interval as the model's."""
    y_true = np.asarray(dataset["label"], dtype=np.int64)
    y_pred = np.asarray(clf.predict(features), dtype=np.int64)
    speakers = dataset["speaker"] if "speaker" in dataset.column_names else None
    return {
        "method": METHOD,
        "feature_set": FEATURE_SET,
        "n_features": int(features.shape[1]),
        **classification_metrics(y_true, y_pred),
        "ci95": bootstrap_ci(y_true, y_pred, n_classes, speakers),
    }


def classical_baseline(
    data_dir: str | Path, splits: Sequence[str], seed: int = 0, speaker_norm: bool = False
) -> dict[str, dict[str, Any]]:
    """{split: scores} of the classical baseline trained on `train` of the prepared set in `data_dir`; with
    `speaker_norm` the eGeMAPS features are z-normalised per speaker first (every split with its own speakers'
    statistics; recipe.components.speaker_norm.standardise_features_by_speaker)."""
    data_dir = Path(data_dir)
    try:
        dsd = load_prepared(data_dir, ["train", *splits])
    except (FileNotFoundError, ValueError) as err:
        raise BaselineError(str(err)) from None
    report = data_dir / "prepare_report.json"
    sampling_rate = int(json.loads(report.read_text())["settings"]["sampling_rate"]) if report.is_file() else 16000
    smile = egemaps_extractor()
    cache: dict[str, np.ndarray] = {}
    train_x = extract_features(dsd["train"], sampling_rate, smile, cache)
    normalise = _speaker_normaliser(train_x, dsd["train"]) if speaker_norm else (lambda x, _ds: x)
    clf = fit_classifier(normalise(train_x, dsd["train"]), np.asarray(dsd["train"]["label"]), seed)
    n_classes = len(dsd["train"].features["label"].names)
    scores = {}
    for s in splits:
        features = normalise(extract_features(dsd[s], sampling_rate, smile, cache), dsd[s])
        scores[s] = score_split(clf, features, dsd[s], n_classes)
        if speaker_norm:
            scores[s]["method"] = METHOD.replace("functionals (88 per clip)", "functionals z-normalised per speaker")
    return scores


def _speaker_normaliser(train_x: np.ndarray, train_ds):
    """features, split -> features standardised per speaker (fallback: the train split's global statistics)."""
    from recipe.components.speaker_norm import standardise_features_by_speaker

    mean, std = train_x.mean(axis=0), train_x.std(axis=0)

    def normalise(features: np.ndarray, dataset) -> np.ndarray:
        return standardise_features_by_speaker(features, dataset["speaker"], dataset["path"], mean, std)

    return normalise


def fold_into_eval_results(model_dir: str | Path, scores: dict[str, dict[str, Any]], key: str = "classical") -> Path:
    """Add the scores as splits[s]["baselines"][key] of model_dir/eval_results.json (rewritten whole)."""
    path = Path(model_dir) / "eval_results.json"
    if not path.is_file():
        raise BaselineError(f"{path}: not found; run `python -m recipe.evaluate --model {model_dir}` first")
    results = json.loads(path.read_text())
    for split, entry in scores.items():
        if split not in results.get("splits", {}):
            raise BaselineError(f"{path}: split {split!r} was not evaluated (has {sorted(results.get('splits', {}))})")
        results["splits"][split].setdefault("baselines", {})[key] = entry
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: exit 2 with one line for unusable input."""
    ap = CliParser(prog="python -m recipe.baseline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="prepared dataset folder (data_prep --output)")
    ap.add_argument("--model", help="model folder whose eval_results.json receives the scores")
    ap.add_argument("--split", default=None, help="primary split (default: eval_results.json's, else test)")
    ap.add_argument(
        "--also", nargs="*", default=None, help="further splits (default: those in eval_results.json, else validation)"
    )
    ap.add_argument("--output", help="also write the scores to this JSON file")
    ap.add_argument("--seed", type=int, default=0, help="seed of the logistic regression")
    ap.add_argument(
        "--speaker_norm",
        action="store_true",
        help="z-normalise the eGeMAPS features per speaker (the field's standard); folded in as classical_speaker_norm",
    )
    args = ap.parse_args(argv)
    return run_cli("recipe.baseline", lambda: _baseline(args))


def _baseline(args: argparse.Namespace) -> int:
    """Fit, score, fold the scores into eval_results.json and/or --output, print one line per split."""
    if args.output:  # a JSON file inside the dataset could replace one of its files (dataset_dict.json)
        check_disjoint(args.output, [("--data", args.data)])
    splits = [args.split or "test", *(args.also if args.also is not None else ["validation"])]
    if args.model and (args.split is None or args.also is None):
        path = Path(args.model) / "eval_results.json"
        if not path.is_file():
            raise BaselineError(f"{path}: not found; run `python -m recipe.evaluate --model {args.model}` first")
        evaluated = list(json.loads(path.read_text()).get("splits", {}))
        splits = [args.split] if args.split else []
        splits += [s for s in (args.also if args.also is not None else evaluated) if s not in splits]
    scores = classical_baseline(args.data, list(dict.fromkeys(splits)), args.seed, args.speaker_norm)
    if args.model:
        key = "classical_speaker_norm" if args.speaker_norm else "classical"
        print(f"wrote {fold_into_eval_results(args.model, scores, key)}")
    if args.output:
        Path(args.output).write_text(json.dumps(scores, indent=2) + "\n")
        print(f"wrote {args.output}")
    for split, s in scores.items():
        lo, hi = s["ci95"]["uar"]
        print(
            f"classical baseline ({FEATURE_SET} + logistic regression), {split}: "
            f"accuracy {100 * s['accuracy']:.2f} %, UAR {100 * s['uar']:.2f} % [95 % CI {100 * lo:.2f}, "
            f"{100 * hi:.2f}], macro-F1 {100 * s['macro_f1']:.2f} %"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
