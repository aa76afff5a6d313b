"""The card's evidence: bootstrap intervals, the classical baseline (and a plain verdict when it wins) and the
"Techniques & impact" section, every cell traced to eval_results.json / ablation_results.json."""

from __future__ import annotations

import json

import numpy as np

from model_card.__main__ import main as card_main
from model_card.render import render_card
from recipe.components.ablation import summarise_variant
from recipe.components.uncertainty import bootstrap_ci
from tests.support.card_checks import check_card, parse_tables, pct, pp
from tests.support.run_fixtures import make_fake_run


def _add_evidence(out, classical_uar: float) -> dict:
    """Give the fake run's eval_results.json real bootstrap intervals and a classical baseline entry."""
    ev = json.loads((out / "eval_results.json").read_text())
    rng = np.random.default_rng(1)
    for res in ev["splits"].values():
        y = rng.integers(0, 6, res["n"])
        res["ci95"] = bootstrap_ci(
            y,
            np.where(rng.random(res["n"]) < 0.6, y, 0),
            6,
            speakers=[f"s{i % 7}" for i in range(res["n"])],
            n_resamples=200,
        )
        res["baselines"]["classical"] = {
            "method": "openSMILE eGeMAPSv02 functionals + StandardScaler + LogisticRegression (sklearn)",
            "feature_set": "eGeMAPSv02",
            "accuracy": classical_uar,
            "uar": classical_uar,
            "macro_f1": classical_uar,
            "ci95": {**res["ci95"], "uar": [classical_uar - 0.05, classical_uar + 0.05]},
        }
    (out / "eval_results.json").write_text(json.dumps(ev))
    return ev


def _ablation(path, with_scratch: bool = True) -> dict:
    def run(seed, uar):
        m = {"accuracy": uar + 0.01, "uar": uar, "macro_f1": uar - 0.01}
        return {"seed": seed, "test": m, "validation": m, "train_seconds": 12.5}

    base = [run(42, 0.61), run(43, 0.65)]
    variants = [
        summarise_variant("baseline", {}, base, base),
        summarise_variant("no_mixup", {"recipe.mixup_alpha": 0.0}, [run(42, 0.58), run(43, 0.60)], base),
    ]
    if with_scratch:
        variants.append(
            summarise_variant(
                "from_scratch",
                {"model.from_scratch": True, "model.encoder_config": {"model_type": "wav2vec2", "hidden_size": 768}},
                [run(42, 0.31), run(43, 0.35)],
                base,
            )
        )
    variants.append(summarise_variant("loco-ravdess", {}, [run(42, 0.4)], None))
    results = {"variants": variants}
    path.write_text(json.dumps(results))
    return results


def test_intervals_and_classical_baseline_trace_to_eval_results(tmp_path):
    out, data = make_fake_run(tmp_path)
    ev = _add_evidence(out, classical_uar=0.9)
    assert card_main(["--model", str(out), "--data", str(data)]) == 0
    check_card(out, data)  # every number in the card still traces to the run's files
    text = (out / "README.md").read_text()
    primary = ev["splits"]["test"]
    summary = parse_tables(text)["Results summary"][0]
    for row, key in zip(summary, ("accuracy", "uar", "macro_f1")):
        lo, hi = primary["ci95"][key]
        assert row["model interval"] == f"[{pct(lo)}, {pct(hi)}]"
        assert row["classical (eGeMAPS + LR)"] == pct(primary["baselines"]["classical"][key])
        assert "from scratch (ablation mean)" not in row
    assert "**The model loses to the classical baseline**" in text
    assert f"UAR {pct(primary['uar'])} against {pct(0.9)}" in text
    assert f"{primary['ci95']['n_resamples']} resamples of the {primary['ci95']['n_clusters']} speakers" in text
    assert "## Techniques & impact" not in text


def test_techniques_section_traces_to_ablation_file(tmp_path):
    out, data = make_fake_run(tmp_path)
    ev = _add_evidence(out, classical_uar=0.1)
    results = _ablation(tmp_path / "ablation_results.json")
    text = str(render_card(out, data, ablation=tmp_path / "ablation_results.json"))
    assert "The model beats the classical baseline" in text and "loses" not in text
    rows = parse_tables(text)["Techniques & impact"][0]
    assert [r["variant"] for r in rows] == [v["name"] for v in results["variants"]]
    for row, v in zip(rows, results["variants"]):
        assert row["runs"] == str(len(v["runs"]))
        for col, key in (("test accuracy", "accuracy"), ("test UAR", "uar"), ("test macro-F1", "macro_f1")):
            stats = v["test"][key]
            expected = pct(stats["mean"]) + ("" if stats["std"] is None else f" ± {100 * stats['std']:.2f}")
            assert row[col] == expected
        delta = v["delta_vs_baseline"]
        if delta is None:
            assert row["Δ UAR"] == row["Δ accuracy"] == "—"
        else:
            d = delta["uar"]
            assert row["Δ UAR"] == f"{pp(d['mean'])} [{pp(d['ci95'][0])}, {pp(d['ci95'][1])}]"
    assert rows[1]["change"] == "recipe.mixup_alpha=0.0"
    assert rows[1]["Δ UAR"].startswith("-4.00 pp")  # (0.58 - 0.61 + 0.60 - 0.65) / 2
    scratch = parse_tables(text)["Results summary"][0]
    assert [r["from scratch (ablation mean)"] for r in scratch] == [
        pct(results["variants"][2]["test"][k]["mean"]) for k in ("accuracy", "uar", "macro_f1")
    ]
    assert "tmp" in text.split("## Techniques & impact")[1][:400]  # names the ablation file it was rendered from
    assert ev["splits"]["test"]["n"] > 0


def test_bad_ablation_file_is_exit_2(tmp_path, capsys):
    out, data = make_fake_run(tmp_path)
    bad = tmp_path / "ablation.json"
    bad.write_text(json.dumps({"variants": [{"name": "x"}]}))
    assert card_main(["--model", str(out), "--data", str(data), "--ablation", str(bad)]) == 2
    assert "ablation.json" in capsys.readouterr().err
