"""bench/census_data.py: the seeded census-like table the benchmarks and examples use."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from estimators.data import Dataset

_PATH = Path(__file__).resolve().parents[3] / "bench" / "census_data.py"


@pytest.fixture(scope="module")
def census():
    spec = importlib.util.spec_from_file_location("census_data", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_census_layout(census, tmp_path):
    folder = census.write_small_census(tmp_path)
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == 2
    assert [pq.ParquetFile(f).metadata.num_row_groups for f in files] == [
        2,
        2,
    ]  # 1000 / 500
    table = pq.read_table(folder)
    assert table.num_rows == 2000
    assert table.column_names == census.NUMERIC + list(census.CATEGORICAL) + [
        census.LABEL
    ]
    for name, size in census.CATEGORICAL.items():
        assert len(table.column(name).unique()) <= size
    workclass = table.column("workclass").to_numpy(zero_copy_only=False)
    _, counts = np.unique(workclass, return_counts=True)
    assert counts.max() > 4 * counts.min()  # zipf-like, not uniform
    assert 0.2 < table.column("label").to_numpy().mean() < 0.8


def test_generation_is_seeded(census):
    assert census.generate_table(50, seed=3).equals(census.generate_table(50, seed=3))
    assert not census.generate_table(50, seed=3).equals(
        census.generate_table(50, seed=4)
    )


def test_dataset_reads_it(census, tmp_path):
    folder = census.write_small_census(tmp_path)
    ds = Dataset.from_parquet(folder, label="label").batch(512)
    assert ds.cardinality() == 4  # ceil(2000 / 512)
    features, labels = next(iter(ds))
    assert len(features) == 15 and labels.shape == (512,)
    assert features["zipcode"].type == "string"
