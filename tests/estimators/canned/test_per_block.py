"""Canned estimators apply their feature columns per block, with the same model."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import fast_config

import estimators as est
from estimators import feature_column as fc
from estimators.data import Dataset
from estimators.data.blocks import transform_blocks

COLORS = ["red", "green", "blue"]


@pytest.fixture
def parquet_folder(tmp_path):
    """48 rows in row groups of 20 (batches of 8 cross their ends)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=48).astype(np.float32)
    color = np.array(COLORS)[rng.integers(0, 3, 48)]
    tags = [list(rng.choice(COLORS, rng.integers(1, 4))) for _ in range(48)]
    tags[:20] = [[t[0]] for t in tags[:20]]  # the first group's lists are shorter
    y = ((x > 0) | (color == "red")).astype(np.int64)
    table = pa.table({"x": x, "color": color, "tags": tags, "y": y})
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet", row_group_size=20)
    return folder


def _train(model_dir, columns, input_fn):
    model = est.LinearClassifier(
        columns, model_dir=str(model_dir), config=fast_config(random_seed=1)
    )
    model.train(input_fn, steps=12)
    return model


def _same_variables(a, b):
    names = a.get_variable_names()
    assert names == b.get_variable_names()
    for name in names:
        np.testing.assert_allclose(
            a.get_variable_value(name), b.get_variable_value(name), rtol=1e-6
        )


@pytest.mark.parametrize("with_tags", [False, True])
def test_per_block_and_per_batch_transforms_train_the_same_model(
    tmp_path, parquet_folder, with_tags
):
    color = fc.categorical_column_with_vocabulary_list("color", COLORS)
    columns = [fc.numeric_column("x"), color]
    if with_tags:  # lists of varying length: per batch (ids of varying width)
        columns.append(fc.categorical_column_with_vocabulary_list("tags", COLORS))
    read = ["x", "color", "y"] + (["tags"] if with_tags else [])
    source = Dataset.from_parquet(parquet_folder, label="y", columns=read)

    def per_block():
        return source.repeat().batch(8)

    def per_batch():  # a map before batch: the Estimator transforms each batch
        return source.map(lambda f, y: (f, y)).repeat().batch(8)

    keys = fc.make_parse_example_spec(columns)
    identity = dict
    assert (transform_blocks(per_block(), identity, keys) is None) == with_tags
    assert transform_blocks(per_batch(), identity, keys) is None
    _same_variables(
        _train(tmp_path / "block", columns, per_block),
        _train(tmp_path / "batch", columns, per_batch),
    )


def _in_memory(seed):
    """40 shuffled in-memory rows (x, color -> y) and their columns."""
    rng = np.random.default_rng(seed)
    features = {
        "x": rng.normal(size=40).astype(np.float32),
        "color": np.array(COLORS)[rng.integers(0, 3, 40)],
    }
    y = (features["x"] > 0).astype(np.int32)
    columns = [
        fc.numeric_column("x"),
        fc.categorical_column_with_vocabulary_list("color", COLORS),
    ]
    data = Dataset.from_tensor_slices((features, y)).shuffle(40, seed=2)
    return data, columns


def test_in_memory_data_is_transformed_once_and_trains_the_same_model(tmp_path):
    data, columns = _in_memory(seed=0)
    blocks = _train(tmp_path / "a", columns, lambda: data.repeat().batch(8))
    batches = _train(
        tmp_path / "b", columns, lambda: data.map(lambda f, y: (f, y)).repeat().batch(8)
    )
    _same_variables(blocks, batches)
    # 40 rows are one block, transformed whole only for calls that read them all.
    keys = fc.make_parse_example_spec(columns)
    assert transform_blocks(data.repeat().batch(8), dict, keys, steps=5) is not None
    assert transform_blocks(data.repeat().batch(8), dict, keys, steps=4) is None
    # Evaluation takes the per-block path too, sliced evaluation the per-batch one.
    plain = blocks.evaluate(lambda: data.batch(8))
    sliced = blocks.evaluate(lambda: data.batch(8), slice_by="color")
    assert plain["loss"] == pytest.approx(sliced["loss"], rel=1e-6)


def test_a_position_saved_per_block_resumes_per_batch_and_back(tmp_path, caplog):
    # train(steps=7) reads all 40 rows (per block), train(steps=2) does not
    # (per batch): the second call resumes the first's position, as a model
    # trained per batch throughout does.
    data, columns = _in_memory(seed=1)

    def model(name):
        return est.LinearClassifier(
            columns, model_dir=str(tmp_path / name), config=fast_config(random_seed=1)
        )

    mixed, batches = model("mixed"), model("batches")
    per_batch = lambda: data.map(lambda f, y: (f, y)).repeat().batch(8)  # noqa: E731
    with caplog.at_level("WARNING", logger="estimators"):
        for steps in (7, 2, 7):
            mixed.train(lambda: data.repeat().batch(8), steps=steps)
            batches.train(per_batch, steps=steps)
    assert "not the saved position" not in caplog.text
    _same_variables(mixed, batches)
