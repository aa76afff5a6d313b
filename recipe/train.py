"""Train the SER model on a prepared DatasetDict.

    python -m recipe.train [--config configs/recipe.yaml] --data DIR --output_dir OUT [--resume] [--key value ...]

Every config key is an option, ``--section.key value`` or ``--key value`` (``--help`` lists them with their
defaults, the seed recipe's), e.g. ``--learning_rate 1e-4 --recipe.mixup_alpha 0`` or
``--push_to_hub --hub_model_id USER/NAME``. Runs unchanged
under ``accelerate launch -m recipe.train ...`` and ``torchrun --nproc_per_node N -m recipe.train ...``.

OUT receives the best model (safetensors + config.json with auto_map + modelling code + preprocessor_config.json),
trainer_state.json, train_results.json / validation_results.json / all_results.json, train_config.yaml and
run_info.json; the Trainer's checkpoints live in OUT/checkpoint-*.
"""

from __future__ import annotations

import sys

from transformers import TrainerCallback

from common.cli import run_cli

from .components.training import train_from_argv


def main(argv: list[str] | None = None, extra_callbacks: list[TrainerCallback] | None = None) -> int:
    """CLI entry point; `extra_callbacks` lets tests hook into the run. A user error is one line and exit 2; a
    config error comes before any model is built or folder written."""
    args = sys.argv[1:] if argv is None else list(argv)
    return run_cli("recipe.train", lambda: train_from_argv(args, extra_callbacks or ()))


if __name__ == "__main__":
    sys.exit(main())
