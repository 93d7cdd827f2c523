"""Dataset constructors and transformations on in-memory data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from estimators.data import INFINITE_CARDINALITY, Dataset


def labels_of(dataset):
    return [labels.tolist() for _, labels in dataset]


def test_from_tensor_slices_tuple_of_features_and_labels():
    ds = Dataset.from_tensor_slices(({"x": np.arange(5.0)}, np.arange(5) * 10))
    batches = list(ds.batch(2))
    assert [f["x"].tolist() for f, _ in batches] == [[0, 1], [2, 3], [4]]
    assert [y.tolist() for _, y in batches] == [[0, 10], [20, 30], [40]]


def test_from_tensor_slices_array_and_multidimensional_rows():
    images = np.arange(24).reshape(6, 2, 2)
    (batch,) = list(Dataset.from_tensor_slices(images).batch(6))
    assert batch.shape == (6, 2, 2)
    np.testing.assert_array_equal(batch, images)


def test_from_tensor_slices_unbatched_yields_rows():
    rows = list(
        Dataset.from_tensor_slices({"a": np.arange(3), "s": pa.array(["x", None, "z"])})
    )
    assert [r["a"] for r in rows] == [0, 1, 2]
    assert [r["s"] for r in rows] == ["x", None, "z"]


def test_from_tensor_slices_dataframe_and_table_become_feature_dicts():
    frame = pd.DataFrame({"a": [1, 2], "s": ["u", "v"]})
    for source in (frame, pa.Table.from_pandas(frame)):
        (batch,) = list(Dataset.from_tensor_slices(source).batch(2))
        assert batch["a"].tolist() == [1, 2]
        assert isinstance(batch["s"], pa.Array) and batch["s"].to_pylist() == ["u", "v"]


def test_from_tensor_slices_length_mismatch_names_both():
    with pytest.raises(ValueError, match=r"'a': 3, 'b': 2"):
        Dataset.from_tensor_slices({"a": np.arange(3), "b": np.arange(2)})


def test_from_tensor_slices_scalar_is_rejected():
    with pytest.raises(ValueError, match="'x' is a scalar"):
        Dataset.from_tensor_slices({"x": np.float32(1.0)})


def test_batch_format_nulls():
    # Integer and boolean columns with nulls become float64 with NaN; float nulls
    # NaN; strings stay Arrow with their nulls.
    frame = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "f": [1.0, None, 3.0],
            "s": ["a", None, "c"],
            "cat": pd.Categorical(["u", "v", "u"]),
        }
    )
    (batch,) = list(Dataset.from_pandas(frame).batch(3))
    assert batch["i"].dtype == np.float64 and np.isnan(batch["i"][1])
    assert batch["b"].tolist()[::2] == [1.0, 0.0] and np.isnan(batch["b"][1])
    assert np.isnan(batch["f"][1])
    assert batch["s"].type == pa.string() and batch["s"].null_count == 1
    assert batch["cat"].type == pa.string() and batch["cat"].to_pylist() == [
        "u",
        "v",
        "u",
    ]


def test_from_pandas_with_label_and_columns():
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6], "y": [0, 1, 0]})
    ((features, labels),) = list(
        Dataset.from_pandas(frame, label="y", columns=["b"]).batch(3)
    )
    assert list(features) == ["b"] and labels.tolist() == [0, 1, 0]


def test_from_pandas_label_list_gives_label_dict():
    frame = pd.DataFrame({"a": [1, 2], "y1": [0, 1], "y2": [1.5, 2.5]})
    ((features, labels),) = list(
        Dataset.from_pandas(frame, label=["y1", "y2"]).batch(2)
    )
    assert list(features) == ["a"]
    assert labels["y1"].tolist() == [0, 1] and labels["y2"].tolist() == [1.5, 2.5]


def test_missing_label_column_lists_available():
    frame = pd.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(
        ValueError, match=r"label column 'y' not found .* available columns: a, b"
    ):
        Dataset.from_pandas(frame, label="y")


def test_missing_feature_column_lists_available(table):
    with pytest.raises(
        ValueError, match=r"column 'age' not found in the table; available"
    ):
        Dataset.from_arrow(table, columns=["age"])


def test_from_arrow_filter(table):
    ds = Dataset.from_arrow(table, label="label", filter=pc.field("id") < 10)
    assert ds.cardinality() == 10
    ((features, labels),) = list(ds.batch(100))
    assert features["id"].tolist() == list(range(10))
    # A list of (column, op, value) tuples works too, as in pyarrow.parquet.
    assert Dataset.from_arrow(table, filter=[("id", ">=", 995)]).cardinality() == 5


def test_filter_on_missing_column_names_it(table):
    with pytest.raises(ValueError, match=r"column 'nope' not found"):
        Dataset.from_arrow(table, filter=pc.field("nope") > 1)


def test_zero_rows_yield_nothing(table):
    ds = Dataset.from_arrow(table.slice(0, 0), label="label").shuffle(10).batch(4)
    assert list(ds) == [] and ds.cardinality() == 0
    assert list(Dataset.from_arrow(table.slice(0, 0)).repeat()) == []


def test_batch_drop_remainder_and_cardinality():
    ds = Dataset.from_tensor_slices(np.arange(10))
    assert ds.batch(4).cardinality() == 3  # ceil(10 / 4)
    assert ds.batch(4, drop_remainder=True).cardinality() == 2  # 10 // 4
    assert [b.tolist() for b in ds.batch(4, drop_remainder=True)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
    ]


def test_batches_span_blocks_and_epochs():
    ds = Dataset.from_tensor_slices(np.arange(5)).repeat(2).batch(4)
    assert [b.tolist() for b in ds] == [[0, 1, 2, 3], [4, 0, 1, 2], [3, 4]]
    assert ds.cardinality() == 3  # ceil(2 * 5 / 4)


def test_batch_twice_is_an_error():
    with pytest.raises(ValueError, match="already batched"):
        Dataset.from_tensor_slices(np.arange(4)).batch(2).batch(2)


def test_repeat_forever_and_take():
    ds = Dataset.from_tensor_slices(np.arange(3)).repeat()
    assert ds.cardinality() == INFINITE_CARDINALITY
    assert [b.tolist() for b in ds.take(7).batch(7)] == [[0, 1, 2, 0, 1, 2, 0]]
    assert ds.batch(2).take(2).cardinality() == 2


def test_take_after_batch_counts_batches():
    ds = Dataset.from_tensor_slices(np.arange(10)).batch(3).take(2)
    assert [b.tolist() for b in ds] == [[0, 1, 2], [3, 4, 5]]


def test_map_after_batch_gets_features_and_labels():
    ds = Dataset.from_tensor_slices(({"x": np.arange(4.0)}, np.arange(4))).batch(2)
    mapped = ds.map(lambda features, labels: ({"x2": features["x"] * 2}, labels + 1))
    assert [(f["x2"].tolist(), y.tolist()) for f, y in mapped] == [
        ([0.0, 2.0], [1, 2]),
        ([4.0, 6.0], [3, 4]),
    ]


def test_map_before_batch_works_on_blocks_of_rows():
    ds = Dataset.from_tensor_slices({"x": np.arange(5)}).map(
        lambda f: {"y": f["x"] + 100}
    )
    assert [b["y"].tolist() for b in ds.batch(3)] == [[100, 101, 102], [103, 104]]


def test_map_before_batch_with_unequal_lengths_is_an_error():
    ds = Dataset.from_tensor_slices({"x": np.arange(5)})
    bad = ds.map(lambda f: {"a": f["x"], "b": f["x"][:1]})
    with pytest.raises(ValueError, match="must return arrays of equal length"):
        list(bad.batch(2))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ds: ds.batch(0), r"`batch_size` must be >= 1, got 0"),
        (lambda ds: ds.batch(2.0), r"`batch_size` must be an int"),
        (lambda ds: ds.shuffle(0), r"`buffer_size` must be >= 1"),
        (lambda ds: ds.repeat(-2), r"`count` must be >= -1"),
        (lambda ds: ds.shard(2, 2), r"`index` must be < num_shards=2, got 2"),
        (lambda ds: ds.prefetch(0), r"`buffer_size` must be >= 1"),
    ],
)
def test_argument_errors_name_the_argument(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(Dataset.from_tensor_slices(np.arange(4)))


def test_repr_lists_the_steps():
    ds = Dataset.from_tensor_slices({"x": np.arange(4)}).shuffle(4, seed=1).batch(2)
    assert repr(ds) == (
        "Dataset(from_tensor_slices(4 rows: x).shuffle(4, seed=1, "
        "reshuffle_each_iteration=True).batch(2, drop_remainder=False))"
    )
