"""Tests for estimators.checkpoints: round trips, atomicity, pruning, recovery."""

from __future__ import annotations

import json
import logging
import os
import tempfile

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import estimators as est
from estimators.checkpoints import (
    CheckpointError,
    all_checkpoints,
    checkpoint_step,
    latest_checkpoint,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from estimators.checkpoints import index as ckpt_index
from estimators.checkpoints import writer as ckpt_writer


def _names(paths: list[str]) -> list[str]:
    return [os.path.basename(p) for p in paths]


def _train_state() -> dict:
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    opt_state = optax.chain(optax.clip(1.0), optax.adam(1e-3)).init(params)
    return {
        "params": params,
        "opt_state": opt_state,
        "step": jnp.asarray(7, jnp.int32),
        "ema": [np.float64(0.5), (np.arange(4, dtype=np.int8), None)],
        "bf16": jnp.full((2, 2), 1.5, jnp.bfloat16),
        "empty": np.zeros((0, 3), np.float32),
        "nibbles": np.array([1, -2, 7], ml_dtypes.int4),
        "wide": np.array([1 + 2j], np.complex128),
        "flag": True,
    }


def _template(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), tree)


def _assert_trees_equal(got, want) -> None:
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def test_round_trip_of_nested_tree_with_optax_adam_state(tmp_path):
    state = _train_state()
    state["flag"] = np.asarray(True)  # a Python bool leaf comes back as an array
    extra = {"rng": np.array([0, 42], np.uint32), "input": {"epoch": 2, "offset": 96}}
    path = save_checkpoint(tmp_path, 7, state, extra=extra)

    restored, got_extra = restore_checkpoint(path, _template(state))

    _assert_trees_equal(restored, state)
    assert isinstance(restored["opt_state"][1][0], optax.ScaleByAdamState)
    assert got_extra == {"rng": [0, 42], "input": {"epoch": 2, "offset": 96}}
    assert checkpoint_step(path) == 7


def test_restore_accepts_arrays_as_template_and_casts_within_a_kind(tmp_path):
    save_checkpoint(tmp_path, 1, {"w": np.arange(3.0), "n": 5})
    template = {"w": jnp.zeros(3, jnp.float32), "n": jnp.zeros((), jnp.int32)}

    restored, extra = restore_checkpoint(tmp_path, template)  # model_dir: latest

    assert restored["w"].dtype == np.float32 and restored["n"].dtype == np.int32
    np.testing.assert_array_equal(restored["w"], [0.0, 1.0, 2.0])
    assert int(restored["n"]) == 5 and extra == {}


def test_typed_prng_keys_round_trip(tmp_path):
    key = jax.random.key(3)
    save_checkpoint(tmp_path, 1, {"key": key})

    restored, _ = restore_checkpoint(tmp_path, {"key": jax.random.key(0)})

    assert jax.dtypes.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(
        jax.random.key_data(restored["key"]), jax.random.key_data(key)
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            {"a": np.zeros((3, 4)), "b": np.zeros(2)},
            "leaf 'a' has shape (2, 3) in checkpoint but (3, 4) in template",
        ),
        (
            {"a": np.zeros((2, 3)), "b": np.zeros(2), "c": np.zeros(1)},
            "leaf 'c' is missing in checkpoint",
        ),
        ({"a": np.zeros((2, 3))}, "leaf 'b' is in the checkpoint but not in template"),
        (
            {"a": np.zeros((2, 3), np.int32), "b": np.zeros(2)},
            "leaf 'a' has dtype float64 in checkpoint but int32 in template",
        ),
        (
            {"a": np.zeros(1), "b": np.zeros(1), "c": np.zeros(1)},
            "leaf 'a' has shape (2, 3) in checkpoint but (1,) in template (and 2 more)",
        ),
    ],
)
def test_template_mismatch_names_leaf_and_both_shapes(tmp_path, template, message):
    path = save_checkpoint(tmp_path, 5, {"a": np.zeros((2, 3)), "b": np.zeros(2)})

    with pytest.raises(CheckpointError) as info:
        restore_checkpoint(path, template)

    text = str(info.value)
    assert text == f"checkpoint '{path}' does not match the template: {message}"
    assert "\n" not in text


