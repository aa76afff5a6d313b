"""Upload a finished training folder to the Hugging Face Hub.

    python -m recipe.hub --model OUT --hub_model_id USER/NAME [--private] [--message TEXT] [--with_app] [--dry_run]

Uploads the allowlist of `recipe.components.hub_push.upload_plan` (weights, config.json with auto_map, modelling
code, preprocessor_config.json, the card README.md, eval_results.json, plots, the run's records, an ONNX export's
listed files, and with `--with_app` a Gradio `app.py` + `requirements.txt` written first, so the repo also runs as
a Space); prints what it leaves out; `--dry_run` prints the plan and uploads nothing. A card or eval_results.json
older than the weights is refused (run evaluate and the card again). `python -m recipe.train ... --push_to_hub`
pushes the weights and records at the end of training. The token comes from `HF_TOKEN` or `hf auth login`
(recommended: neither is written anywhere). The Hub address comes from `HF_ENDPOINT`.
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
    ap.add_argument("--dry_run", action="store_true", help="print the files that would be uploaded; upload nothing")
    args = ap.parse_args(argv)

    def push() -> int:
        url = push_folder(
            args.model,
            args.hub_model_id,
            private=args.private or None,
            commit_message=args.message,
            with_app=args.with_app,
            dry_run=args.dry_run,
        )
        print(f"recipe.hub: {url}" if args.dry_run else f"recipe.hub: pushed {args.model} to {url}")
        return 0

    return run_cli("recipe.hub", push)


if __name__ == "__main__":
    sys.exit(main())
