"""Atomic, checksummed checkpoints that need no pickle and no estimators to read.

Layout of a `model_dir`::

    model_dir/
      checkpoint.json              {"latest": "ckpt-200", "all": [{"name": ...,
                                    "step": ..., "wall_time": ...}, ...]}
      ckpt-200/state.safetensors   every array leaf, keyed by its tree path
      ckpt-200/manifest.json       format version, global_step, sha256 of the
                                   arrays file, leaf paths with shapes and dtypes,
                                   the caller's `extra` JSON and the time

A leaf's path joins its dict keys, attribute names and sequence indices with
"/" (`opt_state/0/mu/params/w`). Each checkpoint is written into a `.tmp-*`
directory, fsynced and renamed into place; `checkpoint.json` is replaced the
same way. Readers verify the sha256 before trusting a byte. Reading needs only
the standard library and `safetensors.numpy`::

    manifest = json.load(open("ckpt-200/manifest.json"))
    arrays = safetensors.numpy.load_file("ckpt-200/state.safetensors")

Leaves whose dtype safetensors cannot store (int4, complex128, ...) are stored
as their raw bytes (`"stored_as": "uint8"` in the manifest); typed PRNG keys are
stored as their key data (`"key_impl"` in the manifest).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import operator
import os
import re
import secrets
import shutil
import time
from collections.abc import Container, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy

__all__ = [
    "CheckpointError",
    "all_checkpoints",
    "checkpoint_stamp",
    "checkpoint_step",
    "latest_checkpoint",
    "path_name",
    "read_checkpoint",
    "read_manifest",
    "restore_checkpoint",
    "restore_subtree",
    "save_checkpoint",
]

FORMAT = "estimators.checkpoint"
FORMAT_VERSION = 1
_INDEX = "checkpoint.json"
_ARRAYS = "state.safetensors"
_MANIFEST = "manifest.json"
_TMP_PREFIX = ".tmp-"
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


def _now() -> float:
    return time.time()


# ---------------------------------------------------------------- saving


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
        >>> d = tempfile.TemporaryDirectory()
        >>> path = save_checkpoint(d.name, 100, {"w": np.ones(2)}, extra={"seed": 1})
        >>> os.path.basename(path), checkpoint_step(path)
        ('ckpt-100', 100)
        >>> d.cleanup()
    """
    step = _check_step(step)
    _check_keep(keep_checkpoint_max, keep_checkpoint_every_n_hours)
    arrays, leaves = _flatten(tree)
    extra_json = _encode_extra(extra)
    model_dir = os.fspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    _remove_leftovers(model_dir)
    name = f"ckpt-{step}"
    wall_time = _now()
    tmp = os.path.join(model_dir, f"{_TMP_PREFIX}{name}-{secrets.token_hex(4)}")
    os.mkdir(tmp)
    try:
        manifest = _manifest(step, wall_time, leaves, extra_json)
        _write_checkpoint_dir(tmp, step, arrays, manifest)
        _install(tmp, os.path.join(model_dir, name))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _update_index(
        model_dir,
        {"name": name, "step": step, "wall_time": wall_time, "preserved": False},
        keep_checkpoint_max,
        keep_checkpoint_every_n_hours,
    )
    return os.path.join(model_dir, name)


