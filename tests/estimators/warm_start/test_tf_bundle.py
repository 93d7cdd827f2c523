"""TensorFlow checkpoints read without TensorFlow: bundles written by TF 2.15 and
bundles written by hand from the format's spec."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import ml_dtypes
import numpy as np
import pytest
from tf_bundle_writer import write_state_file, write_tf_checkpoint

from estimators.warm_start._crc32c import crc32c
from estimators.warm_start._tf_bundle import (
    TFCheckpoint,
    TFCheckpointError,
    find_tf_checkpoint,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "tf215")


@pytest.mark.parametrize(
    "model", ["dnn", "linear", "dnn_linear_combined", "dnn_v1_partitioned"]
)
def test_reads_every_variable_as_tensorflow_read_it(model):
    model_dir = os.path.join(FIXTURES, model)
    with open(os.path.join(model_dir, "expected.json")) as f:
        expected = json.load(f)["variables"]
    bundle = TFCheckpoint(find_tf_checkpoint(model_dir))
    assert bundle.names() == sorted(expected)
    for name in bundle.names():
        if "error" in expected[name]:  # TensorFlow refused it: so do we
            assert bundle.unreadable(name) is not None, name
            continue
        value = bundle.read(name)
        assert value.dtype.name == expected[name]["dtype"], name
        assert list(value.shape) == expected[name]["shape"], name
        np.testing.assert_array_equal(value, np.asarray(expected[name]["value"]))


def test_hand_written_bundle_round_trips_over_many_blocks(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        f"dnn/hiddenlayer_{i}/{leaf}": rng.normal(size=(3, i + 1)).astype(np.float32)
        for i in range(20)
        for leaf in ("kernel", "bias")
    }
    tensors["global_step"] = np.asarray(7, np.int64)
    tensors["flags"] = np.array([True, False])
    tensors["half"] = np.array([1.5, -2.0], np.float16)
    tensors["brain"] = np.array([0.5, -3.0], ml_dtypes.bfloat16)
    prefix = write_tf_checkpoint(tmp_path / "model.ckpt-7", tensors, block_entries=3)
    bundle = TFCheckpoint(prefix)
    assert bundle.names() == sorted(tensors)
    for name, value in tensors.items():
        read = bundle.read(name)
        assert read.dtype == value.dtype and bundle.shape(name) == value.shape
        np.testing.assert_array_equal(read, value)


def test_model_dir_savedmodel_and_prefix_are_found(tmp_path):
    tensors = {"w": np.ones(2, np.float32)}
    write_tf_checkpoint(tmp_path / "run" / "model.ckpt-5", tensors)
    write_tf_checkpoint(tmp_path / "run" / "model.ckpt-10", tensors)
    run = str(tmp_path / "run")
    # without a `checkpoint` file: the highest step
    assert find_tf_checkpoint(run) == os.path.join(run, "model.ckpt-10")
    write_state_file(run, "model.ckpt-5")
    assert find_tf_checkpoint(run) == os.path.join(run, "model.ckpt-5")
    assert find_tf_checkpoint(os.path.join(run, "model.ckpt-10")).endswith("-10")
    for suffix in (".index", ".data-00000-of-00001"):
        found = find_tf_checkpoint(os.path.join(run, "model.ckpt-10" + suffix))
        assert found == os.path.join(run, "model.ckpt-10")
    write_tf_checkpoint(tmp_path / "export" / "variables" / "variables", tensors)
    assert find_tf_checkpoint(str(tmp_path / "export")).endswith("variables/variables")
    assert find_tf_checkpoint(str(tmp_path / "nothing")) is None


def test_a_moved_model_dir_still_resolves(tmp_path):
    # tf writes absolute paths in `checkpoint`; a copied model_dir keeps working
    write_tf_checkpoint(tmp_path / "a" / "model.ckpt-3", {"w": np.ones(1)})
    write_state_file(tmp_path / "a", str(tmp_path / "gone" / "model.ckpt-3"))
    shutil.move(tmp_path / "a", tmp_path / "b")
    found = find_tf_checkpoint(str(tmp_path / "b"))
    assert found == os.path.join(tmp_path / "b", "model.ckpt-3")


def test_corruption_is_detected_and_named(tmp_path):
    prefix = write_tf_checkpoint(tmp_path / "m", {"w": np.arange(4, dtype=np.float32)})
    data = pathlib.Path(prefix + ".data-00000-of-00001")
    raw = bytearray(data.read_bytes())
    raw[0] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(TFCheckpointError, match="checksum of 'w' differs"):
        TFCheckpoint(prefix).read("w")
    index_path = pathlib.Path(prefix + ".index")
    index = bytearray(index_path.read_bytes())
    index[3] ^= 1
    index_path.write_bytes(bytes(index))
    with pytest.raises(TFCheckpointError, match="block's checksum differs"):
        TFCheckpoint(prefix)
    index_path.write_bytes(b"not a table" * 8)
    with pytest.raises(TFCheckpointError, match="not a TensorFlow table"):
        TFCheckpoint(prefix)


def test_partitioned_variables_are_put_together(tmp_path):
    table = np.arange(14, dtype=np.float32).reshape(7, 2)
    prefix = write_tf_checkpoint(
        tmp_path / "m", {"emb": table, "w": np.ones(2)}, partitions={"emb": 3}
    )
    bundle = TFCheckpoint(prefix)
    assert bundle.names() == ["emb", "w"] and bundle.shape("emb") == (7, 2)
    np.testing.assert_array_equal(bundle.read("emb"), table)
    prefix = write_tf_checkpoint(
        tmp_path / "n", {"emb": table}, partitions={"emb": 3}, drop_slices=(1,)
    )
    assert "missing its slice [(2, 2), (0, 2)]" in TFCheckpoint(prefix).unreadable(
        "emb"
    )


def test_strings_are_refused_by_name(tmp_path):
    prefix = write_tf_checkpoint(
        tmp_path / "m", {"vocab": np.zeros(2, np.uint8)}, strings=("vocab",)
    )
    bundle = TFCheckpoint(prefix)
    assert "string tensor" in bundle.unreadable("vocab")
    with pytest.raises(TFCheckpointError, match="'vocab' is a string tensor"):
        bundle.read("vocab")


def test_crc32c_of_large_buffers_equals_the_bytewise_definition():
    from estimators.warm_start._crc32c import _update

    rng = np.random.default_rng(1)
    for size in (0, 1, 4095, 4096, 70_001, 1_000_003):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert crc32c(data) == _update(0xFFFFFFFF, data) ^ 0xFFFFFFFF, size


def test_list_and_load_variables_of_a_tf_model_dir():
    from estimators.warm_start import list_variables, load_variable

    model_dir = os.path.join(FIXTURES, "dnn_v1_partitioned")
    listed = dict(list_variables(model_dir))
    name = (
        "dnn/input_from_feature_columns/input_layer/color_embedding/embedding_weights"
    )
    assert listed[name] == (4, 2) and listed["dnn/logits/kernel"] == (3, 3)
    with open(os.path.join(model_dir, "expected.json")) as f:
        expected = json.load(f)["variables"][name]["value"]
    np.testing.assert_array_equal(load_variable(model_dir, name), expected)
    with pytest.raises(ValueError, match="'dnn/nope' is not in"):
        load_variable(model_dir, "dnn/nope")
    with pytest.raises(ValueError, match="slices do not cover it"):
        load_variable(model_dir, f"{name}/t_0/Adagrad")
