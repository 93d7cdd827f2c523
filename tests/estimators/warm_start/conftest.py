"""Checkpoints to warm-start from, written as ours or as TensorFlow's."""

from __future__ import annotations

import numpy as np
import pytest
from tf_bundle_writer import write_tf_checkpoint

from estimators import checkpoints


def _nested(flat):
    tree = {}
    for name, value in flat.items():
        *scopes, leaf = name.split("/")
        node = tree
        for scope in scopes:
            node = node.setdefault(scope, {})
        node[leaf] = np.asarray(value, np.float32)
    return tree


def _tf_name(name):
    for collection in ("params/", "batch_stats/"):
        if name.startswith(collection):
            return name[len(collection) :]
    return name


@pytest.fixture(params=["ours", "tensorflow"])
def write_checkpoint(request, tmp_path):
    """`write_checkpoint({our name: value})` -> a path to warm-start from, as our
    checkpoint or as a TensorFlow bundle named as tf would (collection dropped)."""

    def write(flat, name="prev"):
        if request.param == "ours":
            tree = {"variables": _nested(flat)}
            return checkpoints.save_checkpoint(tmp_path / name, 0, tree)
        tensors = {_tf_name(k): np.asarray(v, np.float32) for k, v in flat.items()}
        return write_tf_checkpoint(tmp_path / name / "model.ckpt-0", tensors)

    write.kind = request.param
    return write


@pytest.fixture
def nested():
    """`nested({"params/a/b": x})` -> `{"params": {"a": {"b": x}}}` (float32)."""
    return _nested