def test_flipped_byte_is_reported_as_checksum_mismatch(tmp_path):
    path = save_checkpoint(tmp_path, 1, {"w": np.ones(100, np.float32)})
    arrays_file = os.path.join(path, "state.safetensors")
    with open(arrays_file, "r+b") as f:
        f.seek(-5, os.SEEK_END)
        byte = f.read(1)[0]
        f.seek(-5, os.SEEK_END)
        f.write(bytes([byte ^ 0xFF]))

    for read in (read_checkpoint, lambda p: restore_checkpoint(p, {"w": 0})):
        with pytest.raises(CheckpointError, match="is corrupt: checksum mismatch"):
            read(path)


def test_unreadable_manifest_and_missing_arrays_are_reported(tmp_path):
    path = save_checkpoint(tmp_path, 1, {"w": np.ones(2)})
    os.remove(os.path.join(path, "state.safetensors"))
    with pytest.raises(CheckpointError, match="corrupt: cannot read arrays"):
        read_checkpoint(path)

    with open(os.path.join(path, "manifest.json"), "w") as f:
        f.write('{"format": ')
    with pytest.raises(CheckpointError, match="corrupt: unreadable manifest.json"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint found at"):
        read_checkpoint(tmp_path / "nowhere")


def test_leftover_tmp_dirs_and_partial_checkpoints_are_ignored_then_cleaned(tmp_path):
    save_checkpoint(tmp_path, 100, {"w": np.ones(2)})
    partial = tmp_path / ".tmp-ckpt-200-dead"  # a run killed mid-write
    partial.mkdir()
    (partial / "state.safetensors").write_bytes(b"\x10\x00")
    (tmp_path / "ckpt-300").mkdir()  # a copy that never got its manifest

    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-100"]
    os.remove(tmp_path / "checkpoint.json")
    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-100"]

    save_checkpoint(tmp_path, 150, {"w": np.ones(2)})
    assert not partial.exists()
    assert sorted(p.name for p in tmp_path.glob(".tmp-*")) == []


def test_crash_while_renaming_leaves_previous_checkpoint_and_latest(
    tmp_path, monkeypatch
):
    save_checkpoint(tmp_path, 100, {"w": np.ones(2)})
    index_before = (tmp_path / "checkpoint.json").read_text()

    def crash(src, dst):
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        save_checkpoint(tmp_path, 200, {"w": np.zeros(2)})
    monkeypatch.undo()

    assert (tmp_path / "checkpoint.json").read_text() == index_before
    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-100"]
    restored, _ = restore_checkpoint(latest_checkpoint(tmp_path), {"w": np.ones(2)})
    np.testing.assert_array_equal(restored["w"], [1.0, 1.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "ckpt-100"]


def test_crash_before_index_write_keeps_latest_then_adopts_orphan(
    tmp_path, monkeypatch
):
    save_checkpoint(tmp_path, 100, {"w": np.ones(2)})

    def crash(path, obj):
        raise OSError("killed")

    monkeypatch.setattr(ckpt_index, "write_json", crash)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 200, {"w": np.zeros(2)})
    monkeypatch.undo()

    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-100"]
    save_checkpoint(tmp_path, 300, {"w": np.zeros(2)})
    assert _names(all_checkpoints(tmp_path)) == ["ckpt-100", "ckpt-200", "ckpt-300"]


def test_resaving_a_step_replaces_it_and_survives_a_crash(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 5, {"w": np.ones(2)})
    real_replace, calls = os.replace, []

    def crash_on_second_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second_rename)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 5, {"w": np.zeros(2)})
    monkeypatch.undo()
    np.testing.assert_array_equal(read_checkpoint(tmp_path)[0]["w"], [1.0, 1.0])

    save_checkpoint(tmp_path, 5, {"w": np.zeros(2)})
    np.testing.assert_array_equal(read_checkpoint(tmp_path)[0]["w"], [0.0, 0.0])
    assert _names(all_checkpoints(tmp_path)) == ["ckpt-5"]


