"""Export a trained model folder to ONNX for onnxruntime (CPU deployment), optionally with a dynamic int8 copy.

    python -m recipe.export --model DIR [--output DIR/onnx] [--quantize int8] [--data PREPARED [--split validation]]

Writes into OUTPUT:
- ``model.onnx``: the network from `input_values` (and `attention_mask` for encoders that take one) to `logits`,
  with dynamic batch and length axes. The feature extractor's centre crop and normalisation are not in the graph:
  they stay in Python (`preprocessor_config.json`), shared with the torch backend.
- ``model_int8.onnx`` with ``--quantize int8``: `onnxruntime.quantization.quantize_dynamic` (int8 weights of the
  MatMul/Gemm layers, activations quantised on the fly).
- ``config.json`` (label map), ``preprocessor_config.json`` and the remote-code files, so that
  ``python -m recipe.predict OUTPUT FILES --backend onnx`` (or the model folder itself) runs it.
- ``export_info.json``: exporter, opset, inputs, the fp32 graph's largest probability difference from PyTorch on
  synthetic clips (checked against ``--tolerance``), and with ``--data`` the int8 graph's top-1 agreement with
  the fp32 graph on a split of the prepared dataset.

OUTPUT is replaced whole (built in a hidden sibling folder, then swapped in): nothing of an earlier export stays.
An OUTPUT that holds anything but an earlier export (no export_info.json), or holds the model folder, is refused.

Exit status: 0 written, 2 bad input (no model folder, unknown split, an OUTPUT that is not an export folder),
1 the exported graph disagrees with PyTorch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from transformers.utils import logging as hf_logging

from common.cli import run_cli
from common.config import CliParser
from recipe.components.onnx_export import export_model


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    ap = CliParser(prog="python -m recipe.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="trained model folder (recipe.train --output_dir)")
    ap.add_argument("--output", default=None, help="output folder (default: MODEL/onnx)")
    ap.add_argument("--quantize", choices=("int8",), default=None, help="also write a dynamic int8 model_int8.onnx")
    ap.add_argument("--data", default=None, help="prepared dataset: report int8's top-1 agreement with fp32 on it")
    ap.add_argument("--split", default="validation", help="split of --data for the agreement (default validation)")
    ap.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest |Δp| between the fp32 graph and PyTorch accepted (default 1e-4)",
    )
    args = ap.parse_args(argv)
    hf_logging.disable_progress_bar()
    return run_cli("recipe.export", lambda: _export(args))


def _export(args: argparse.Namespace) -> int:
    """Export and print what was written; exit 1 when the graph disagrees with PyTorch."""
    try:
        info = export_model(args.model, args.output, args.quantize, args.data, args.split, args.tolerance)
    except RuntimeError as err:
        print(f"recipe.export: {err}", file=sys.stderr)
        return 1
    print(
        f"wrote {', '.join(info['files'])} to {info['output']} (fp32 vs PyTorch: max |Δp| "
        f"{info['fp32_vs_torch_max_abs_prob_diff']:.1e})"
    )
    if "int8_agreement" in info:
        agree = info["int8_agreement"]
        print(
            f"int8 vs fp32 on {agree['split']} (n={agree['n']}): top-1 agreement {100 * agree['top1_agreement']:.2f} %,"
            f" accuracy {100 * agree['accuracy_fp32']:.2f} % fp32, {100 * agree['accuracy_int8']:.2f} % int8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
