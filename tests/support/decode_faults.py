"""Decoding workers that die as the out-of-memory killer kills them (SIGKILL), for the dead-worker tests."""

from __future__ import annotations

import os
import signal
from typing import Any

from data_prep.decode import Task, decode_one

KILL_MARKER = "KILLME"


def decode_or_die(task: Task) -> dict[str, Any]:
    """`decode_one`, except that the worker process SIGKILLs itself on a file whose name holds KILL_MARKER."""
    if KILL_MARKER in os.path.basename(task[0]):
        os.kill(os.getpid(), signal.SIGKILL)
    return decode_one(task)
