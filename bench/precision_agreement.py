"""How far bf16 autocast moves the training gradient from fp32, per part of the model, with the waveform CNN in
bf16 (plain autocast) and in float32 (the recipe's model).

    python -m bench.precision_agreement --config configs/demo.yaml --data outputs/demo/prepared [--batches 4]
        [--weights CHECKPOINT/model.safetensors]

Same weights, same batch, same dropout masks: one fp32 backward pass, one with bf16 autocast; prints the mean over
batches of 1 - cosine(g_fp32, g_bf16) for each parameter group (0 = the same direction).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from common.cli import run_cli
from common.config import CliParser

GROUPS = {
    "CNN layer 0": ("encoder.feature_extractor.conv_layers.0.",),
    "CNN layers 1+": ("encoder.feature_extractor.conv_layers.",),
    "feature projection": ("encoder.feature_projection",),
    "positional conv": ("encoder.encoder.pos_conv",),
    "transformer": ("encoder.encoder.layers",),
    "pooling + head": ("pooling", "head", "classifier"),
}


def _gradients(model, batch, num_classes: int, bf16: bool) -> dict[str, torch.Tensor]:
    from recipe.components.losses import soft_target_loss

    model.zero_grad()
    torch.manual_seed(1)  # the same dropout masks in both passes
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_values=batch["input_values"]).logits
    targets = F.one_hot(batch["labels"], num_classes).float()
    soft_target_loss(logits, targets, 0.1).backward()
    out = {}
    for group, prefixes in GROUPS.items():
        grads = [
            p.grad.flatten()
            for n, p in model.named_parameters()
            if p.grad is not None
            and n.startswith(prefixes)
            and not (group == "CNN layers 1+" and n.startswith(GROUPS["CNN layer 0"]))
        ]
        out[group] = torch.cat(grads)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: the gradient gap table on stdout."""
    ap = CliParser(prog="python -m bench.precision_agreement", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/demo.yaml", help="recipe config of the model")
    ap.add_argument("--data", required=True, help="prepared DatasetDict (its train split)")
    ap.add_argument("--batches", type=int, default=4, help="batches of 16 training clips to average over")
    ap.add_argument("--weights", default=None, help="model.safetensors to start from (default: the random init)")
    args = ap.parse_args(argv)
    return run_cli(ap.prog, lambda: _agreement(args))


def _agreement(args) -> int:

    from data_prep.dataset import load_prepared
    from recipe.components.collator import AudioClassificationCollator
    from recipe.components.config import load_config
    from recipe.components.model_io import build_model, model_view

    cfg = load_config(args.config)
    dsd = load_prepared(args.data, ("train",))
    names = dsd["train"].features["label"].names
    ds = model_view(dsd["train"], need_length=True)
    torch.manual_seed(0)
    model, fe = build_model(cfg, dict(enumerate(names)))
    if args.weights:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(args.weights), strict=False)
    model.train()
    collator = AudioClassificationCollator(fe)
    cnn = model.encoder.feature_extractor
    float32_cls, plain_cls = type(cnn), type(cnn).__mro__[1]
    rows = {"CNN in bf16 (plain autocast)": plain_cls, "CNN in float32 (recipe)": float32_cls}
    gaps: dict[str, dict[str, list[float]]] = {row: {g: [] for g in GROUPS} for row in rows}
    rng = np.random.default_rng(0)
    for _ in range(args.batches):
        batch = collator([ds[int(i)] for i in rng.choice(len(ds), 16, replace=False)])
        reference = _gradients(model, batch, len(names), bf16=False)
        for row, cls in rows.items():
            cnn.__class__ = cls
            grads = _gradients(model, batch, len(names), bf16=True)
            cnn.__class__ = float32_cls
            for g in GROUPS:
                gaps[row][g].append(1.0 - F.cosine_similarity(reference[g], grads[g], dim=0).item())
    print("| bf16 autocast | " + " | ".join(GROUPS) + " |")
    print("|" + " --- |" * (len(GROUPS) + 1))
    for row in rows:
        print(f"| {row} | " + " | ".join(f"{np.mean(gaps[row][g]):.4f}" for g in GROUPS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
