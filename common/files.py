"""One walk of a folder tree shared by `python -m data_prep` and `recipe.predict`: which files are read, and why
every other entry is not.

The rule (documented in docs/data.md):
- Hidden entries (name starting with '.': `.git/`, `.Trash-1000/`, `.DS_Store`, `._*` AppleDouble files) are
  not read; a hidden folder is one entry, with the number of files it holds.
- Symlinks are followed, and each real file is read once, by its resolved path. A file reached both at its real
  path and through a link is read at its real path; the link is an alias. A folder link whose target lies inside
  the root (outside hidden folders) is one alias entry: its files are read at their real paths, so the result
  never depends on walk order. A folder link leaving the root is walked like a mounted disk. File links are
  followed wherever they point (git-annex and DVC checkouts are made of them).
- A broken link (an unfetched git-annex/DVC file) and a link loop are entries with their reason.
Nothing is silently dropped: files + unused cover every entry.

`os.walk(followlinks=True)` cannot give this: which of two paths to one folder it keeps depends on the order it
meets them, and it drops broken links without a word; hence this walker.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import UserError

REASON_HIDDEN_FILE = "hidden file"
REASON_HIDDEN_FOLDER = "hidden folder"
REASON_BROKEN_LINK = "broken symlink"
REASON_LINK_LOOP = "symlink loop"
REASON_LINK_ALIAS = "symlink alias"
REASON_SPECIAL = "not a regular file"


@dataclass(frozen=True)
class Unused:
    """An entry under the root that is not read: its path (under the root), a short reason and a detail."""

    path: Path
    reason: str
    detail: str = ""


@dataclass
class Walk:
    """Files to read (paths under the root, sorted case-insensitively) and every other entry with its reason."""

    files: list[Path] = field(default_factory=list)
    unused: list[Unused] = field(default_factory=list)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _count_files(folder: str) -> int:
    return sum(len(names) for _, _, names in os.walk(folder))


class _Walker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_real = os.path.realpath(root)
        self.real_of: dict[Path, str] = {}  # file path under root -> real path
        self.dir_links: deque[tuple[Path, str]] = deque()  # link path -> real target
        self.file_links: list[tuple[Path, str]] = []
        self.unused: list[Unused] = []
        self.hidden_real: list[str] = []  # real paths of hidden folders not walked

    def scan(self, real_dir: str, logical: Path) -> None:
        """Record the entries of `real_dir` (seen as `logical`) without following links; recurse into folders."""
        try:
            entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
        except OSError as err:
            self.unused.append(Unused(logical, "unreadable folder", err.strerror or str(err)))
            return
        here = os.path.realpath(real_dir)
        for entry in entries:
            path = logical / entry.name
            if entry.name.startswith("."):
                if entry.is_dir(follow_symlinks=False):
                    self.hidden_real.append(os.path.realpath(entry.path))
                    self.unused.append(Unused(path, REASON_HIDDEN_FOLDER, f"{_count_files(entry.path)} files not read"))
                else:
                    self.unused.append(Unused(path, REASON_HIDDEN_FILE, "name starts with '.'"))
            elif entry.is_symlink():
                self.link(entry.path, path)
            elif entry.is_dir(follow_symlinks=False):
                self.scan(entry.path, path)
            elif entry.is_file(follow_symlinks=False):
                self.real_of[path] = os.path.join(here, entry.name)
            else:
                self.unused.append(Unused(path, REASON_SPECIAL, "device, socket or pipe"))

    def link(self, where: str, path: Path) -> None:
        try:
            target = os.path.realpath(where, strict=True)
        except OSError as err:
            if err.errno == errno.ELOOP:
                self.unused.append(Unused(path, REASON_LINK_LOOP, f"-> {os.readlink(where)}"))
            else:
                self.unused.append(Unused(path, REASON_BROKEN_LINK, f"-> {os.readlink(where)} (target missing)"))
            return
        if os.path.isdir(target):
            self.dir_links.append((path, target))
        elif os.path.isfile(target):
            self.file_links.append((path, target))
        else:
            self.unused.append(Unused(path, REASON_SPECIAL, f"link to {target}"))

    def follow_dir_links(self) -> None:
        walked: dict[str, Path] = {}  # real folder walked through a link -> its link
        while self.dir_links:
            path, target = self.dir_links.popleft()
            link_home = os.path.realpath(os.path.dirname(os.path.join(self.root_real, path.relative_to(self.root))))
            if _inside(link_home, target):
                self.unused.append(Unused(path, REASON_LINK_LOOP, f"folder link to its own ancestor {target}"))
            elif _inside(target, self.root_real) and not any(_inside(target, h) for h in self.hidden_real):
                rel = os.path.relpath(target, self.root_real)
                self.unused.append(Unused(path, REASON_LINK_ALIAS, f"folder link to {rel}/: its files are read there"))
            elif any(_inside(target, w) for w in walked):
                first = next(walked[w] for w in walked if _inside(target, w))
                self.unused.append(Unused(path, REASON_LINK_ALIAS, f"folder already read through {first}"))
            else:
                walked[target] = path
                self.scan(target, path)

    def result(self) -> Walk:
        self.follow_dir_links()
        first_at: dict[str, Path] = {}
        for path, real in sorted(self.real_of.items(), key=lambda item: _sort_key(self.root, item[0])):
            if real in first_at:  # the same real file reached by two folder links leaving the root
                self.unused.append(Unused(path, REASON_LINK_ALIAS, f"same file as {first_at[real]}"))
            else:
                first_at[real] = path
        for path, target in sorted(self.file_links, key=lambda item: _sort_key(self.root, item[0])):
            if target in first_at:
                self.unused.append(Unused(path, REASON_LINK_ALIAS, f"same file as {first_at[target]}"))
            else:
                first_at[target] = path
        files = sorted(first_at.values(), key=lambda p: _sort_key(self.root, p))
        return Walk(files, sorted(self.unused, key=lambda u: _sort_key(self.root, u.path)))


def _sort_key(root: Path, path: Path) -> tuple[str, str]:
    return path.relative_to(root).as_posix().casefold(), path.as_posix()


def file_sha1(path: str | Path) -> str:
    """SHA-1 of the file's bytes, read in 1 MiB blocks (byte identity: the duplicate criterion)."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MissingFolderError(UserError, FileNotFoundError):
    """A folder to walk that does not exist (or is not a folder)."""


def walk_tree(root: str | Path) -> Walk:
    """Walk `root` by the rule above; MissingFolderError (a FileNotFoundError) when it is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise MissingFolderError(f"folder not found: {root}")
    walker = _Walker(root)
    walker.scan(walker.root_real, root)
    return walker.result()
