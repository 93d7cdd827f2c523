"""numpy_input_fn and pandas_input_fn with tf.estimator's semantics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from estimators.data import Dataset, inputs


def test_numpy_input_fn_batches_in_order_without_shuffle():
    input_fn = inputs.numpy_input_fn(
        {"a": np.arange(10.0)}, np.arange(10) * 2, batch_size=4, shuffle=False
    )
    dataset = input_fn()
    assert isinstance(dataset, Dataset)
    batches = list(dataset)
    assert [f["a"].tolist() for f, _ in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [y.tolist() for _, y in batches][0] == [0, 2, 4, 6]


def test_numpy_input_fn_epochs_and_shuffle():
    x = {"a": np.arange(10)}
    two = list(inputs.numpy_input_fn(x, batch_size=3, num_epochs=2, shuffle=True)())
    rows = np.concatenate([b["a"] for b in two])
    assert len(two) == 7  # ceil(2 * 10 / 3), the last batch partial
    assert sorted(rows[:10]) == list(range(10)) and sorted(rows[10:]) == list(range(10))
    assert rows.tolist() != list(range(10)) * 2
    assert inputs.numpy_input_fn(x, num_epochs=None, shuffle=True)().cardinality() == -1


def test_numpy_input_fn_array_x_is_the_features_themselves():
    ((features, labels),) = list(
        inputs.numpy_input_fn(np.ones((3, 2)), np.zeros(3), shuffle=False)()
    )
    assert features.shape == (3, 2) and labels.shape == (3,)


def test_numpy_input_fn_without_y_gives_features_only():
    (features,) = list(inputs.numpy_input_fn({"a": np.arange(3)}, shuffle=False)())
    assert features["a"].tolist() == [0, 1, 2]


def test_numpy_input_fn_y_dict():
    ((_, labels),) = list(
        inputs.numpy_input_fn(
            {"a": np.arange(2)}, {"y1": np.arange(2), "y2": np.ones(2)}, shuffle=False
        )()
    )
    assert sorted(labels) == ["y1", "y2"]


def test_shuffle_must_be_given():
    with pytest.raises(
        ValueError, match="shuffle must be provided and explicitly set as boolean"
    ):
        inputs.numpy_input_fn({"a": np.arange(3)})
    with pytest.raises(ValueError, match="shuffle must be provided"):
        inputs.pandas_input_fn(pd.DataFrame({"a": [1]}), shuffle=1)


def test_length_mismatch_names_the_key():
    with pytest.raises(ValueError, match=r"x\['b'\] has 2 rows but x\['a'\] has 3"):
        inputs.numpy_input_fn({"a": np.arange(3), "b": np.arange(2)}, shuffle=False)
    with pytest.raises(ValueError, match=r"y has 4 rows but x\['a'\] has 3"):
        inputs.numpy_input_fn({"a": np.arange(3)}, np.arange(4), shuffle=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, r"`batch_size` must be a positive int, got 0"),
        ({"num_epochs": 0}, r"`num_epochs` must be a positive int or None, got 0"),
        ({"queue_capacity": -1}, r"`queue_capacity` must be a positive int"),
    ],
)
def test_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        inputs.numpy_input_fn({"a": np.arange(3)}, shuffle=False, **kwargs)


def test_empty_x_dict():
    with pytest.raises(ValueError, match="x cannot be an empty dict"):
        inputs.numpy_input_fn({}, shuffle=False)


def test_pandas_input_fn_features_labels_and_strings():
    x = pd.DataFrame({"age": [30, 40, 50], "city": ["a", None, "c"]}, index=[5, 6, 7])
    y = pd.Series([1, 0, 1], index=[5, 6, 7])
    ((features, labels),) = list(inputs.pandas_input_fn(x, y, shuffle=False)())
    assert features["age"].tolist() == [30, 40, 50]
    assert isinstance(features["city"], pa.Array) and features["city"].to_pylist() == [
        "a",
        None,
        "c",
    ]
    assert labels.tolist() == [1, 0, 1]


def test_pandas_input_fn_dataframe_y_gives_label_dict():
    x = pd.DataFrame({"a": [1, 2]})
    y = pd.DataFrame({"t1": [0, 1], "t2": [1.0, 2.0]})
    ((_, labels),) = list(inputs.pandas_input_fn(x, y, shuffle=False)())
    assert labels["t1"].tolist() == [0, 1] and labels["t2"].tolist() == [1.0, 2.0]


def test_pandas_input_fn_checks_index_and_target_column():
    x = pd.DataFrame({"a": [1, 2], "target": [0, 0]})
    with pytest.raises(ValueError, match="Cannot use name 'target' for target column"):
        inputs.pandas_input_fn(x, pd.Series([1, 2]), shuffle=False)
    with pytest.raises(ValueError, match="Index for x and y are mismatched"):
        inputs.pandas_input_fn(x[["a"]], pd.Series([1, 2], index=[3, 4]), shuffle=False)


def test_pandas_input_fn_queue_capacity_none_and_epochs():
    x = pd.DataFrame({"a": np.arange(5)})
    input_fn = inputs.pandas_input_fn(
        x, batch_size=5, num_epochs=3, shuffle=True, queue_capacity=None
    )
    batches = [b["a"] for b in input_fn()]
    assert len(batches) == 3 and all(sorted(b) == list(range(5)) for b in batches)
