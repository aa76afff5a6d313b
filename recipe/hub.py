"""Upload a finished training folder to the Hugging Face Hub.

    python -m recipe.hub --model OUT --hub_model_id USER/NAME [--private] [--message TEXT] [--with_app]

`python -m recipe.train ... --push_to_hub --hub_model_id USER/NAME` calls the same function at the end of training.
Only the final folder goes up (weights, config.json with auto_map, modelling code, preprocessor_config.json,
the model card README.md when present, the run's records and plots), never the intermediate checkpoints.
The Hub address comes from `HF_ENDPOINT` (read by huggingface_hub when it is imported).
`--with_app` first writes a Gradio `app.py` and its `requirements.txt` into the folder (`write_space_app`), so the
pushed repo's files also run as a Gradio Space.
"""

from __future__ import annotations

import sys

from common.cli import run_cli
from common.config import CliParser
from recipe.components.hub_push import push_folder


def main(argv: list[str] | None = None) -> int:
    ap = CliParser(prog="python -m recipe.hub", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="training output folder OUT")
    ap.add_argument("--hub_model_id", required=True, help="USER/NAME on the Hub")
    ap.add_argument("--private", action="store_true", help="create the repo as private")
    ap.add_argument("--message", default="Upload speech emotion recognition model", help="commit message")
    ap.add_argument(
        "--with_app",
        action="store_true",
        help="also write and push a Gradio app.py + requirements.txt (the repo can then run as a Space)",
    )
    args = ap.parse_args(argv)

    def push() -> int:
        url = push_folder(
            args.model,
            args.hub_model_id,
            private=args.private or None,
            commit_message=args.message,
            with_app=args.with_app,
        )
        print(f"recipe.hub: pushed {args.model} to {url}")
        return 0

    return run_cli("recipe.hub", push)


if __name__ == "__main__":
    sys.exit(main())
