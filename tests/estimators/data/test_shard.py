"""shard: disjoint slices that together cover the data."""

from __future__ import annotations

import numpy as np
import pytest

from estimators.data import Dataset


def ids(dataset):
    return np.concatenate([f["id"] for f, _ in dataset.batch(50)]).tolist()


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7])
def test_in_memory_shards_are_contiguous_balanced_and_cover(table, num_shards):
    parts = [
        ids(Dataset.from_arrow(table, label="label").shard(num_shards, i))
        for i in range(num_shards)
    ]
    assert sum(parts, []) == list(range(1000))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    cards = [
        Dataset.from_arrow(table).shard(num_shards, i).cardinality()
        for i in range(num_shards)
    ]
    assert cards == sizes


def test_parquet_shards_split_row_groups(parquet_dir):
    # 10 row groups (4 + 4 + 2): shard i reads row groups i, i + 3, ...
    parts = [
        Dataset.from_parquet(parquet_dir, label="label").shard(3, i) for i in range(3)
    ]
    assert [len(p._node.pieces) for p in parts] == [4, 3, 3]
    rows = [ids(p) for p in parts]
    assert sorted(sum(rows, [])) == list(range(1000))
    assert [p.cardinality() for p in parts] == [len(r) for r in rows]


def test_more_shards_than_row_groups_falls_back_to_rows(parquet_dir):
    parts = [
        ids(Dataset.from_parquet(parquet_dir, label="label").shard(16, i))
        for i in range(16)
    ]
    assert parts[3] == list(range(3, 1000, 16))
    assert sorted(sum(parts, [])) == list(range(1000))


def test_shard_after_shuffle_is_element_wise_and_disjoint(table):
    parts = [
        ids(Dataset.from_arrow(table, label="label").shuffle(100, seed=4).shard(2, i))
        for i in range(2)
    ]
    assert sorted(parts[0] + parts[1]) == list(range(1000))
    assert len(parts[0]) == len(parts[1]) == 500


def test_shard_after_batch_takes_every_nth_batch():
    ds = Dataset.from_tensor_slices(np.arange(10)).batch(2).shard(2, 1)
    assert [b.tolist() for b in ds] == [[2, 3], [6, 7]]
    assert ds.cardinality() == 2
