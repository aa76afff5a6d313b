"""recipe.hub uploads an allowlist, names what it leaves out, lists it with --dry_run, and never pushes a card or
eval_results.json older than the weights."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from recipe.components.hub_push import HubError, push_folder, upload_plan
from recipe.hub import main

MODEL = ("config.json", "model.safetensors", "preprocessor_config.json", "modeling_ser.py", "configuration_ser.py")


def run_folder(root: Path) -> Path:
    out = root / "model"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "checkpoint-4" / "model.safetensors").write_text("w")
    (out / "onnx").mkdir()
    for name in (*MODEL, "feature_extraction_ser.py", "run_info.json", "train_config.yaml", "trainer_state.json"):
        (out / name).write_text("x")
    for name in ("training_args.bin", "notes.txt", "app.py", "requirements.txt", "wandb-key.txt"):
        (out / name).write_text("local")
    (out / "onnx" / "export_info.json").write_text(json.dumps({"files": ["model.onnx"]}))
    (out / "onnx" / "model.onnx").write_text("graph")
    (out / "onnx" / "model_int8.onnx").write_text("a stale graph of another model")
    (out / "onnx" / "config.json").write_text("{}")
    past = time.time() - 60
    os.utime(out / "model.safetensors", (past, past))
    for name in ("README.md", "eval_results.json", "confusion_matrix.png"):
        (out / name).write_text("report")  # written after the weights
    return out


def test_upload_plan_is_an_allowlist(tmp_path: Path) -> None:
    out = run_folder(tmp_path)
    upload, left_out = upload_plan(out)
    assert set(upload) == {
        *MODEL,
        "feature_extraction_ser.py",
        "run_info.json",
        "train_config.yaml",
        "trainer_state.json",
        "README.md",
        "eval_results.json",
        "confusion_matrix.png",
        "onnx/export_info.json",
        "onnx/model.onnx",
        "onnx/config.json",
    }
    assert set(left_out) == {
        "checkpoint-4/model.safetensors",
        "training_args.bin",
        "notes.txt",
        "app.py",
        "requirements.txt",
        "wandb-key.txt",
        "onnx/model_int8.onnx",
    }
    with_app, _ = upload_plan(out, with_app=True)
    assert {"app.py", "requirements.txt"} <= set(with_app)
    no_reports, _ = upload_plan(out, reports=False)
    assert not {"README.md", "eval_results.json", "confusion_matrix.png"} & set(no_reports)


def test_dry_run_lists_the_files_and_uploads_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_folder(tmp_path)
    assert main(["--model", str(out), "--hub_model_id", "me/model", "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "would upload config.json" in printed and "onnx/model.onnx" in printed
    assert "leave out" in printed and "notes.txt" in printed and "training_args.bin" in printed


def test_a_card_older_than_the_weights_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_folder(tmp_path)
    past = time.time() - 3600
    os.utime(out / "README.md", (past, past))
    os.utime(out / "eval_results.json", (past, past))
    with pytest.raises(HubError, match="README.md, eval_results.json in .* are older than the weights"):
        push_folder(out, "me/model", token="hf_unused_token_for_this_test")
    assert main(["--model", str(out), "--hub_model_id", "me/model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m recipe.evaluate" in err and "python -m model_card" in err