def test_prunes_beyond_keep_checkpoint_max(tmp_path):
    for step in range(1, 7):
        save_checkpoint(tmp_path, step, {"w": np.ones(1)}, keep_checkpoint_max=3)

    assert _names(all_checkpoints(tmp_path)) == ["ckpt-4", "ckpt-5", "ckpt-6"]
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == [
        "ckpt-4",
        "ckpt-5",
        "ckpt-6",
    ]
    index = json.loads((tmp_path / "checkpoint.json").read_text())
    assert index["latest"] == "ckpt-6"
    assert [e["step"] for e in index["all"]] == [4, 5, 6]
    assert all(isinstance(e["wall_time"], float) for e in index["all"])


@pytest.mark.parametrize("keep", [0, None])
def test_keep_checkpoint_max_zero_or_none_keeps_all(tmp_path, keep):
    for step in range(1, 8):
        save_checkpoint(tmp_path, step, {"w": np.ones(1)}, keep_checkpoint_max=keep)

    assert len(all_checkpoints(tmp_path)) == 7


def test_keeps_one_checkpoint_every_n_hours(tmp_path, monkeypatch):
    hours = iter([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    monkeypatch.setattr(ckpt_writer, "_now", lambda: next(hours) * 3600)
    for step in range(7):  # one checkpoint per hour, first at hour 0
        save_checkpoint(
            tmp_path,
            step,
            {"w": np.ones(1)},
            keep_checkpoint_max=2,
            keep_checkpoint_every_n_hours=2.0,
        )

    # Falling out of the window: hour 0 (0 h since start: drop), hour 1 (drop),
    # hour 2 (2 h since 0: keep), hour 3 (drop), hour 4 (2 h since 2: keep).
    assert _names(all_checkpoints(tmp_path)) == [
        "ckpt-2",
        "ckpt-4",
        "ckpt-5",
        "ckpt-6",
    ]


def test_latest_falls_back_to_scanning_when_index_is_missing_or_wrong(tmp_path):
    for step in (10, 30, 20):
        save_checkpoint(tmp_path, step, {"w": np.ones(1)})
    index = tmp_path / "checkpoint.json"
    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-20"]  # last saved

    index.write_text('{"latest": "ckpt-99", "all": []}')  # names a missing dir
    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-30"]
    index.write_text("{not json")
    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-30"]
    assert _names(all_checkpoints(tmp_path)) == ["ckpt-10", "ckpt-20", "ckpt-30"]
    index.unlink()
    assert _names([latest_checkpoint(tmp_path)]) == ["ckpt-30"]
    assert latest_checkpoint(tmp_path / "no-such-dir") is None


def test_readable_with_plain_json_and_safetensors_numpy(tmp_path):
    tree = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    tree["bf16"] = np.ones(2, ml_dtypes.bfloat16)
    save_checkpoint(tmp_path, 42, tree, extra={"epoch": 3})

    with open(tmp_path / "checkpoint.json") as f:
        latest = tmp_path / json.load(f)["latest"]
    with open(latest / "manifest.json") as f:
        manifest = json.load(f)
    arrays = safetensors.numpy.load_file(latest / "state.safetensors")

    assert manifest["global_step"] == 42 and manifest["extra"] == {"epoch": 3}
    assert [leaf["path"] for leaf in manifest["leaves"]] == ["bf16", "params/w"]
    np.testing.assert_array_equal(arrays["params/w"], tree["params"]["w"])
    assert arrays["bf16"].dtype == ml_dtypes.bfloat16


def test_read_checkpoint_without_template(tmp_path):
    save_checkpoint(tmp_path, 3, ({"w": np.ones(2)}, [np.int32(4)]))

    arrays, manifest = read_checkpoint(tmp_path)

    assert sorted(arrays) == ["0/w", "1/0"]
    assert arrays["1/0"].dtype == np.int32 and manifest["global_step"] == 3
    arrays["0/w"][0] = 9.0  # callers get writable arrays


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": -1}, ValueError, r"`step` must be a non-negative integer, got -1"),
        ({"step": 1.5}, ValueError, r"`step` must be a non-negative integer"),
        ({"keep_checkpoint_max": -2}, ValueError, r"`keep_checkpoint_max` must be"),
        ({"keep_checkpoint_every_n_hours": 0}, ValueError, r"must be > 0 or None"),
        ({"extra": {"f": object()}}, TypeError, r"`extra` must be JSON-serialisable"),
        ({"extra": [1]}, TypeError, r"`extra` must be a mapping"),
        ({"tree": {"s": "text"}}, TypeError, r"cannot checkpoint leaf 's'"),
        ({"tree": {"a/b": 1, "a": {"b": 2}}}, ValueError, r"share .* name 'a/b'"),
    ],
)
def test_bad_arguments_are_rejected_before_writing(tmp_path, kwargs, error, match):
    args = {"step": 1, "tree": {"w": np.ones(1)}} | kwargs
    with pytest.raises(error, match=match):
        save_checkpoint(tmp_path, args.pop("step"), args.pop("tree"), **args)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_step_rejects_other_names():
    assert checkpoint_step("runs/ckpt-12/") == 12
    with pytest.raises(ValueError, match="must name a 'ckpt-<step>' directory"):
        checkpoint_step("runs/model.ckpt-12")


