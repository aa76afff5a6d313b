"""Atomic output folders: build in a hidden temporary sibling, then rename into place, under a lock.

A reader of DEST sees either the previous complete output or the new complete one, never a mix: a crash or a kill
leaves at most a hidden `.DEST.partial-*` sibling (removed by the next run on DEST), never a file inside DEST.
The lock (`fcntl.flock` on the sibling `.DEST.lock`, released by the kernel when the process dies, so a killed
run never leaves a stale lock) refuses a second concurrent run on the same DEST.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.cli import UserError


class OutputError(UserError):
    """The output folder cannot be written: it exists without overwrite, or another run holds its lock."""


def _siblings(dest: Path, kind: str) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.{kind}-*"))


def check_output(dest: str | Path, *, overwrite: bool, flag: str = "--overwrite") -> None:
    """Raise OutputError when `dest` holds files and `overwrite` is off (call before any expensive work)."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise OutputError(f"{dest} already exists: pass {flag} to replace it, or choose another output folder")


@contextmanager
def output_lock(dest: str | Path) -> Iterator[None]:
    """Hold the lock of `dest` (OutputError if another process holds it)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = dest.parent / f".{dest.name}.lock"
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise OutputError(
                f"{dest} is being written by another run ({holder}, lock {lock_path}); "
                "wait for it to finish or choose another output folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def work_dir(dest: str | Path, kind: str = "work") -> Path:
    """A fresh hidden scratch folder beside `dest` (`.DEST.KIND-*`), for data that must never land in DEST."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{dest.name}.{kind}-", dir=dest.parent))


@contextmanager
def atomic_output(dest: str | Path, *, overwrite: bool, flag: str = "--overwrite") -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it replaces `dest` (which must be absent or empty
    unless `overwrite`); on an exception it is removed and `dest` is untouched. Holds `dest`'s lock throughout."""
    dest = Path(dest)
    with output_lock(dest):
        check_output(dest, overwrite=overwrite, flag=flag)
        for stale in _siblings(dest, "partial") + _siblings(dest, "old") + _siblings(dest, "work"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed run; we hold the lock, so none is live
        tmp = work_dir(dest, "partial")
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        if dest.exists():
            old = work_dir(dest, "old")
            os.rename(dest, old / dest.name)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
