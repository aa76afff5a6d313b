"""The card's "Techniques & impact" renders the speaker_norm and cross-corpus variants and each variant's seed
ensemble, every cell as ablation_results.json has it."""

from __future__ import annotations

import json

from common.ablation_results import check_schema
from model_card.render import render_card
from recipe.components.ablation import summarise_variant
from tests.support.card_checks import parse_tables, pct
from tests.support.run_fixtures import make_fake_run


def _run(seed: int, uar: float) -> dict:
    m = {"accuracy": uar + 0.01, "uar": uar, "macro_f1": uar - 0.01}
    return {"seed": seed, "test": m, "validation": m, "train_seconds": 3.0}


def test_speaker_norm_cross_corpus_and_ensemble_rows(tmp_path):
    out, data = make_fake_run(tmp_path)
    base = [_run(42, 0.61), _run(43, 0.65)]
    variants = [
        summarise_variant("baseline", {}, base, base),
        summarise_variant("speaker_norm", {"model.speaker_norm": True}, [_run(42, 0.66), _run(43, 0.70)], base),
        summarise_variant("cross_corpus-ravdess", {}, [_run(42, 0.40)], None),
    ]
    variants[1]["ensemble"] = {
        "members": ["runs/speaker_norm/seed-42", "runs/speaker_norm/seed-43"],
        "model_dir": "ensembles/speaker_norm",
        "test": {"accuracy": 0.7311, "uar": 0.7123, "macro_f1": 0.7001},
        "test_ci95": {"accuracy": [0.6, 0.8], "uar": [0.6512, 0.7734], "macro_f1": [0.6, 0.8]},
    }
    results = {"variants": variants}
    check_schema(results)  # the optional ensemble entry is part of the schema
    (tmp_path / "ablation_results.json").write_text(json.dumps(results))
    rows = parse_tables(str(render_card(out, data, ablation=tmp_path / "ablation_results.json")))[
        "Techniques & impact"
    ][0]
    assert [r["variant"] for r in rows] == [
        "baseline",
        "speaker_norm",
        "speaker_norm (seed ensemble)",
        "cross_corpus-ravdess",
    ]
    assert rows[1]["change"] == "model.speaker_norm=true"
    ensemble = rows[2]
    assert ensemble["runs"] == "1" and ensemble["seeds"] == "42, 43"
    assert ensemble["test accuracy"] == pct(0.7311) == "73.11 %"
    assert ensemble["test UAR"] == "71.23 % [65.12 %, 77.34 %]"
    assert ensemble["Δ UAR"] == "—"
