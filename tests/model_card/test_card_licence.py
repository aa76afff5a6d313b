"""The card's licence and usage snippet come from the run's files and options, not from fixed text."""

from __future__ import annotations

import json

import yaml
from huggingface_hub import ModelCard

from model_card.__main__ import main as card_main
from model_card.render import render_card
from tests.support.run_fixtures import make_fake_run


def _set_hub(out, **hub) -> None:
    cfg = yaml.safe_load((out / "train_config.yaml").read_text())
    cfg["hub"] = {**(cfg.get("hub") or {}), **hub}
    (out / "train_config.yaml").write_text(yaml.safe_dump(cfg))


def _only_ravdess(data) -> None:
    report = json.loads((data / "prepare_report.json").read_text())
    report["corpora"]["URDU-Dataset"]["kept"] = 0
    (data / "prepare_report.json").write_text(json.dumps(report))


def test_licence_follows_the_corpora_the_weights_saw(tmp_path):
    out, data = make_fake_run(tmp_path)
    # RAVDESS (CC BY-NC-SA 4.0) with a corpus whose terms the recipe does not record: no single Hub id fits
    assert render_card(out, data).data.license == "other"
    _only_ravdess(data)
    assert render_card(out, data).data.license == "cc-by-nc-sa-4.0"


def test_licence_from_hub_license_and_from_the_command_line(tmp_path):
    out, data = make_fake_run(tmp_path)
    _set_hub(out, license="cc-by-nc-4.0")
    assert render_card(out, data).data.license == "cc-by-nc-4.0"
    assert card_main(["--model", str(out), "--data", str(data), "--license", "mit"]) == 0
    assert ModelCard.load(out / "README.md").data.license == "mit"


def test_usage_snippet_loads_the_pushed_repository_or_the_folder(tmp_path):
    out, data = make_fake_run(tmp_path)
    assert f'"audio-classification", model="{out}", trust_remote_code=True' in str(render_card(out, data))
    _set_hub(out, push_to_hub=True, hub_model_id="someone/ser-test")
    text = str(render_card(out, data))
    assert 'model="someone/ser-test"' in text and f'model="{out}"' not in text
