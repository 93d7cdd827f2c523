"""Reading a checkpoint: verify its checksum, decode its arrays, match a template."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from estimators.checkpoints.index import all_checkpoints, latest_checkpoint
from estimators.checkpoints.layout import (
    ARRAYS,
    MANIFEST,
    CheckpointError,
    load_manifest,
    path_name,
)

logger = logging.getLogger("estimators")

__all__ = [
    "checkpoint_stamp",
    "newest_usable_checkpoint",
    "verify_checkpoint",
    "read_checkpoint",
    "read_manifest",
    "restore_checkpoint",
    "restore_subtree",
]


def _resolve(path: str | os.PathLike[str]) -> str:
    """Accepts a checkpoint directory, or a `model_dir` meaning its latest."""
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, MANIFEST)):
        return path
    latest = latest_checkpoint(path) if os.path.isdir(path) else None
    if latest is None:
        raise CheckpointError(f"no checkpoint found at '{path}'")
    return latest


def _read_verified(path: str, manifest: dict[str, Any]) -> bytearray:
    arrays_path = os.path.join(path, manifest.get("arrays_file", ARRAYS))
    try:
        with open(arrays_path, "rb") as f:
            data = bytearray(os.fstat(f.fileno()).st_size)
            f.readinto(data)
    except OSError as e:
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: cannot read arrays ({e})"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != manifest.get("sha256"):
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: checksum mismatch "
            f"(manifest sha256 {manifest.get('sha256')}, file sha256 {actual})"
        )
    return data


def _decode(
    path: str, data: bytearray, manifest: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Parses the safetensors layout directly, so every dtype and no copy."""
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    arrays = {}
    for leaf in manifest["leaves"]:
        name, info = leaf["path"], header.get(leaf["path"])
        if info is None:
            raise CheckpointError(
                f"checkpoint '{path}' is corrupt: leaf {name!r} is not in {ARRAYS}"
            )
        start, end = info["data_offsets"]
        dtype = np.dtype(leaf.get("stored_as", leaf["dtype"]))
        arr = np.frombuffer(
            data, dtype, (end - start) // dtype.itemsize, 8 + header_len + start
        ).reshape(info["shape"])
        if "stored_as" in leaf:
            arr = arr.view(np.dtype(leaf["dtype"])).reshape(leaf["shape"])
        if list(arr.shape) != leaf["shape"]:
            raise CheckpointError(
                f"checkpoint '{path}' is corrupt: leaf {name!r} has shape "
                f"{arr.shape}, manifest says {tuple(leaf['shape'])}"
            )
        arrays[name] = arr
    return arrays


