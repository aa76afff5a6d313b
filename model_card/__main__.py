"""`python -m model_card --model OUT [--data DIR] [--ablation FILE] [--template PATH]`: write OUT/README.md from the
run's files (and an ablation_results.json of `python -m recipe.experiments`)."""

from __future__ import annotations

from collections.abc import Sequence

from common.cli import run_cli
from common.config import CliParser
from model_card.render import TEMPLATE_PATH, write_card


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exits 2 with the file and reason when a run file is missing or malformed."""
    parser = CliParser(prog="python -m model_card", description=__doc__)
    parser.add_argument("--model", required=True, help="training output folder (recipe.train --output_dir)")
    parser.add_argument(
        "--data",
        default=None,
        help="prepared dataset folder holding prepare_report.json (default: run_info.json's data_dir)",
    )
    parser.add_argument("--template", default=str(TEMPLATE_PATH), help="Jinja2 Markdown template")
    parser.add_argument(
        "--ablation",
        default=None,
        help="ablation_results.json (recipe.experiments): adds the Techniques & impact section",
    )
    args = parser.parse_args(argv)

    def card() -> int:
        print(f"wrote {write_card(args.model, args.data, args.template, args.ablation)}")
        return 0

    return run_cli("model_card", card)


if __name__ == "__main__":
    raise SystemExit(main())
