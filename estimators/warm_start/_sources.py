"""Where a warm start reads from: a checkpoint of ours, or TensorFlow's."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from estimators import checkpoints
from estimators.warm_start._tf_bundle import TFCheckpoint, find_tf_checkpoint
from estimators.warm_start._tf_names import names_from_tf, tf_names

__all__ = ["Source", "list_variables", "load_variable", "open_source"]


class Source:
    """A checkpoint's variables by name, with the spellings to look them up."""

    description: str
    vocabularies: dict[str, Any]

    def find(self, name: str, previous: str | None) -> str | None:
        """The checkpoint's key for our variable `name`, or for its `previous` name
        (spelled as ours, without the collection, or as tf's)."""
        keys = self._candidates(name if previous is None else previous)
        if previous is not None:
            keys = [previous, *keys]
        return next((key for key in keys if self._has(key)), None)

    def _candidates(self, name: str) -> list[str]:
        """The keys this checkpoint may hold `name` under, likeliest first."""
        raise NotImplementedError

    def _has(self, key: str) -> bool:
        raise NotImplementedError

    def names(self) -> list[str]:
        """Every variable name in the checkpoint, sorted."""
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        raise NotImplementedError

    def unreadable(self, key: str) -> str | None:
        return None

    def read(self, key: str) -> np.ndarray:
        raise NotImplementedError


class _Ours(Source):
    def __init__(self, path: str) -> None:
        arrays, manifest = checkpoints.read_checkpoint(path)
        prefix = "variables/"
        self._arrays = {
            k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)
        }
        self.description = path
        self.vocabularies = dict(manifest.get("extra", {}).get("vocabularies") or {})

    def _candidates(self, name: str) -> list[str]:
        return [name, *names_from_tf(name)]

    def _has(self, key: str) -> bool:
        return key in self._arrays

    def names(self) -> list[str]:
        return sorted(self._arrays)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._arrays[key].shape)

    def read(self, key: str) -> np.ndarray:
        return self._arrays[key]


class _TensorFlow(Source):
    def __init__(self, prefix: str) -> None:
        self._bundle = TFCheckpoint(prefix)
        self._names = set(self._bundle.names())
        self.description = f"{prefix} (a TensorFlow checkpoint)"
        self.vocabularies = {}

    def _candidates(self, name: str) -> list[str]:
        return [*tf_names(name), name]

    def _has(self, key: str) -> bool:
        return key in self._names

    def names(self) -> list[str]:
        return sorted(self._names)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._bundle.shape(key)

    def unreadable(self, key: str) -> str | None:
        return self._bundle.unreadable(key)

    def read(self, key: str) -> np.ndarray:
        return self._bundle.read(key)


def open_source(path: str | os.PathLike[str]) -> Source:
    """The checkpoint `path` means: ours (a `ckpt-*` directory or a model_dir) or
    TensorFlow's (a prefix, a tf.estimator model_dir or a SavedModel)."""
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, "manifest.json")):
        return _Ours(path)
    latest = checkpoints.latest_checkpoint(path) if os.path.isdir(path) else None
    if latest is not None:
        return _Ours(latest)
    prefix = find_tf_checkpoint(path)
    if prefix is not None:
        return _TensorFlow(prefix)
    raise ValueError(
        f"warm_start_from: no checkpoint at {path!r}: give a checkpoint or model_dir "
        "of this library, or a TensorFlow checkpoint prefix (model.ckpt-1000), "
        "tf.estimator model_dir or SavedModel."
    )


def list_variables(
    ckpt_dir_or_file: str | os.PathLike[str],
) -> list[tuple[str, tuple[int, ...]]]:
    """`(name, shape)` of every variable of a checkpoint, ours or TensorFlow's
    (as `tf.train.list_variables`).

    Example:
        >>> import tempfile, numpy as np
        >>> d = tempfile.mkdtemp()
        >>> tree = {"variables": {"params": {"w": np.zeros((2, 3))}}}
        >>> _ = checkpoints.save_checkpoint(d, 1, tree)
        >>> list_variables(d)
        [('params/w', (2, 3))]
    """
    source = open_source(ckpt_dir_or_file)
    return [(name, source.shape(name)) for name in source.names()]


def load_variable(ckpt_dir_or_file: str | os.PathLike[str], name: str) -> np.ndarray:
    """The value of variable `name` in a checkpoint, ours or TensorFlow's (as
    `tf.train.load_variable`).

    Example:
        >>> import tempfile, numpy as np
        >>> d = tempfile.mkdtemp()
        >>> tree = {"variables": {"params": {"w": np.ones(2)}}}
        >>> _ = checkpoints.save_checkpoint(d, 1, tree)
        >>> load_variable(d, "params/w")
        array([1., 1.])
    """
    source = open_source(ckpt_dir_or_file)
    if name not in source.names():
        raise ValueError(
            f"load_variable: {name!r} is not in {source.description}; it has "
            f"{source.names()[:20]}."
        )
    reason = source.unreadable(name)
    if reason is not None:
        raise ValueError(f"load_variable: {name!r} is {reason}.")
    return np.asarray(source.read(name))
