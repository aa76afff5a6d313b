"""Atomic output folders: build in a hidden temporary sibling, then rename into place, under a lock.

A reader of DEST sees either the previous complete output or the new complete one, never a mix and never a gap:
the new folder and DEST swap places in one `renameat2(RENAME_EXCHANGE)` call (Linux >= 3.15 on ext4, xfs, btrfs,
tmpfs), and only then is the previous copy deleted. Where the exchange is unavailable, DEST is renamed to a hidden
`.DEST.old-*` sibling and the new folder renamed into place; a kill between the two renames leaves no DEST, and the
next run on DEST first restores the `.old-*` copy (`recover`) before it removes any leftover. A crash or a kill
otherwise leaves at most hidden `.DEST.partial-*` / `.DEST.work-*` siblings (removed by the next run), never a
file inside DEST. The lock (`fcntl.flock` on the sibling `.DEST.lock`, released by the kernel when the process
dies, so a killed run never leaves a stale lock) refuses a second concurrent run on the same DEST.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common.cli import UserError


class OutputError(UserError):
    """The output folder cannot be written: it exists without overwrite, or another run holds its lock."""


def _siblings(dest: Path, kind: str) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.{kind}-*"))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: str | Path, b: str | Path) -> bool:
    """Swap the paths `a` and `b` atomically (both must exist); False where the OS or file system cannot, in which
    case nothing was changed. glibc's `renameat2` has no Python binding (os.rename/os.replace cannot swap)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def recover(dest: str | Path) -> Path | None:
    """When DEST is missing but a `.DEST.old-*` sibling holds the previous copy (a run killed between the two
    renames of the fallback replace), rename that copy back to DEST; returns the restored source or None.
    Call under DEST's lock, before removing any leftover."""
    dest = Path(dest)
    if dest.exists() or dest.is_symlink():
        return None
    copies = [old / dest.name for old in _siblings(dest, "old") if (old / dest.name).exists()]
    if not copies:
        return None
    newest = max(copies, key=lambda p: p.stat().st_mtime)
    os.rename(newest, dest)
    return newest


def replace_folder(new: str | Path, dest: str | Path) -> None:
    """Put the folder `new` at `dest`, replacing any previous `dest`; the previous copy is deleted only once the
    new one is in place. Call under DEST's lock."""
    new, dest = Path(new), Path(dest)
    if not dest.exists():
        os.rename(new, dest)
        return
    if exchange(new, dest):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the previous copy
        return
    old = work_dir(dest, "old")
    os.rename(dest, old / dest.name)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


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
def atomic_output(
    dest: str | Path,
    *,
    overwrite: bool,
    flag: str = "--overwrite",
    check: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it replaces `dest` (which must be absent or empty
    unless `overwrite`); on an exception it is removed and `dest` is untouched. Holds `dest`'s lock throughout.
    `check(dest)`, run under the lock before anything is removed, may refuse the replacement (OutputError)."""
    dest = Path(dest)
    with output_lock(dest):
        if restored := recover(dest):
            print(f"note: restored {dest} from {restored.parent.name}, left by an interrupted run", flush=True)
        check_output(dest, overwrite=overwrite, flag=flag)
        if check is not None:
            check(dest)
        for stale in _siblings(dest, "partial") + _siblings(dest, "old") + _siblings(dest, "work"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed run; we hold the lock, so none is live
        tmp = work_dir(dest, "partial")
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        replace_folder(tmp, dest)
