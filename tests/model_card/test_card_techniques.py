"""The card's "Techniques & impact" renders the technique variants (focal loss, class weights, augmentation,
checkpoint averaging) with their settings readable."""

from __future__ import annotations

import json

from model_card.render import render_card
from recipe.components.ablation import TECHNIQUE_VARIANTS, summarise_variant
from tests.support.card_checks import parse_tables
from tests.support.run_fixtures import make_fake_run


def test_technique_variants_render_as_rows(tmp_path):
    out, data = make_fake_run(tmp_path)

    def run(seed, uar):
        m = {"accuracy": uar, "uar": uar, "macro_f1": uar}
        return {"seed": seed, "test": m, "validation": m, "train_seconds": 10.0}

    base = [run(42, 0.60), run(43, 0.62)]
    variants = [summarise_variant("baseline", {}, base, base)]
    for i, (name, overrides) in enumerate(TECHNIQUE_VARIANTS.items()):
        variants.append(summarise_variant(name, overrides, [run(42, 0.5 + i / 100), run(43, 0.52 + i / 100)], base))
    (tmp_path / "ablation_results.json").write_text(json.dumps({"variants": variants}))
    text = str(render_card(out, data, ablation=tmp_path / "ablation_results.json"))
    rows = parse_tables(text)["Techniques & impact"][0]
    assert [r["variant"] for r in rows] == ["baseline", *TECHNIQUE_VARIANTS]
    by_name = {r["variant"]: r for r in rows}
    assert by_name["speed_perturb"]["change"] == "recipe.speed_perturb={default: 1.0}"
    assert by_name["focal_loss"]["change"] == "data.train_split=train_unbalanced, recipe.loss=focal"
    assert "recipe.checkpoint_average=3" in by_name["checkpoint_average"]["change"]
    # speed_perturb (3rd technique): paired deltas (0.52 - 0.60 + 0.54 - 0.62) / 2 = -8.00 pp
    assert by_name["speed_perturb"]["Δ UAR"].startswith("-8.00 pp")