def read_checkpoint(
    path: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads every array of a checkpoint, without a template, and its manifest.

    Args:
        path: A `ckpt-<step>` directory, or a `model_dir` (meaning its latest).

    Returns:
        `(arrays, manifest)`: numpy arrays keyed by leaf path ("params/w"), and
        the manifest dict (`global_step`, `leaves`, `extra`, `wall_time`, ...).

    Raises:
        CheckpointError: the checkpoint is missing or its checksum does not match.

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators.checkpoints import save_checkpoint
        >>> d = tempfile.TemporaryDirectory()
        >>> _ = save_checkpoint(d.name, 3, {"params": {"w": np.arange(3.0)}})
        >>> arrays, manifest = read_checkpoint(d.name)
        >>> arrays["params/w"], manifest["global_step"]
        (array([0., 1., 2.]), 3)
        >>> d.cleanup()
    """
    path = _resolve(path)
    manifest = load_manifest(path)
    data = _read_verified(path, manifest)
    try:
        return _decode(path, data, manifest), manifest
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint '{path}' is corrupt: {e!r}") from None


def restore_checkpoint(
    path: str | os.PathLike[str], template: Any, *, strict: bool = True
) -> tuple[Any, dict[str, Any]]:
    """Rebuilds a checkpointed tree in the structure of `template`.

    Args:
        path: A `ckpt-<step>` directory, or a `model_dir` (meaning its latest).
        template: A pytree of arrays or `jax.ShapeDtypeStruct`s with the
            expected structure. Leaves are matched by path; a dtype of the same
            kind (float64 -> float32) is cast to the template's.
        strict: Refuse checkpoint leaves that the template lacks (True), or
            restore only the template's part of the checkpoint (False).

    Returns:
        `(tree, extra)`: the tree of numpy arrays (typed PRNG keys come back as
        jax key arrays) and the `extra` dict given to `save_checkpoint`.

    Raises:
        CheckpointError: the checkpoint is corrupt, or a leaf is missing, extra
            or has another shape; the message names the leaf path.

    Example:
        >>> import tempfile, numpy as np, jax
        >>> from estimators.checkpoints import save_checkpoint
        >>> d = tempfile.TemporaryDirectory()
        >>> p = save_checkpoint(d.name, 1, {"w": np.ones(2)}, extra={"epoch": 4})
        >>> template = {"w": jax.ShapeDtypeStruct((2,), np.float32)}
        >>> restore_checkpoint(p, template)
        ({'w': array([1., 1.], dtype=float32)}, {'epoch': 4})
        >>> restore_checkpoint(p, {"w": np.ones(3)})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        estimators.checkpoints.CheckpointError: checkpoint '...ckpt-1' does not match the template: leaf 'w' has shape (2,) in checkpoint but (3,) in template
        >>> d.cleanup()
    """
    path = _resolve(path)
    arrays, manifest = read_checkpoint(path)
    meta = {leaf["path"]: leaf for leaf in manifest["leaves"]}
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [path_name(p) for p, _ in flat]
    problems, values = [], []
    for name, (_, want) in zip(names, flat, strict=True):
        if name not in arrays:
            problems.append(f"leaf {name!r} is missing in checkpoint")
            continue
        value = _match_leaf(name, arrays[name], meta[name], want, problems)
        values.append(value)
    if strict:
        problems += [
            f"leaf {n!r} is in the checkpoint but not in template"
            for n in arrays
            if n not in set(names)
        ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(
            f"checkpoint '{path}' does not match the template: {problems[0]}{more}"
        )
    return jax.tree_util.tree_unflatten(treedef, values), manifest["extra"]


def _match_leaf(
    name: str, arr: np.ndarray, meta: dict[str, Any], want: Any, problems: list
) -> Any:
    shape = tuple(getattr(want, "shape", np.shape(want)))
    dtype = getattr(want, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if "key_impl" not in meta or tuple(meta["key_shape"]) != shape:
            got = tuple(meta.get("key_shape", arr.shape))
            problems.append(
                f"leaf {name!r} is {'a PRNG key' if 'key_impl' in meta else 'an array'}"
                f" of shape {got} in checkpoint but a PRNG key of shape {shape} "
                "in template"
            )
            return None
        return jax.random.wrap_key_data(arr, impl=meta["key_impl"])
    if arr.shape != shape:
        problems.append(
            f"leaf {name!r} has shape {arr.shape} in checkpoint but {shape} in template"
        )
        return None
    if dtype is not None and arr.dtype != dtype:
        if _kind(arr.dtype) != _kind(np.dtype(dtype)):
            problems.append(
                f"leaf {name!r} has dtype {arr.dtype} in checkpoint but "
                f"{np.dtype(dtype)} in template"
            )
            return None
        arr = arr.astype(dtype)
    return arr


def _kind(dtype: np.dtype) -> str:
    for kind in (np.bool_, jnp.integer, jnp.floating, jnp.complexfloating):
        if jnp.issubdtype(dtype, kind):
            return kind.__name__
    return dtype.name


def restore_subtree(path: str | os.PathLike[str], template: Any) -> Any:
    """Restores only the part of a checkpoint that `template` describes.

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators.checkpoints import save_checkpoint
        >>> d = tempfile.TemporaryDirectory()
        >>> p = save_checkpoint(d.name, 1, {"w": np.ones(2), "opt": np.zeros(2)})
        >>> restore_subtree(p, {"w": np.zeros(2)})
        {'w': array([1., 1.])}
        >>> d.cleanup()
    """
    return restore_checkpoint(path, template, strict=False)[0]


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a checkpoint (no array is read).

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators.checkpoints import save_checkpoint
        >>> d = tempfile.TemporaryDirectory()
        >>> p = save_checkpoint(d.name, 2, {"w": np.ones(1)}, extra={"a": 1})
        >>> read_manifest(p)["extra"]
        {'a': 1}
        >>> d.cleanup()
    """
    return load_manifest(_resolve(path))


def checkpoint_stamp(path: str | os.PathLike[str]) -> tuple[int, int]:
    """A cheap identity of a checkpoint's contents: (manifest mtime_ns, size).

    Callers cache what they loaded from a checkpoint under this stamp and reload
    only when it changes.
    """
    st = os.stat(os.path.join(os.fspath(path), MANIFEST))
    return st.st_mtime_ns, st.st_size


def verify_checkpoint(path: str | os.PathLike[str]) -> None:
    """Raises `CheckpointError` unless the checkpoint's manifest reads and its
    arrays match the manifest's sha256."""
    path = os.fspath(path)
    _read_verified(path, load_manifest(path))


def newest_usable_checkpoint(
    model_dir: str | os.PathLike[str], verified: dict[Any, bool] | None = None
) -> str | None:
    """The newest checkpoint of `model_dir` that verifies, or None.

    A damaged newer checkpoint (bad checksum, missing manifest or arrays) is
    skipped with a warning naming it and the checkpoint used instead, never
    silently. `verified` caches verdicts by (path, stamp) between calls.
    """
    model_dir = os.fspath(model_dir)
    newest = latest_checkpoint(model_dir)
    candidates = [newest] if newest else []
    candidates += [p for p in reversed(all_checkpoints(model_dir)) if p != newest]
    damaged = []
    for path in candidates:
        try:
            key = (path, checkpoint_stamp(path))
        except OSError:
            damaged.append(f"{path} (missing)")
            continue
        ok = verified.get(key) if verified is not None else None
        if ok is None:
            try:
                verify_checkpoint(path)
                ok = True
            except CheckpointError as e:
                ok = False
                damaged.append(str(e))
            if verified is not None:
                verified[key] = ok
        if ok:
            if damaged:
                logger.warning(
                    "Skipping damaged checkpoint(s): %s; using %s instead.",
                    "; ".join(damaged),
                    path,
                )
            return path
    if damaged:
        logger.warning("No usable checkpoint in %s: %s", model_dir, "; ".join(damaged))
    return None
