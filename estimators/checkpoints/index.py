"""Which checkpoints a `model_dir` holds: `checkpoint.json`, scanning, pruning.

`checkpoint.json` names the latest and every kept checkpoint; when it is
missing or stale, the `ckpt-*` directories with a readable manifest are the
truth. Old checkpoints are pruned as tf.train.Saver did.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Container
from typing import Any

from estimators.atomic import write_json
from estimators.checkpoints.layout import (
    FORMAT,
    FORMAT_VERSION,
    INDEX,
    MANIFEST,
    CheckpointError,
    checkpoint_step,
    is_checkpoint_name,
    load_manifest,
)

__all__ = ["all_checkpoints", "latest_checkpoint", "update_index"]

logger = logging.getLogger("estimators")


def _read_index(model_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(model_dir, INDEX), encoding="utf-8") as f:
            index = json.load(f)
        entries = index["all"]
        ok = isinstance(index["latest"], str) and all(
            is_checkpoint_name(e["name"]) and isinstance(e["wall_time"], int | float)
            for e in entries
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return index if ok else None


def _scan(model_dir: str, skip: Container[str] = ()) -> list[dict[str, Any]]:
    """Index entries for the `ckpt-*` directories with a readable manifest."""
    try:
        names = os.listdir(model_dir)
    except OSError:
        return []
    found = []
    for name in names:
        if name in skip or not is_checkpoint_name(name):
            continue
        try:
            manifest = load_manifest(os.path.join(model_dir, name))
        except CheckpointError:
            continue
        wall_time = manifest.get("wall_time", 0.0)
        step = checkpoint_step(name)
        found.append(
            {"name": name, "step": step, "wall_time": wall_time, "preserved": False}
        )
    return sorted(found, key=lambda e: e["step"])


def update_index(
    model_dir: str,
    new: dict[str, Any],
    keep_max: int | None,
    every_n_hours: float | None,
) -> None:
    """Adds the just-installed checkpoint `new`, prunes, and rewrites the index."""
    index = _read_index(model_dir) or {}
    entries = {
        e["name"]: e
        for e in index.get("all", [])
        if os.path.isdir(os.path.join(model_dir, e["name"]))
    }
    # Checkpoints renamed into place by a run killed before it wrote the index.
    for e in _scan(model_dir, skip=entries):
        entries[e["name"]] = e
    entries[new["name"]] = new
    ordered = sorted(entries.values(), key=lambda e: checkpoint_step(e["name"]))
    last_preserved = index.get("last_preserved_time")
    if last_preserved is None:
        last_preserved = min(e["wall_time"] for e in ordered)
    removed, last_preserved = _prune(
        ordered, new, keep_max, every_n_hours, last_preserved
    )
    write_json(
        os.path.join(model_dir, INDEX),
        {
            "format": f"{FORMAT}_index",
            "format_version": FORMAT_VERSION,
            "latest": new["name"],
            "all": [e for e in ordered if e["name"] not in removed],
            "last_preserved_time": last_preserved,
        },
    )
    # Deleted only once the index no longer names them.
    for name in removed:
        shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
    _remove_unreadable(model_dir, keep=new["name"])


def _remove_unreadable(model_dir: str, keep: str) -> None:
    """Removes `ckpt-*` folders without a readable manifest (a kill during
    pruning leaves them half-deleted); no reader would ever load them."""
    for name in os.listdir(model_dir):
        if name == keep or not is_checkpoint_name(name):
            continue
        path = os.path.join(model_dir, name)
        try:
            load_manifest(path)
        except CheckpointError:
            logger.info("Removing the unreadable checkpoint folder %s.", path)
            shutil.rmtree(path, ignore_errors=True)


def _prune(
    ordered: list[dict[str, Any]],
    new: dict[str, Any],
    keep_max: int | None,
    every_n_hours: float | None,
    last_preserved: float,
) -> tuple[set[str], float]:
    """Picks what to delete beyond `keep_max`, as tf.train.Saver did.

    Of the checkpoints falling out of the window, one at least `every_n_hours`
    after the last preserved one is marked preserved and kept for good.
    """
    recent = [e for e in ordered if not e.get("preserved") and e is not new]
    excess = len(recent) + 1 - keep_max if keep_max else 0
    removed = set()
    for e in recent[: max(excess, 0)]:
        if every_n_hours and e["wall_time"] - last_preserved >= every_n_hours * 3600:
            e["preserved"] = True
            last_preserved = e["wall_time"]
        else:
            removed.add(e["name"])
    return removed, last_preserved


def latest_checkpoint(model_dir: str | os.PathLike[str]) -> str | None:
    """Returns the path of the newest checkpoint in `model_dir`, or `None`.

    Reads `checkpoint.json`; when it is missing, corrupt or names a directory
    that is gone, picks the highest-step `ckpt-*` with a readable manifest.

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators.checkpoints import save_checkpoint
        >>> d = tempfile.TemporaryDirectory()
        >>> latest_checkpoint(d.name) is None
        True
        >>> _ = save_checkpoint(d.name, 7, {"w": np.zeros(1)})
        >>> os.path.basename(latest_checkpoint(d.name))
        'ckpt-7'
        >>> d.cleanup()
    """
    model_dir = os.fspath(model_dir)
    index = _read_index(model_dir)
    found = None
    if index is not None:
        path = os.path.join(model_dir, index["latest"])
        if os.path.isfile(os.path.join(path, MANIFEST)):
            return path
        found = _scan(model_dir)
        logger.warning(
            "%s names %s, which is missing or has no manifest; using %s.",
            INDEX,
            path,
            os.path.join(model_dir, found[-1]["name"]) if found else "none",
        )
    found = _scan(model_dir) if found is None else found
    return os.path.join(model_dir, found[-1]["name"]) if found else None


def all_checkpoints(model_dir: str | os.PathLike[str]) -> list[str]:
    """Returns the paths of the kept checkpoints in `model_dir`, oldest step first.

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators.checkpoints import save_checkpoint
        >>> d = tempfile.TemporaryDirectory()
        >>> for step in (1, 2, 3):
        ...     _ = save_checkpoint(d.name, step, {"w": np.zeros(1)}, keep_checkpoint_max=2)
        >>> [os.path.basename(p) for p in all_checkpoints(d.name)]
        ['ckpt-2', 'ckpt-3']
        >>> d.cleanup()
    """
    model_dir = os.fspath(model_dir)
    index = _read_index(model_dir)
    entries = index["all"] if index is not None else _scan(model_dir)
    names = [e["name"] for e in entries]
    names = [n for n in names if os.path.isdir(os.path.join(model_dir, n))]
    return [os.path.join(model_dir, n) for n in sorted(names, key=checkpoint_step)]
