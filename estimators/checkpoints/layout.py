"""What a checkpoint is on disk: file names, format, leaf names, stored dtypes.

Every other module of the package spells the layout through these names, so it
is defined once.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ARRAYS",
    "FORMAT",
    "FORMAT_VERSION",
    "INDEX",
    "MANIFEST",
    "CheckpointError",
    "checkpoint_name",
    "checkpoint_step",
    "flatten",
    "is_checkpoint_name",
    "load_manifest",
    "new_manifest",
    "path_name",
]

FORMAT = "estimators.checkpoint"
FORMAT_VERSION = 1
INDEX = "checkpoint.json"
ARRAYS = "state.safetensors"
MANIFEST = "manifest.json"
_ROOT_NAME = "<root>"
_CKPT_RE = re.compile(r"ckpt-(\d+)\Z")
# What safetensors' writer stores natively; `jax` registers the ml_dtypes names.
_NATIVE_DTYPES = frozenset(
    [
        "bool",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float16",
        "float32",
        "float64",
        "bfloat16",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
        "complex64",
    ]
)


class CheckpointError(Exception):
    """A checkpoint is missing, corrupt, or does not match the expected tree."""

    __module__ = "estimators.checkpoints"  # where users import and catch it


# ---------------------------------------------------------------- directory names


def checkpoint_name(step: int) -> str:
    """The directory name of the checkpoint of global step `step`.

    Example:
        >>> checkpoint_name(200)
        'ckpt-200'
    """
    return f"ckpt-{step}"


def is_checkpoint_name(name: str) -> bool:
    """Whether `name` is a `ckpt-<step>` directory name.

    Example:
        >>> is_checkpoint_name("ckpt-200"), is_checkpoint_name(".tmp-ckpt-200-1f")
        (True, False)
    """
    return _CKPT_RE.match(name) is not None


def checkpoint_step(path: str | os.PathLike[str]) -> int:
    """Returns the global step encoded in a `ckpt-<step>` path.

    Example:
        >>> checkpoint_step("/runs/model/ckpt-1200")
        1200
    """
    name = os.path.basename(os.path.normpath(os.fspath(path)))
    if not (match := _CKPT_RE.match(name)):
        raise ValueError(f"`path` must name a 'ckpt-<step>' directory, got {path!r}.")
    return int(match[1])


# ---------------------------------------------------------------- leaves


def _key_name(key: Any) -> str:
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    return str(key)


def path_name(key_path: tuple[Any, ...]) -> str:
    """The checkpoint name of a leaf from `jax.tree_util.tree_flatten_with_path`.

    Example:
        >>> import jax
        >>> [path_name(p) for p, _ in
        ...  jax.tree_util.tree_flatten_with_path({"params": {"w": 1}})[0]]
        ['params/w']
    """
    return "/".join(_key_name(k) for k in key_path) if key_path else _ROOT_NAME


def flatten(tree: Any) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The arrays to store, keyed by leaf name, and the manifest's leaf entries.

    Example:
        >>> import numpy as np
        >>> arrays, leaves = flatten({"w": np.ones(2, np.float32)})
        >>> leaves
        [{'path': 'w', 'shape': [2], 'dtype': 'float32'}]
    """
    arrays: dict[str, np.ndarray] = {}
    leaves = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = path_name(path)
        if name in arrays:
            raise ValueError(
                f"two leaves of `tree` share the checkpoint name {name!r}; "
                "rename a dict key that contains '/'."
            )
        arrays[name], entry = _to_stored(name, leaf)
        leaves.append(entry)
    return arrays, leaves


def _to_stored(name: str, leaf: Any) -> tuple[np.ndarray, dict[str, Any]]:
    entry: dict[str, Any] = {"path": name}
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        entry["key_impl"] = str(jax.random.key_impl(leaf))
        entry["key_shape"] = list(leaf.shape)
        leaf = jax.random.key_data(leaf)
    arr = np.asarray(leaf)
    if not (arr.dtype == np.bool_ or jnp.issubdtype(arr.dtype, jnp.number)):
        raise TypeError(
            f"cannot checkpoint leaf {name!r}: {type(leaf).__name__} with dtype "
            f"{arr.dtype} is not a numeric array."
        )
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # not np.ascontiguousarray: it makes 0-d 1-d
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    entry.update(shape=list(arr.shape), dtype=arr.dtype.name)
    if arr.dtype.name not in _NATIVE_DTYPES:
        entry["stored_as"] = "uint8"
        arr = arr.reshape(-1).view(np.uint8)
    return arr, entry


# ---------------------------------------------------------------- the manifest


def new_manifest(
    step: int, wall_time: float, leaves: list[dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    """A checkpoint's manifest; its `sha256` is filled in once the arrays are saved."""
    utc = datetime.datetime.fromtimestamp(wall_time, datetime.UTC)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "global_step": step,
        "wall_time": wall_time,
        "time_utc": utc.isoformat(),
        "arrays_file": ARRAYS,
        "sha256": None,
        "leaves": leaves,
        "extra": extra,
    }


def load_manifest(path: str) -> dict[str, Any]:
    """Reads and checks the manifest of the checkpoint directory `path`.

    Raises:
        CheckpointError: it is missing, unreadable, not ours, or too new.
    """
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint '{path}' has no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: unreadable {MANIFEST} ({e})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}' is corrupt: not a {FORMAT}")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {manifest['format_version']}; "
            f"this version of estimators reads up to {FORMAT_VERSION}: upgrade it."
        )
    return manifest
