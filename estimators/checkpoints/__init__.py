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

from estimators.checkpoints.index import all_checkpoints, latest_checkpoint
from estimators.checkpoints.layout import (
    CheckpointError,
    checkpoint_step,
    path_name,
)
from estimators.checkpoints.reader import (
    checkpoint_stamp,
    newest_usable_checkpoint,
    read_checkpoint,
    read_manifest,
    restore_checkpoint,
    restore_subtree,
    verify_checkpoint,
)
from estimators.checkpoints.writer import save_checkpoint

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
    "newest_usable_checkpoint",
    "restore_subtree",
    "save_checkpoint",
    "verify_checkpoint",
]
