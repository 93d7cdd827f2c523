"""Saving a checkpoint: validate, flatten, write atomically, index and prune."""

from __future__ import annotations

import json
import operator
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import safetensors.numpy

from estimators.atomic import TMP_PREFIX, sha256_file, write_with
from estimators.checkpoints.index import update_index
from estimators.checkpoints.layout import (
    ARRAYS,
    FORMAT,
    MANIFEST,
    checkpoint_name,
    flatten,
    new_manifest,
)

__all__ = ["save_checkpoint"]


def _now() -> float:
    return time.time()


def save_checkpoint(
    model_dir: str | os.PathLike[str],
    step: int,
    tree: Any,
    *,
    extra: Mapping[str, Any] | None = None,
    keep_checkpoint_max: int | None = 5,
    keep_checkpoint_every_n_hours: float | None = 10000.0,
) -> str:
    """Writes `tree` atomically as `model_dir/ckpt-<step>` and prunes old ones.

    Args:
        model_dir: Directory holding the checkpoints; created if missing.
        step: The global step, >= 0. Saving a step again replaces it.
        tree: A pytree (dicts, lists, tuples, NamedTuples such as optax states)
            of jax or numpy arrays and Python scalars; `None` leaves are skipped.
        extra: JSON-serialisable mapping stored in the manifest (RNG state,
            input position, ...); numpy and jax values become lists/numbers.
        keep_checkpoint_max: How many recent checkpoints to keep; 0 or `None`
            keeps all. Default 5.
        keep_checkpoint_every_n_hours: Of the checkpoints pruned, keep one per
            this many hours for good (tf.train.Saver semantics); `None` keeps
            none. Default 10000.

    Returns:
        The path of the new checkpoint directory.

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators.checkpoints import checkpoint_step
        >>> d = tempfile.TemporaryDirectory()
        >>> path = save_checkpoint(d.name, 100, {"w": np.ones(2)}, extra={"seed": 1})
        >>> os.path.basename(path), checkpoint_step(path)
        ('ckpt-100', 100)
        >>> d.cleanup()
    """
    step = _check_step(step)
    _check_keep(keep_checkpoint_max, keep_checkpoint_every_n_hours)
    arrays, leaves = flatten(tree)
    extra_json = _encode_extra(extra)
    model_dir = os.fspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    _remove_leftovers(model_dir)
    name = checkpoint_name(step)
    wall_time = _now()
    manifest = new_manifest(step, wall_time, leaves, extra_json)

    def write(tmp: str) -> None:
        _write_checkpoint_dir(tmp, step, arrays, manifest)

    write_with(os.path.join(model_dir, name), write)
    update_index(
        model_dir,
        {"name": name, "step": step, "wall_time": wall_time, "preserved": False},
        keep_checkpoint_max,
        keep_checkpoint_every_n_hours,
    )
    return os.path.join(model_dir, name)


def _check_step(step: Any) -> int:
    try:
        value = operator.index(step)
    except TypeError:
        value = -1
    if value < 0:
        raise ValueError(f"`step` must be a non-negative integer, got {step!r}.")
    return value


def _check_keep(keep_max: int | None, every_n_hours: float | None) -> None:
    if keep_max is not None and (not isinstance(keep_max, int) or keep_max < 0):
        raise ValueError(
            f"`keep_checkpoint_max` must be an int >= 0 or None, got {keep_max!r}."
        )
    if every_n_hours is not None and not every_n_hours > 0:
        raise ValueError(
            "`keep_checkpoint_every_n_hours` must be > 0 or None, "
            f"got {every_n_hours!r}."
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | jax.Array):
        return np.asarray(value).tolist()
    raise TypeError(
        f"`extra` must be JSON-serialisable, got a {type(value).__name__}: {value!r}"
    )


def _encode_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise TypeError(f"`extra` must be a mapping, got {type(extra).__name__}.")
    # The round trip makes the caller get back exactly what a reader will see.
    return json.loads(json.dumps(dict(extra), default=_json_default))


def _write_checkpoint_dir(
    tmp: str, step: int, arrays: dict[str, np.ndarray], manifest: dict[str, Any]
) -> None:
    """Fills the new directory `tmp`; `write_with` fsyncs and renames it."""
    os.mkdir(tmp)
    arrays_path = os.path.join(tmp, ARRAYS)
    safetensors.numpy.save_file(
        arrays, arrays_path, metadata={"format": FORMAT, "global_step": str(step)}
    )
    manifest["sha256"] = sha256_file(arrays_path)
    with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)


def _remove_leftovers(model_dir: str) -> None:
    """Deletes what runs killed mid-write left (readers skip it meanwhile)."""
    for entry in os.scandir(model_dir):
        if entry.name.startswith(TMP_PREFIX):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
