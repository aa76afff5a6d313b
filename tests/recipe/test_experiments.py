"""recipe.experiments: a tiny real run (2 variants x 2 seeds) that resumes without training, the protocols' derived
datasets (leave-one-corpus-out, speaker k-fold), variant files, and the summary arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from common.ablation_results import check_schema
from recipe import experiments
from recipe.components.ablation import as_cli_overrides, load_variant_file, summarise_variant
from tests.support.train_helpers import make_dataset, make_two_corpus_set, tiny_config, write_config


@pytest.fixture()
def tiny_setup(tmp_path: Path) -> tuple[str, str]:
    data = make_dataset(tmp_path / "data", n_train=3, n_eval=2)
    cfg = tiny_config(training={"num_train_epochs": 1, "per_device_train_batch_size": 6, "logging_steps": 50})
    return write_config(tmp_path / "cfg.yaml", cfg), data


@pytest.mark.slow
def test_tiny_experiment_writes_results_and_resumes_without_training(tmp_path, tiny_setup, monkeypatch):
    config, data = tiny_setup
    out = tmp_path / "out"
    argv = ["--config", config, "--data", data, "--output", str(out), "--seeds", "2", "--variants", "baseline,no_mixup"]
    assert experiments.main(argv) == 0
    results = json.loads((out / experiments.RESULTS_JSON).read_text())
    check_schema(results)
    assert [v["name"] for v in results["variants"]] == ["baseline", "no_mixup"]
    assert results["variants"][1]["overrides"] == {"recipe.mixup_alpha": 0.0}
    for variant in results["variants"]:
        assert [r["seed"] for r in variant["runs"]] == [42, 43]
        for run in variant["runs"]:
            folder = out / "runs" / variant["name"] / f"seed-{run['seed']}"
            ev = json.loads((folder / "eval_results.json").read_text())
            assert run["test"] == {m: ev["splits"]["test"][m] for m in ("accuracy", "uar", "macro_f1")}
            assert run["validation"]["uar"] == ev["splits"]["validation"]["uar"]
            assert run["train_seconds"] > 0 and not list(folder.glob("checkpoint-*"))
            assert "ci95" in ev["splits"]["test"]
        uars = [r["test"]["uar"] for r in variant["runs"]]
        assert variant["test"]["uar"]["mean"] == pytest.approx(np.mean(uars))
        assert variant["test"]["uar"]["std"] == pytest.approx(np.std(uars, ddof=1))
    base, other = results["variants"]
    diffs = [o["test"]["uar"] - b["test"]["uar"] for o, b in zip(other["runs"], base["runs"])]
    assert other["delta_vs_baseline"]["uar"]["mean"] == pytest.approx(np.mean(diffs))
    assert base["delta_vs_baseline"]["uar"]["mean"] == 0.0
    table = (out / experiments.RESULTS_MD).read_text()
    assert "| no_mixup | 2 |" in table and "recipe.mixup_alpha=0.0" in table
    with Image.open(out / experiments.RESULTS_PNG) as img:
        assert img.format == "PNG"

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(experiments, "train_run", no_training)
    before = (out / experiments.RESULTS_JSON).read_text()
    assert experiments.main(argv) == 0
    assert json.loads((out / experiments.RESULTS_JSON).read_text()) == json.loads(before)


def test_bad_variant_input_is_exit_2(tmp_path, tiny_setup, capsys):
    config, data = tiny_setup
    base = ["--config", config, "--data", data, "--output", str(tmp_path / "o")]
    assert experiments.main([*base, "--variants", "baseline,no_such_thing"]) == 2
    assert "unknown variant 'no_such_thing'" in capsys.readouterr().err
    assert experiments.main([*base, "--variants", "no_balancing"]) == 2  # no train_unbalanced split prepared
    assert "keep_unbalanced" in capsys.readouterr().err
    assert experiments.main([*base, "--variants", "loco"]) == 2  # one corpus only
    assert "at least two corpora" in capsys.readouterr().err
    bad = tmp_path / "v.yaml"
    bad.write_text("variants:\n  wide: {head_sizes: [64]}\n")
    assert experiments.main([*base, "--variant_file", str(bad), "--variants", "wide"]) == 2
    assert "section.key" in capsys.readouterr().err


def test_user_variants_and_no_op_variants(tmp_path, tiny_setup, capsys):
    config, data = tiny_setup
    vfile = tmp_path / "v.yaml"
    vfile.write_text("variants:\n  wide_head: {model.head_sizes: [32, 16], recipe.mixup_alpha: 0}\n")
    user = load_variant_file(vfile)
    assert user == {"wide_head": {"model.head_sizes": [32, 16], "recipe.mixup_alpha": 0}}
    assert as_cli_overrides(user["wide_head"]) == ["--model.head_sizes", "32", "16", "--recipe.mixup_alpha=0"]
    variants = experiments.resolve_variants(
        ["baseline", "wide_head", "no_freeze"], user, config, data, tmp_path / "o", [], explicit=False
    )
    # the tiny config freezes nothing: no_freeze would repeat the baseline, so it is left out (and said so)
    assert [v.name for v in variants] == ["baseline", "wide_head"]
    assert "no_freeze leaves" in capsys.readouterr().out


def test_leave_one_corpus_out_and_kfold_datasets(tmp_path):
    data = make_two_corpus_set(tmp_path / "data")
    loco = experiments.loco_variants(data, tmp_path / "out")
    assert [v.name for v in loco] == ["loco-c0", "loco-c1"] and not any(v.paired for v in loco)
    held = load_from_disk(loco[0].datasets[0][1])
    assert set(held["train"]["corpus"]) == set(held["validation"]["corpus"]) == {"c1"}
    assert set(held["test"]["corpus"]) == {"c0"}
    assert len(held["test"]) == 2 * 6 + 1 * 6 + 1 * 6  # every c0 clip: train, validation and test
    kfold = experiments.kfold_variant(data, tmp_path / "out")
    assert [fold for fold, _ in kfold.datasets] == [0, 1, 2, 3]
    folds = json.loads((Path(data) / "folds.json").read_text())["speakers"]
    for fold, folder in kfold.datasets:
        dsd = load_from_disk(folder)
        test_speakers, train_speakers = set(dsd["test"]["speaker"]), set(dsd["train"]["speaker"])
        assert {folds[s] for s in test_speakers} == {fold} and not test_speakers & train_speakers
        assert {folds[s] for s in dsd["validation"]["speaker"]} == {(fold + 1) % 4}
        assert len(dsd["train"]) and not set(dsd["validation"]["speaker"]) & train_speakers
    runs = experiments.plan([kfold], [1, 2], tmp_path / "out", [])
    assert [(r.seed, r.fold) for r in runs] == [(s, f) for s in (1, 2) for f in range(4)]
    assert runs[1].folder == tmp_path / "out" / "runs" / "kfold" / "seed-1" / "fold-1"
    # a second call reuses the derived folders
    mtime = Path(kfold.datasets[0][1], "derived.json").stat().st_mtime
    experiments.kfold_variant(data, tmp_path / "out")
    assert Path(kfold.datasets[0][1], "derived.json").stat().st_mtime == mtime


def test_summary_pairs_deltas_by_seed():
    def run(seed, uar):
        metrics = {"accuracy": uar, "uar": uar, "macro_f1": uar}
        return {"seed": seed, "test": metrics, "validation": metrics, "train_seconds": 1.0}

    base = [run(1, 0.5), run(2, 0.7), run(3, 0.6)]
    variant = summarise_variant("v", {"recipe.mixup_alpha": 0}, [run(2, 0.8), run(1, 0.6), run(4, 0.1)], base)
    # seeds 1 and 2 pair up (+0.1, +0.1); seed 4 has no baseline run
    assert variant["delta_vs_baseline"]["uar"]["mean"] == pytest.approx(0.1)
    assert variant["delta_vs_baseline"]["uar"]["ci95"] == pytest.approx([0.1, 0.1])
    assert [r["seed"] for r in variant["runs"]] == [1, 2, 4]
    assert summarise_variant("loco", {}, base, None)["delta_vs_baseline"] is None
    check_schema({"variants": [variant]})


def test_from_scratch_variant_takes_the_encoders_architecture(tmp_path, tiny_setup):
    from recipe.components.config import load_config
    from tests.support.tiny_models import save_tiny_encoder

    _, data = tiny_setup
    encoder = save_tiny_encoder(tmp_path / "enc")
    cfg = tiny_config(model={"from_scratch": False, "encoder": encoder, "encoder_config": {"layerdrop": 0.0}})
    config = write_config(tmp_path / "pretrained.yaml", cfg)
    (variant,) = [
        v for v in experiments.resolve_variants(["from_scratch"], {}, config, data, tmp_path / "o", [], explicit=True)
    ]
    arch = variant.overrides["model.encoder_config"]
    assert variant.overrides["model.from_scratch"] is True
    assert arch["model_type"] == "wav2vec2" and arch["hidden_size"] == 32 and arch["layerdrop"] == 0.0
    resolved = load_config(config, as_cli_overrides(variant.overrides))
    assert resolved.model.from_scratch and resolved.model.encoder_config == arch


@pytest.mark.slow
def test_loco_and_kfold_run_end_to_end(tmp_path):
    """Both protocols trained and evaluated for real: one run per held-out corpus, one per fold, each tested on
    its own derived test split, summarised without a paired delta (their test sets are not the baseline's)."""
    data = make_two_corpus_set(tmp_path / "data")
    cfg = tiny_config(training={"num_train_epochs": 1, "per_device_train_batch_size": 6, "logging_steps": 50})
    config = write_config(tmp_path / "cfg.yaml", cfg)
    out = tmp_path / "out"
    argv = ["--config", config, "--data", data, "--output", str(out), "--seeds", "1", "--variants", "loco,kfold"]
    assert experiments.main(argv) == 0
    results = json.loads((out / experiments.RESULTS_JSON).read_text())
    check_schema(results)
    variants = {v["name"]: v for v in results["variants"]}
    assert set(variants) == {"loco-c0", "loco-c1", "kfold"}
    assert [r.get("fold") for r in variants["loco-c0"]["runs"]] == [None]
    assert sorted(r["fold"] for r in variants["kfold"]["runs"]) == [0, 1, 2, 3]
    for name, variant in variants.items():
        assert variant["delta_vs_baseline"] is None
        for run in variant["runs"]:
            folder = out / "runs" / name / f"seed-{run['seed']}"
            folder = folder / f"fold-{run['fold']}" if "fold" in run else folder
            ev = json.loads((folder / "eval_results.json").read_text())
            assert run["test"] == {m: ev["splits"]["test"][m] for m in ("accuracy", "uar", "macro_f1")}
            test_corpora = set(load_from_disk(ev["data_dir"])["test"]["corpus"])
            if name.startswith("loco-"):
                assert test_corpora == {name.removeprefix("loco-")}
        mean = np.mean([r["test"]["uar"] for r in variant["runs"]])
        assert variant["test"]["uar"]["mean"] == pytest.approx(mean)
