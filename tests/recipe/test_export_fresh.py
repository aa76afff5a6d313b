"""recipe.export replaces its output folder whole: a file of an earlier export (an int8 graph of another model) never
survives beside the new graph, `predict --backend onnx` never runs a graph export_info.json does not list, and a
folder that is not an export (or holds the model) is refused before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from recipe.components import onnx_export
from recipe.export import main as export_main
from recipe.predict import main as predict_main
from tests.support.tiny_models import save_tiny_ser_model

STALE = b"an int8 graph exported from another model"


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "clip.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    return tmp_path / "clip.wav"


@pytest.mark.slow
def test_export_without_quantize_leaves_no_stale_int8_graph(
    tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture
) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model")
    onnx_dir = Path(model_dir) / "onnx"
    onnx_dir.mkdir()  # what an earlier `--quantize int8` export of another model left
    (onnx_dir / "model_int8.onnx").write_bytes(STALE)
    (onnx_dir / "export_info.json").write_text(json.dumps({"files": ["model.onnx", "model_int8.onnx"]}))
    assert export_main(["--model", model_dir]) == 0
    assert sorted(p.name for p in onnx_dir.iterdir()) == sorted(
        ["model.onnx", "export_info.json", *(n for n in onnx_export.COPIED if (Path(model_dir) / n).is_file())]
    )
    assert json.loads((onnx_dir / "export_info.json").read_text())["files"] == ["model.onnx"]
    assert not [p.name for p in Path(model_dir).iterdir() if ".partial-" in p.name or ".old-" in p.name]
    capsys.readouterr()
    assert predict_main([model_dir, str(clip), "--backend", "onnx", "--quantize"]) == 2
    assert "no model_int8.onnx here or in onnx/" in capsys.readouterr().err
    assert predict_main([model_dir, str(clip), "--backend", "onnx"]) == 0

    # A graph that the folder's export_info.json does not list (copied in, or left by an older exporter) is refused.
    shutil.copy2(onnx_dir / "model.onnx", onnx_dir / "model_int8.onnx")
    capsys.readouterr()
    assert predict_main([model_dir, str(clip), "--backend", "onnx", "--quantize"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model_int8.onnx: not listed in export_info.json" in err[0], err


def test_failed_export_leaves_the_previous_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model")
    onnx_dir = Path(model_dir) / "onnx"
    onnx_dir.mkdir()
    previous = {"model.onnx": b"previous graph", "export_info.json": b'{"files": ["model.onnx"]}'}
    for name, data in previous.items():
        (onnx_dir / name).write_bytes(data)

    def broken_exporter(model, extractor, path, opset=18):
        path.write_bytes(b"half a graph")
        raise RuntimeError("exporter died")

    monkeypatch.setattr(onnx_export, "export_fp32", broken_exporter)
    assert export_main(["--model", model_dir]) == 1
    assert {p.name: p.read_bytes() for p in onnx_dir.iterdir()} == previous
    leftovers = [p.name for p in Path(model_dir).iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert leftovers == []  # no half-built sibling either


def test_an_output_that_is_not_an_export_is_refused_untouched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir = save_tiny_ser_model(tmp_path / "model")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    for output, message in [
        (notes, "holds files recipe.export did not write (no export_info.json)"),
        (Path(model_dir), "holds the model folder"),
        (tmp_path, "holds the model folder"),
    ]:
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        assert export_main(["--model", model_dir, "--output", str(output)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (notes / "todo.txt").read_text() == "mine"