def _manifest(
    step: int, wall_time: float, leaves: list[dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    utc = datetime.datetime.fromtimestamp(wall_time, datetime.UTC)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "global_step": step,
        "wall_time": wall_time,
        "time_utc": utc.isoformat(),
        "arrays_file": _ARRAYS,
        "sha256": None,  # filled in once the arrays are on disk
        "leaves": leaves,
        "extra": extra,
    }


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


def _leaf_name(path: tuple[Any, ...]) -> str:
    return "/".join(_key_name(k) for k in path) if path else _ROOT_NAME


def _flatten(tree: Any) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    arrays: dict[str, np.ndarray] = {}
    leaves = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = _leaf_name(path)
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
    arrays_path = os.path.join(tmp, _ARRAYS)
    safetensors.numpy.save_file(
        arrays, arrays_path, metadata={"format": FORMAT, "global_step": str(step)}
    )
    with open(arrays_path, "rb") as f:
        os.fsync(f.fileno())
    manifest["sha256"] = _sha256_file(arrays_path)
    with open(os.path.join(tmp, _MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(tmp)


def _install(tmp: str, final: str) -> None:
    """Renames `tmp` to `final`, moving an existing `final` aside until done."""
    if not os.path.exists(final):
        os.replace(tmp, final)
    else:
        parent, name = os.path.split(final)
        old = os.path.join(parent, f"{_TMP_PREFIX}old-{name}-{secrets.token_hex(4)}")
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(os.path.dirname(final))


def _remove_leftovers(model_dir: str) -> None:
    for entry in os.scandir(model_dir):
        if entry.name.startswith(_TMP_PREFIX):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: str) -> None:
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


def _write_json_atomic(path: str, obj: Any) -> None:
    parent, name = os.path.split(path)
    tmp = os.path.join(parent, f"{_TMP_PREFIX}{name}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(parent)


# ---------------------------------------------------------------- the index


def _read_index(model_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(model_dir, _INDEX), encoding="utf-8") as f:
            index = json.load(f)
        entries = index["all"]
        ok = isinstance(index["latest"], str) and all(
            _CKPT_RE.match(e["name"]) and isinstance(e["wall_time"], int | float)
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
        if name in skip or not _CKPT_RE.match(name):
            continue
        try:
            manifest = _read_manifest(os.path.join(model_dir, name))
        except CheckpointError:
            continue
        wall_time = manifest.get("wall_time", 0.0)
        step = checkpoint_step(name)
        found.append(
            {"name": name, "step": step, "wall_time": wall_time, "preserved": False}
        )
    return sorted(found, key=lambda e: e["step"])


def _update_index(
    model_dir: str,
    new: dict[str, Any],
    keep_max: int | None,
    every_n_hours: float | None,
) -> None:
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
    _write_json_atomic(
        os.path.join(model_dir, _INDEX),
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
    if index is not None:
        path = os.path.join(model_dir, index["latest"])
        if os.path.isfile(os.path.join(path, _MANIFEST)):
            return path
    found = _scan(model_dir)
    return os.path.join(model_dir, found[-1]["name"]) if found else None


def all_checkpoints(model_dir: str | os.PathLike[str]) -> list[str]:
    """Returns the paths of the kept checkpoints in `model_dir`, oldest step first.

    Example:
        >>> import tempfile, numpy as np
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


# ---------------------------------------------------------------- reading


def _resolve(path: str | os.PathLike[str]) -> str:
    """Accepts a checkpoint directory, or a `model_dir` meaning its latest."""
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, _MANIFEST)):
        return path
    latest = latest_checkpoint(path) if os.path.isdir(path) else None
    if latest is None:
        raise CheckpointError(f"no checkpoint found at '{path}'")
    return latest


def _read_manifest(path: str) -> dict[str, Any]:
    try:
        with open(os.path.join(path, _MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint '{path}' has no {_MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt: unreadable {_MANIFEST} ({e})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint '{path}' is corrupt: not a {FORMAT}")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {manifest['format_version']}; "
            f"this version of estimators reads up to {FORMAT_VERSION}: upgrade it."
        )
    return manifest


def _read_verified(path: str, manifest: dict[str, Any]) -> bytearray:
    arrays_path = os.path.join(path, manifest.get("arrays_file", _ARRAYS))
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
                f"checkpoint '{path}' is corrupt: leaf {name!r} is not in {_ARRAYS}"
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
        >>> d = tempfile.TemporaryDirectory()
        >>> _ = save_checkpoint(d.name, 3, {"params": {"w": np.arange(3.0)}})
        >>> arrays, manifest = read_checkpoint(d.name)
        >>> arrays["params/w"], manifest["global_step"]
        (array([0., 1., 2.]), 3)
        >>> d.cleanup()
    """
    path = _resolve(path)
    manifest = _read_manifest(path)
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
    names = [_leaf_name(p) for p, _ in flat]
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
        >>> d = tempfile.TemporaryDirectory()
        >>> p = save_checkpoint(d.name, 2, {"w": np.ones(1)}, extra={"a": 1})
        >>> read_manifest(p)["extra"]
        {'a': 1}
        >>> d.cleanup()
    """
    return _read_manifest(_resolve(path))


def checkpoint_stamp(path: str | os.PathLike[str]) -> tuple[int, int]:
    """A cheap identity of a checkpoint's contents: (manifest mtime_ns, size).

    Callers cache what they loaded from a checkpoint under this stamp and reload
    only when it changes.
    """
    st = os.stat(os.path.join(os.fspath(path), _MANIFEST))
    return st.st_mtime_ns, st.st_size


def path_name(key_path: tuple[Any, ...]) -> str:
    """The checkpoint name of a leaf from `jax.tree_util.tree_flatten_with_path`.

    Example:
        >>> import jax
        >>> [path_name(p) for p, _ in
        ...  jax.tree_util.tree_flatten_with_path({"params": {"w": 1}})[0]]
        ['params/w']
    """
    return _leaf_name(key_path)