_DTYPES = [np.float32, np.float16, np.int64, np.uint8, np.bool_, ml_dtypes.bfloat16]


@settings(max_examples=25, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=1, max_size=4),
    dtype_index=st.integers(0, len(_DTYPES) - 1),
)
def test_any_shapes_and_dtypes_round_trip(shapes, dtype_index):
    rng = np.random.default_rng(0)
    tree = {
        f"leaf{i}": (rng.standard_normal(shape) * 10).astype(_DTYPES[dtype_index])
        for i, shape in enumerate(shapes)
    }
    with tempfile.TemporaryDirectory() as model_dir:
        save_checkpoint(model_dir, 0, tree)
        restored, _ = restore_checkpoint(model_dir, _template(tree))
    _assert_trees_equal(restored, tree)


def _damage(path):
    arrays = os.path.join(path, "state.safetensors")
    with open(arrays, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))


def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_good_one(
    tmp_path, blobs, caplog
):
    from support import classifier_model_fn, fast_config

    x, y = blobs
    model = est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path),
        config=fast_config(save_checkpoints_steps=5),
        params={"n_classes": 3},
    )
    data = lambda: est.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(30)  # noqa: E731
    model.train(lambda: data().repeat(), steps=10)
    newest = est.checkpoints.latest_checkpoint(str(tmp_path))
    assert newest.endswith("ckpt-10")
    _damage(newest)
    with caplog.at_level(logging.WARNING, logger="estimators"):
        assert model.latest_checkpoint().endswith("ckpt-5")
        assert model.evaluate(data)["global_step"] == 5
        next(model.predict(lambda: {"x": x[:2]}))
    assert "ckpt-10" in caplog.text and "checksum mismatch" in caplog.text
    assert "using" in caplog.text and "ckpt-5" in caplog.text
    # Training resumes from the good one and writes past the damaged one.
    model.train(lambda: data().repeat(), steps=6)
    assert model.latest_checkpoint().endswith("ckpt-11")


def test_a_missing_manifest_is_reported_and_empty_folders_are_cleaned(tmp_path, caplog):
    for step in (1, 2):
        est.checkpoints.save_checkpoint(str(tmp_path), step, {"w": np.zeros(2)})
    os.remove(tmp_path / "ckpt-2" / "manifest.json")
    with caplog.at_level(logging.WARNING, logger="estimators"):
        assert est.checkpoints.latest_checkpoint(str(tmp_path)).endswith("ckpt-1")
    assert "ckpt-2" in caplog.text and "no manifest" in caplog.text
    os.makedirs(tmp_path / "ckpt-7")  # left by a kill while pruning
    est.checkpoints.save_checkpoint(str(tmp_path), 3, {"w": np.zeros(2)})
    assert not (tmp_path / "ckpt-7").exists() and not (tmp_path / "ckpt-2").exists()
