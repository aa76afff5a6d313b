"""The user-error convention of every command-line entry point: one line on stderr naming the file or key and the
reason, exit status 2, no traceback; exit 1 stays for internal errors."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad user input (a missing or malformed file, a wrong option): reported by `run_cli`, exit status 2."""


def run_cli(prog: str, main: Callable[[], int]) -> int:
    """Run `main()` and return its exit status; a UserError (every error class bad input can raise is one) is
    printed as `prog: error: MESSAGE` on stderr and gives 2."""
    try:
        return main()
    except UserError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
