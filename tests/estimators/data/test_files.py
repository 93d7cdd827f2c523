"""Parquet and CSV sources over pyarrow.dataset: folders, partitions, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from estimators.data import UNKNOWN_CARDINALITY, Dataset


def all_rows(dataset, batch_size=97):
    features, labels = zip(*dataset.batch(batch_size), strict=True)
    return features, np.concatenate(labels)


def test_parquet_folder_reads_every_row_in_order(parquet_dir, table):
    ds = Dataset.from_parquet(parquet_dir, label="label")
    assert ds.cardinality() == 1000  # from the footers, nothing decoded
    features, labels = all_rows(ds)
    np.testing.assert_array_equal(
        np.concatenate([f["id"] for f in features]), np.arange(1000)
    )
    np.testing.assert_array_equal(labels, table.column("label").to_numpy())
    cities = pa.concat_arrays([f["city"] for f in features])
    assert cities.equals(table.column("city").combine_chunks())
    assert list(features[0]) == ["id", "x", "city"]


def test_parquet_columns_and_filter(parquet_dir):
    ds = Dataset.from_parquet(
        parquet_dir, columns=["x"], label="label", filter=pc.field("id") >= 990
    )
    assert ds.cardinality() == UNKNOWN_CARDINALITY  # a filter makes it unknown
    features, labels = all_rows(ds)
    assert list(features[0]) == ["x"] and len(labels) == 10


def test_parquet_batches_stream_one_row_group_at_a_time(parquet_dir):
    # batch_rows bounds what is decoded at once; blocks never exceed a row group.
    ds = Dataset.from_parquet(parquet_dir, batch_rows=50)
    sizes = [len(b["id"]) for b in ds.batch(1000)]
    assert sizes == [1000]
    source = ds._node
    assert (
        len(source.pieces) == 4 + 4 + 2
    )  # ceil(400 / 128) row groups twice, ceil(200 / 128)


def test_hive_partitions_become_columns_and_filters_prune(tmp_path, table):
    pads.write_dataset(
        table.append_column("year", pa.array(2020 + table.column("id").to_numpy() % 2)),
        tmp_path,
        format="parquet",
        partitioning=["year"],
        partitioning_flavor="hive",
    )
    ds = Dataset.from_parquet(tmp_path, label="label")
    features, _ = all_rows(ds)
    years = np.concatenate([f["year"] for f in features])
    assert sorted(set(years.tolist())) == [2020, 2021] and len(years) == 1000
    only = Dataset.from_parquet(
        tmp_path, label="label", filter=pc.field("year") == 2021
    )
    assert len(only._node.pieces) == 1  # the other partition's file is never opened
    features, labels = all_rows(only)
    assert len(labels) == 500


def test_integer_column_with_nulls_is_float_in_every_batch(tmp_path):
    # Nulls only in the second file: the footers' statistics make every batch
    # float64, so a model sees one dtype.
    pq.write_table(
        pa.table({"n": pa.array([1, 2, 3], pa.int64())}), tmp_path / "a.parquet"
    )
    pq.write_table(
        pa.table({"n": pa.array([4, None], pa.int64())}), tmp_path / "b.parquet"
    )
    batches = list(Dataset.from_parquet(tmp_path).batch(3))
    assert [b["n"].dtype for b in batches] == [np.float64, np.float64]
    assert np.isnan(batches[1]["n"][1])


def test_missing_column_and_label_name_the_files_columns(parquet_dir):
    with pytest.raises(
        ValueError,
        match=r"label column 'target' not found in .*; "
        r"available columns: id, x, city, label",
    ):
        Dataset.from_parquet(parquet_dir, label="target")
    with pytest.raises(ValueError, match=r"column 'age' not found"):
        Dataset.from_parquet(parquet_dir, columns=["age", "x"])


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        Dataset.from_parquet(tmp_path / "nope")
    with pytest.raises(ValueError, match="no data files found"):
        Dataset.from_parquet(tmp_path)


def test_zero_row_parquet_file_yields_nothing(tmp_path, table):
    pq.write_table(table.slice(0, 0), tmp_path / "empty.parquet")
    ds = Dataset.from_parquet(tmp_path, label="label")
    assert ds.cardinality() == 0 and list(ds.batch(8)) == []


def test_csv_folder_with_missing_values(tmp_path):
    (tmp_path / "a.csv").write_text("age,city,y\n30,paris,1\n,oslo,0\n")
    (tmp_path / "b.csv").write_text("age,city,y\n50,,1\n")
    ((features, labels),) = list(Dataset.from_csv(tmp_path, label="y").batch(10))
    assert features["age"][0] == 30 and np.isnan(features["age"][1])
    assert features["city"].to_pylist() == ["paris", "oslo", ""]
    assert labels.tolist() == [1, 0, 1]


def test_csv_without_header_and_with_types(tmp_path):
    (tmp_path / "a.csv").write_text("01234;1\n99999;0\n")
    ds = Dataset.from_csv(
        tmp_path / "a.csv",
        label="y",
        delimiter=";",
        column_names=["zip", "y"],
        column_types={"zip": pa.string()},
    )
    ((features, _),) = list(ds.batch(2))
    assert features["zip"].to_pylist() == ["01234", "99999"]


def test_dirty_csv_row_names_file_column_and_row(tmp_path):
    rows = ["x,y"] + [f"{i % 10}.5,{i % 2}" for i in range(200_000)]
    rows[15_000] = "oops,1"
    path = tmp_path / "dirty.csv"
    path.write_text("\n".join(rows) + "\n")
    # Caught while Arrow infers the schema from the first block (no column name yet)...
    with pytest.raises(
        ValueError, match=r"dirty\.csv: column #0: Row #15001: .*'oops'$"
    ):
        Dataset.from_csv(path, label="y", column_types={"x": pa.float64()})
    # ... or while reading, past that block.
    rows[15_000] = "1.5,1"
    rows[-1] = "oops,1"  # past the first 1 MiB block
    path.write_text("\n".join(rows) + "\n")
    ds = Dataset.from_csv(path, label="y", column_types={"x": pa.float64()})
    with pytest.raises(
        ValueError, match=r"dirty\.csv: column 'x': Row #200001: .*'oops'"
    ):
        list(ds.batch(4096))


def test_csv_row_with_wrong_field_count(tmp_path):
    rows = ["x,y"] + [f"{i},{i}" for i in range(20_000)]
    rows[12_000] = "1,2,3"
    (tmp_path / "bad.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(
        ValueError, match=r"bad\.csv: .*Row #12001: Expected 2 columns, got 3"
    ):
        list(Dataset.from_csv(tmp_path / "bad.csv").batch(4096))


def test_from_arrow_accepts_a_pyarrow_dataset(parquet_dir):
    ds = Dataset.from_arrow(pads.dataset(parquet_dir, format="parquet"), label="label")
    assert ds.cardinality() == 1000
    _, labels = all_rows(ds)
    assert len(labels) == 1000
