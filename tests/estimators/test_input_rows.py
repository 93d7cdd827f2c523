"""A bad value is reported at its row in the input, not its row in the batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import fast_config

import estimators as est


def frame():
    """40 rows; x is missing at row 13 (row 5 of the 2nd batch of 8)."""
    x = np.arange(40.0)
    x[13] = np.nan
    return pd.DataFrame({"x": x, "y": np.arange(40.0)})


def train(tmp_path, input_fn):
    model = est.LinearRegressor(
        [est.feature_column.numeric_column("x")],
        model_dir=str(tmp_path / "model"),
        config=fast_config(),
    )
    model.train(input_fn)


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_missing_value_names_its_row_of_the_dataframe(tmp_path, shuffle):
    def input_fn():
        dataset = est.data.Dataset.from_pandas(frame(), label="y")
        if shuffle:
            dataset = dataset.shuffle(40, seed=7)
        return dataset.batch(8)

    with pytest.raises(
        ValueError,
        match=r"^feature 'x': missing value \(row 13 of the DataFrame: null or NaN\)",
    ):
        train(tmp_path, input_fn)


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_missing_value_names_its_file_and_row(tmp_path, shuffle):
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(table.slice(0, 10), folder / "a.parquet")
    pq.write_table(table.slice(10), folder / "b.parquet", row_group_size=2)

    def input_fn():
        dataset = est.data.Dataset.from_parquet(folder, label="y")
        if shuffle:
            dataset = dataset.shuffle(16, seed=7)
        return dataset.batch(8)

    # Data row 13 is row 3 of b.parquet (its first 10 rows are in a.parquet).
    with pytest.raises(ValueError, match=r"\(row 3 of 'b.parquet': null or NaN\)"):
        train(tmp_path, input_fn)


def test_a_generator_row_is_named_within_its_batch(tmp_path):
    data = frame()

    def rows():
        for x, y in zip(data["x"], data["y"], strict=True):
            yield {"x": x}, y

    def input_fn():
        return est.data.Dataset.from_generator(rows).batch(8)

    with pytest.raises(ValueError, match=r"\(row 5 of batch 1: null or NaN\)"):
        train(tmp_path, input_fn)


def test_a_row_of_plain_batches_is_named_within_its_batch(tmp_path):
    data = frame()

    def input_fn():  # an iterable of (features, labels) batches, not a Dataset
        for start in range(0, 40, 8):
            rows = data.iloc[start : start + 8]
            yield {"x": rows["x"].to_numpy()}, rows["y"].to_numpy()

    with pytest.raises(ValueError, match=r"\(row 5 of batch 1: null or NaN\)"):
        train(tmp_path, input_fn)
