"""What the web demo (`recipe.app`) lets one visitor cost the server, and how it is served: the defaults, their
command-line flags, and the keyword arguments they become for `gr.Blocks`, `Blocks.queue` and `Blocks.launch`.

The Space app (`recipe/space/app.py`, shipped without this package) repeats the same defaults as constants;
tests/recipe/test_app_limits.py checks the two agree.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import gradio as gr

# Uploads larger than this are refused by Gradio before they reach the model (a 16-bit WAV of 10 min is 19.2 MB at
# 16 kHz mono; 50 MB also takes 4.5 min of 44.1 kHz stereo, 47.6 MB).
MAX_FILE_SIZE = "50mb"
# Longer audio is refused from its header, before decoding (compressed files can hold hours within 50 MB).
MAX_AUDIO_S = 600.0
# Waiting requests beyond this are turned away ("queue full") instead of piling up behind a long one.
QUEUE_SIZE = 16
# Requests run at once: one keeps a CPU server's cores for one model call at a time.
CONCURRENCY = 1
# Gradio's cache of uploads and outputs: every hour, delete files older than an hour (all of it at a restart).
DELETE_CACHE = (3600, 3600)


@dataclass(frozen=True)
class AppLimits:
    """The limits of one served app (defaults: the module constants)."""

    max_file_size: str = MAX_FILE_SIZE
    max_audio_s: float = MAX_AUDIO_S
    queue_size: int = QUEUE_SIZE
    concurrency: int = CONCURRENCY
    delete_cache: tuple[int, int] = DELETE_CACHE


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """--max_file_size, --max_audio_s, --queue_size, --concurrency and --share, with the defaults above."""
    parser.add_argument("--max_file_size", default=MAX_FILE_SIZE, help=f"largest upload (default {MAX_FILE_SIZE})")
    parser.add_argument(
        "--max_audio_s", type=float, default=MAX_AUDIO_S, help=f"longest audio in seconds (default {MAX_AUDIO_S:g})"
    )
    parser.add_argument(
        "--queue_size", type=int, default=QUEUE_SIZE, help=f"requests allowed to wait (default {QUEUE_SIZE})"
    )
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help=f"requests run at once (default {CONCURRENCY})"
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="open a public gradio.live link; off unless given, even in Colab/Kaggle or with GRADIO_SHARE set",
    )


def limits_from_args(args: argparse.Namespace) -> AppLimits:
    """AppLimits from `add_limit_arguments`' flags; ValueError for a bound that is not positive."""
    if args.max_audio_s <= 0 or args.queue_size < 1 or args.concurrency < 1:
        raise ValueError("--max_audio_s must be > 0, --queue_size and --concurrency at least 1")
    return AppLimits(args.max_file_size, args.max_audio_s, args.queue_size, args.concurrency)


def blocks_kwargs(limits: AppLimits) -> dict[str, Any]:
    """`gr.Blocks` arguments: analytics off, the upload cache emptied on a schedule (and at shutdown)."""
    return {"analytics_enabled": False, "delete_cache": limits.delete_cache}


def apply_queue(demo: gr.Blocks, limits: AppLimits) -> gr.Blocks:
    """A bounded queue with `limits.concurrency` requests at a time."""
    return demo.queue(max_size=limits.queue_size, default_concurrency_limit=limits.concurrency)


def launch_kwargs(limits: AppLimits, share: bool = False) -> dict[str, Any]:
    """`Blocks.launch` arguments: the upload bound, `share` pinned to the flag (Gradio turns an unset share on in
    Colab/Kaggle and with GRADIO_SHARE), tracebacks kept out of the page (gr.Error messages still shown)."""
    return {"max_file_size": limits.max_file_size, "share": bool(share), "show_error": False}
