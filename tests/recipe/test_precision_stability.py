"""Mixed precision that keeps the waveform CNN in float32, and the collapse guard."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import torch
from transformers import EvalPrediction

from recipe.components.collapse import CollapseGuardCallback, PredictionSpread
from recipe.components.metrics import compute_metrics
from recipe.modeling import SERConfig, SERForAudioClassification
from tests.support.train_helpers import tiny_encoder_config


def _tiny_model() -> SERForAudioClassification:
    torch.manual_seed(0)
    config = SERConfig(encoder_config=tiny_encoder_config(no_dropout=True), head_sizes=[8], head_dropout=0.0)
    return SERForAudioClassification(config).eval()


def test_feature_encoder_runs_in_float32_under_bf16_autocast():
    model = _tiny_model()
    x = torch.randn(2, 3200)
    seen = {}
    model.encoder.feature_extractor.register_forward_hook(lambda m, i, o: seen.__setitem__("cnn", o.dtype))
    model.encoder.feature_projection.projection.register_forward_hook(lambda m, i, o: seen.__setitem__("proj", o.dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    assert seen == {"cnn": torch.float32, "proj": torch.bfloat16}  # the CNN in fp32, the rest in bf16
    with torch.no_grad():
        plain = model(x).logits
        model.encoder.feature_extractor.__class__ = type(model.encoder.feature_extractor).__mro__[1]
        original = model(x).logits
    assert torch.equal(plain, original)  # without autocast: the encoder's own forward, bit for bit
    assert isinstance(_tiny_model().encoder.feature_extractor, type(model.encoder.feature_extractor))


def test_float32_cnn_keeps_parameter_names_and_deepcopies():
    model = _tiny_model()
    keys = set(model.state_dict())
    assert any(k.startswith("encoder.feature_extractor.conv_layers.0.") for k in keys)
    clone = copy.deepcopy(model)
    clone.encoder.feature_extractor.conv_layers[0].conv.weight.data.zero_()
    assert model.encoder.feature_extractor.conv_layers[0].conv.weight.abs().sum() > 0
    assert set(clone.state_dict()) == keys


def _eval(spread: PredictionSpread, predicted: list[int], labels: list[int]) -> dict[str, float]:
    logits = np.eye(3)[predicted]
    return spread(EvalPrediction(predictions=logits, label_ids=np.array(labels)))


def test_collapse_guard_names_the_class_and_records_it(capsys):
    spread = PredictionSpread(compute_metrics, 3)
    guard = CollapseGuardCallback(spread, {0: "anger", 1: "fear", 2: "happy"})
    state = SimpleNamespace(epoch=1.0, global_step=10, is_world_process_zero=True)
    metrics = _eval(spread, [0, 1, 2, 1], [0, 1, 2, 2])
    assert set(metrics) == {"accuracy", "uar", "macro_f1"}  # the metrics keep their keys
    guard.on_evaluate(None, state, None)
    assert guard.events == [] and "COLLAPSE" not in capsys.readouterr().out
    metrics = _eval(spread, [1, 1, 1, 1], [0, 1, 2, 2])
    assert metrics["uar"] == 1 / 3
    state = SimpleNamespace(epoch=2.0, global_step=20, is_world_process_zero=True)
    guard.on_evaluate(None, state, None)
    out = capsys.readouterr().out
    assert "COLLAPSE at epoch 2.00 (step 20)" in out and "'fear' for all 4 validation clips" in out
    assert guard.record(20) == {
        "collapsed_evaluations": [{"epoch": 2.0, "step": 20, "class": "fear", "clips": 4}],
        "final_model_collapsed": True,
    }
    assert guard.record(10)["final_model_collapsed"] is False
    assert guard.record(None, final_is_last_evaluation=True)["final_model_collapsed"] is True
