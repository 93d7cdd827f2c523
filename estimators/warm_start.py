"""Warm start: initialise a new model's variables from another model's checkpoint."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from estimators import checkpoints

__all__ = ["WarmStartReport", "WarmStartSettings", "warm_start"]

logger = logging.getLogger("estimators")


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """Which variables to warm-start, and from where (as tf.estimator's).

    Args:
        ckpt_to_initialize_from: A checkpoint directory or a model_dir (its latest
            checkpoint is used).
        vars_to_warm_start: A regular expression over variable names (as from
            `Estimator.get_variable_names()`, e.g. "params/Dense_0/.*"), or a list
            of names; ".*" (default) means all trainable and non-trainable variables.
        var_name_to_prev_var_name: Maps a new variable name to its name in the
            checkpoint, for renamed variables.

    Example:
        >>> WarmStartSettings("/tmp/model", vars_to_warm_start="params/Dense_0/.*")
        ... # doctest: +ELLIPSIS
        WarmStartSettings(ckpt_to_initialize_from='/tmp/model', ...)
    """

    ckpt_to_initialize_from: str
    vars_to_warm_start: str | list[str] | None = ".*"
    var_name_to_prev_var_name: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class WarmStartReport:
    """What a warm start did: variable names loaded, skipped and freshly initialised."""

    loaded: list[str]
    skipped: list[str]
    initialized: list[str]


def _resolve(path: str) -> str:
    if os.path.exists(os.path.join(path, "manifest.json")):
        return path
    latest = checkpoints.latest_checkpoint(path)
    if latest is None:
        raise ValueError(
            f"warm_start_from: no checkpoint at {path!r} (neither a checkpoint "
            "directory nor a model_dir with one)."
        )
    return latest


def _selected(name: str, selector: str | list[str] | None) -> bool:
    if selector is None:
        return False
    if isinstance(selector, str):
        return re.fullmatch(selector, name) is not None
    return name in selector


def warm_start(
    variables: Mapping[str, Any], settings: str | os.PathLike[str] | WarmStartSettings
) -> tuple[dict[str, Any], WarmStartReport]:
    """Returns `variables` with the matching ones loaded from a checkpoint, and a report.

    A variable is loaded when it is selected, present in the checkpoint (under its
    own or its mapped previous name) and of the same shape; it is skipped when
    selected but absent or of another shape, and keeps its fresh initial value
    otherwise. The report is also logged.
    """
    if not isinstance(settings, WarmStartSettings):
        settings = WarmStartSettings(os.fspath(settings))
    path = _resolve(os.fspath(settings.ckpt_to_initialize_from))
    arrays, _ = checkpoints.read_checkpoint(path)
    renames = dict(settings.var_name_to_prev_var_name or {})
    leaves, treedef = jax.tree_util.tree_flatten_with_path(dict(variables))
    loaded, skipped, initialized, values = [], [], [], []
    for key_path, value in leaves:
        name = checkpoints.path_name(key_path)
        source = f"variables/{renames.get(name, name)}"
        if not _selected(name, settings.vars_to_warm_start):
            initialized.append(name)
            values.append(value)
        elif source in arrays and arrays[source].shape == np.shape(value):
            loaded.append(name)
            values.append(np.asarray(arrays[source], dtype=np.asarray(value).dtype))
        else:
            found = arrays[source].shape if source in arrays else "absent"
            skipped.append(f"{name} (checkpoint: {found}, model: {np.shape(value)})")
            values.append(value)
    report = WarmStartReport(loaded, skipped, initialized)
    logger.info(
        "Warm-started from %s: loaded %d %s, skipped %s, freshly initialised %s",
        path,
        len(loaded),
        loaded,
        skipped,
        initialized,
    )
    return jax.tree_util.tree_unflatten(treedef, values), report
