"""Exporting a trained model folder to ONNX (`python -m recipe.export`): the fp32 graph checked against PyTorch,
an optional dynamic int8 copy and its agreement with fp32 on a prepared split, written all-or-nothing."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.atomic import atomic_output
from common.cli import UserError
from common.outputs import EXPORT, check_disjoint, check_replaceable, write_marker
from data_prep.dataset import load_prepared

from .calibration import stamp_onnx_temperature
from .evaluation import predict_probabilities
from .inference import OnnxModel, classify_waves, load_onnx_model, padding_is_masked
from .model_io import load_model

OPSET = 18
FP32_FILE, INT8_FILE, INFO_FILE = "model.onnx", "model_int8.onnx", "export_info.json"
# Everything a folder needs besides the graph: labels, the extractor's settings, the extractor's remote code.
COPIED = (
    "config.json",
    "preprocessor_config.json",
    "configuration_ser.py",
    "modeling_ser.py",
    "feature_extraction_ser.py",
)


class ExportError(UserError, ValueError):
    """The input cannot be exported (message names the folder or option)."""


class _Logits(torch.nn.Module):
    """The model with a plain tensor output: the ONNX graph returns `logits`, not a ModelOutput."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_values=input_values, attention_mask=attention_mask).logits


def synthetic_waves(seconds: Sequence[float], sampling_rate: int = 16000, seed: int = 0) -> list[np.ndarray]:
    """Tones with noise, one per duration: example inputs for tracing and for the PyTorch comparison."""
    rng = np.random.default_rng(seed)
    waves = []
    for i, s in enumerate(seconds):
        t = np.arange(int(s * sampling_rate)) / sampling_rate
        waves.append(
            (0.3 * np.sin(2 * np.pi * (140 + 50 * i) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
        )
    return waves


def export_fp32(model: torch.nn.Module, extractor: Any, path: Path, opset: int = OPSET) -> list[str]:
    """Write `model` to `path` with torch's dynamo exporter (dynamic batch and samples axes); returns the input
    names. The example batch holds two lengths so that no shape is specialised."""
    names = ["input_values", "attention_mask"] if padding_is_masked(extractor) else ["input_values"]
    example = extractor(
        synthetic_waves([1.0, 1.5], extractor.sampling_rate),
        sampling_rate=extractor.sampling_rate,
        padding=True,
        return_tensors="pt",
    )
    batch, samples = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("samples", min=800)
    shapes = {name: {0: batch, 1: samples} for name in names}
    args = tuple(example[name].to(torch.int64) if name == "attention_mask" else example[name] for name in names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notes on transformers internals
        torch.onnx.export(
            _Logits(model).eval(),
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_shapes=shapes,
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    return names


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic int8 quantisation of the MatMul/Gemm weights (the transformer layers; the conv feature encoder stays
    float32 because onnxruntime's ConvInteger is slower than its float convolution on CPU)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser re-runs ONNX shape inference, which rejects some of the intermediate shapes recorded by the
    # dynamo exporter (e.g. "Inferred shape and existing shape differ"): drop them, inference recomputes them.
    graph = onnx.load(str(fp32_path))
    graph.graph.ClearField("value_info")
    stripped = int8_path.with_name(int8_path.stem + "_src.onnx")
    onnx.save(graph, str(stripped))
    try:
        quantize_dynamic(
            str(stripped), str(int8_path), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
        )
    finally:
        stripped.unlink()


def compare_with_torch(model: torch.nn.Module, onnx_model: OnnxModel, extractor: Any) -> float:
    """Largest |Δp| between PyTorch and the graph on synthetic clips of several lengths, batched the shared way."""
    waves = synthetic_waves([0.6, 1.7, 2.4, 2.4, 3.3], extractor.sampling_rate, seed=1)
    reference = classify_waves(model, extractor, waves, batch_size=4)
    return float(np.abs(classify_waves(onnx_model, extractor, waves, batch_size=4) - reference).max())


def int8_agreement(
    fp32: OnnxModel, int8: OnnxModel, extractor: Any, data_dir: str | Path, split: str, batch_size: int = 8
) -> dict[str, Any]:
    """Top-1 agreement of the int8 graph with the fp32 graph on `split` of a prepared dataset, and both accuracies."""
    try:
        dataset = load_prepared(data_dir, [split])[split]
    except (FileNotFoundError, ValueError) as err:
        raise ExportError(str(err)) from err
    p32 = predict_probabilities(fp32, extractor, dataset, batch_size)
    p8 = predict_probabilities(int8, extractor, dataset, batch_size)
    labels = np.asarray(dataset["label"])
    return {
        "data_dir": str(data_dir),
        "split": split,
        "n": len(dataset),
        "top1_agreement": round(float((p32.argmax(1) == p8.argmax(1)).mean()), 4),
        "max_abs_prob_diff": round(float(np.abs(p32 - p8).max()), 5),
        "accuracy_fp32": round(float((p32.argmax(1) == labels).mean()), 4),
        "accuracy_int8": round(float((p8.argmax(1) == labels).mean()), 4),
    }


def check_export_output(model_dir: Path, output: Path) -> None:
    """ExportError unless `output` can be replaced whole: absent, empty, or an earlier export (it holds
    export_info.json), and neither the model folder nor a folder holding it."""
    model_real, output_real = model_dir.resolve(), output.resolve()
    if output_real == model_real or model_real.is_relative_to(output_real):
        raise ExportError(f"--output {output}: holds the model folder {model_dir}; choose a folder of its own")
    if output.exists() and not output.is_dir():
        raise ExportError(f"--output {output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / INFO_FILE).is_file():
        raise ExportError(
            f"--output {output}: holds files recipe.export did not write (no {INFO_FILE}); choose another folder"
        )


def export_model(
    model_dir: str | Path,
    output: str | Path | None = None,
    quantize: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "validation",
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Export `model_dir` into `output` (default model_dir/onnx); returns export_info.json's content."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ExportError(f"{model_dir}: no config.json, not a saved model folder")
    if data_dir is not None and quantize != "int8":
        raise ExportError("--data measures the int8 graph's agreement: add --quantize int8")
    output = Path(output) if output else model_dir / "onnx"
    # OUTPUT may not be, hold or lie inside --data (named before any other objection), nor be or hold the model
    # (MODEL/onnx is the default), nor replace a folder without the recipe's export marker (common.outputs).
    check_disjoint(output, [("--data", data_dir)])
    check_export_output(model_dir, output)
    check_disjoint(output, [("--model", model_dir)], may_lie_inside=["--model"])
    check_replaceable(output, EXPORT, overwrite=True, flag="--output")
    model, extractor = load_model(model_dir, "cpu")
    # Built in a hidden sibling and swapped in whole (common.atomic): a file of an earlier export (an int8 graph of
    # another model) never survives beside the new graph, and a failed export leaves the previous folder as it was.
    with atomic_output(output, overwrite=True) as staging:
        for name in COPIED:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, staging / name)
        if not (staging / "preprocessor_config.json").is_file():
            extractor.save_pretrained(str(staging))
        inputs = export_fp32(model, extractor, staging / FP32_FILE)
        temperature = float(getattr(model.config, "temperature", 1.0))
        stamp_onnx_temperature(staging / FP32_FILE, temperature)
        fp32 = load_onnx_model(staging / FP32_FILE)
        info: dict[str, Any] = {
            "model_dir": str(model_dir),
            "exporter": f"torch.onnx.export(dynamo=True), torch {torch.__version__}",
            "opset": OPSET,
            "inputs": inputs,
            "outputs": ["logits"],
            "temperature": temperature,  # calibration divisor traced into the graph (recipe.evaluate fits it)
            "files": [FP32_FILE],
            "fp32_vs_torch_max_abs_prob_diff": compare_with_torch(model, fp32, extractor),
        }
        if info["fp32_vs_torch_max_abs_prob_diff"] > tolerance:
            raise RuntimeError(
                f"{model_dir}: the ONNX graph's probabilities differ from PyTorch's by "
                f"{info['fp32_vs_torch_max_abs_prob_diff']:.2e} (> {tolerance})"
            )
        if quantize == "int8":
            quantize_int8(staging / FP32_FILE, staging / INT8_FILE)
            stamp_onnx_temperature(staging / INT8_FILE, temperature)
            info["files"].append(INT8_FILE)
            if data_dir is not None:
                int8 = load_onnx_model(staging / INT8_FILE)
                info["int8_agreement"] = int8_agreement(fp32, int8, extractor, data_dir, split)
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        write_marker(staging, EXPORT)
    info["output"] = str(output)
    return info
