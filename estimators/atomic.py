"""Durable, all-or-nothing file writes: temp file, fsync, rename, directory fsync.

Checkpoints, exports, metric files and the pipeline's tasks all write through
these helpers, so a kill at any moment leaves either the old file or the new one,
never a torn one, and a completed write survives a power loss.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp(), "a.json")
    >>> write_json(path, {"step": 3})
    >>> json.loads(path.read_text())
    {'step': 3}
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from typing import Any

__all__ = [
    "TMP_PREFIX",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "install_dir",
    "new_temp_dir",
    "sha256_file",
    "write_bytes",
    "write_json",
    "write_text",
    "write_with",
]

TMP_PREFIX = ".tmp-"
"""Names starting with this are unfinished writes; readers skip them."""


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flushes a directory's entries (renames, new files) to disk, where possible."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flushes one file's contents to disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_tree(path: str | os.PathLike[str]) -> None:
    """Flushes every file and directory under `path` (or the one file `path`)."""
    if not os.path.isdir(path):
        fsync_file(path)
        return
    for root, _, files in os.walk(path):
        for name in files:
            fsync_file(os.path.join(root, name))
        fsync_dir(root)


def _temp_name(path: str) -> str:
    parent, name = os.path.split(path)
    return os.path.join(parent, f"{TMP_PREFIX}{name}-{secrets.token_hex(4)}")


def write_with(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Atomically replaces `path` with what `write(temp_path)` writes there.

    Args:
        path: The file to create or replace.
        write: Writes the whole file at the temporary path it is given (e.g. a
            library's `save(temp_path)`); it need not fsync.
    """
    path = os.fspath(path)
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = _temp_name(path)
    try:
        write(tmp)
        fsync_tree(tmp)
        if os.path.isdir(tmp) and os.path.isdir(path):
            install_dir(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replaces `path` with `data`."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    write_with(path, write)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically replaces `path` with `text` (UTF-8)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any, **dumps: Any) -> None:
    """Atomically replaces `path` with `obj` as JSON (`dumps` go to `json.dumps`)."""
    dumps.setdefault("indent", 1)
    write_text(path, json.dumps(obj, **dumps))


def new_temp_dir(parent: str | os.PathLike[str], *, prefix: str = TMP_PREFIX) -> str:
    """A new, empty, uniquely named temporary directory inside `parent`.

    Args:
        parent: Where to create it; created if missing.
        prefix: The start of its name, one that readers of `parent` skip.
            Default `TMP_PREFIX`.
    """
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(os.fspath(parent), f"{prefix}{secrets.token_hex(6)}")
    os.mkdir(path)
    return path


def install_dir(tmp: str, final: str) -> None:
    """Renames the finished directory `tmp` to `final`, replacing an existing one.

    An existing `final` is moved aside first and restored if the rename fails, so
    `final` is always either the old or the new directory.
    """
    fsync_dir(tmp)
    if not os.path.exists(final):
        os.replace(tmp, final)
    else:
        parent, name = os.path.split(final)
        old = os.path.join(parent, f"{TMP_PREFIX}old-{name}-{secrets.token_hex(4)}")
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(os.path.dirname(final) or ".")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
