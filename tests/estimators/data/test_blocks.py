"""map_blocks: a block function before batch, once per record batch, positions kept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from estimators.data import Dataset

VOCABULARY = pa.array(["lima", "oslo", "paris"])


class CityIds:
    """A vocabulary lookup that looks each distinct value up once per block."""

    def __init__(self):
        self.blocks = []

    def __call__(self, features):
        city = features["city"]
        self.blocks.append((len(city), type(city).__name__))
        if isinstance(city, pa.DictionaryArray):
            # The dictionary's few values are looked up, then gathered by index.
            ids = pc.index_in(city.dictionary, value_set=VOCABULARY).take(city.indices)
        else:
            ids = pc.index_in(city, value_set=VOCABULARY)
        out = dict(features)
        out["city"] = ids.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        return out


def per_batch(batch):
    """The same transform applied to batches, for comparison."""
    features, labels = batch
    ids = pc.index_in(features["city"], value_set=VOCABULARY).fill_null(-1)
    return ids.to_numpy(zero_copy_only=False).astype(np.int32), labels


def test_parquet_blocks_are_transformed_once_each_as_dictionaries(parquet_dir):
    plain = Dataset.from_parquet(parquet_dir, label="label", batch_rows=100).batch(64)
    fn = CityIds()
    mapped = plain.map_blocks(fn)
    batches = list(mapped)
    # Files of 400, 400, 200 rows in row groups of 128 rows, read in record
    # batches of <= 100 rows: a group of 128 is 2 blocks (100 + 28), the last
    # groups (16, 16, 72 rows) 1 each: 400 -> 3 * 2 + 1, 200 -> 2 + 1.
    assert len(fn.blocks) == 7 + 7 + 3
    assert {kind for _, kind in fn.blocks} == {"DictionaryArray"}
    assert sum(rows for rows, _ in fn.blocks) == 1000
    expected = [per_batch(b) for b in plain]
    assert len(batches) == len(expected) == 16
    for (features, labels), (ids, labels_expected) in zip(
        batches, expected, strict=True
    ):
        assert features["city"].dtype == np.int32
        np.testing.assert_array_equal(features["city"], ids)
        np.testing.assert_array_equal(labels, labels_expected)
        assert features["x"].dtype == np.float64


def test_csv_blocks_too(tmp_path, table):
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, tmp_path / "rows.csv")
    plain = Dataset.from_csv(tmp_path, label="label", batch_rows=300).batch(50)
    fn = CityIds()
    got = [f["city"].tolist() for f, _ in plain.map_blocks(fn)]
    assert got == [ids.tolist() for ids, _ in map(per_batch, plain)]
    assert len(fn.blocks) < len(got)


@pytest.mark.parametrize("kind", ["memory", "parquet"])
def test_positions_are_unchanged_and_resume_everywhere(kind, table, parquet_dir):
    def make(mapped):
        if kind == "memory":
            source = Dataset.from_arrow(table, label="label")
            source._node.chunk_rows = 90
        else:
            source = Dataset.from_parquet(parquet_dir, label="label", batch_rows=90)
        ds = source.shuffle(200, seed=4).repeat(2).batch(70)
        return ds.map_blocks(CityIds()) if mapped else ds

    whole = [f["id"].tolist() for f, _ in make(True)]
    assert whole == [f["id"].tolist() for f, _ in make(False)]
    it = make(True).iterator()
    for k in range(0, len(whole) + 1, 3):
        state = it.get_state()
        resumed = [f["id"].tolist() for f, _ in make(True).iterator(state)]
        assert resumed == whole[k:], k
        # Transparent: the same position restores in the dataset without it.
        assert [f["id"].tolist() for f, _ in make(False).iterator(state)] == whole[k:]
        for _ in range(3):
            next(it, None)


def test_in_memory_data_is_transformed_once_and_stays_in_index_mode(table):
    fn = CityIds()
    ds = Dataset.from_arrow(table, label="label").shuffle(2000).repeat().batch(100)
    it = ds.map_blocks(fn).iterator()
    assert it._plan is not None
    features, labels = it.next_stacked(25)  # 2.5 passes over the 1000 rows
    assert features["city"].shape == (25, 100) and labels.shape == (25, 100)
    assert fn.blocks == [(1000, "StringArray")]
    ids = features["city"].reshape(-1)
    cities = table.column("city").to_pylist()
    rows = features["id"].reshape(-1)
    names = [None if i < 0 else VOCABULARY[i].as_py() for i in ids.tolist()]
    assert names == [cities[r] for r in rows.tolist()]


def test_user_functions_before_batch_see_the_raw_columns(table):
    seen = []

    def upper(features):
        seen.append(features["city"].type)
        return {**features, "city": pc.utf8_upper(features["city"])}

    def lower_ids(features):
        ids = pc.index_in(pc.utf8_lower(features["city"]), value_set=VOCABULARY)
        return {"city": ids.fill_null(-1).to_numpy(zero_copy_only=False)}

    ds = (
        Dataset.from_arrow(table, label="label")
        .map(lambda f, y: (upper(f), y))
        .batch(500)
        .map_blocks(lower_ids)
    )
    features, _ = next(iter(ds))
    assert seen[0] == pa.string()
    names = ["lima", "oslo", "paris"]
    cities = table.column("city").to_pylist()[:500]
    assert features["city"].tolist() == [
        -1 if c is None else names.index(c) for c in cities
    ]


def test_a_function_that_drops_rows_is_refused(table):
    # In-memory data is transformed when map_blocks is called.
    ds = Dataset.from_arrow(table).batch(10)
    with pytest.raises(
        ValueError, match=r"returned 5 rows for 'id' from a block of 1000"
    ):
        ds.map_blocks(lambda f: {"id": f["id"][:5]})
    with pytest.raises(
        TypeError, match="map_blocks function <lambda> must return a dict"
    ):
        Dataset.from_arrow(table).map_blocks(lambda f: f["id"])


def test_shard_after_map_blocks_keeps_positions_interchangeable(table):
    plain = Dataset.from_arrow(table).shard(2, 1).batch(10)
    mapped = Dataset.from_arrow(table).map_blocks(CityIds()).shard(2, 1).batch(10)
    assert repr(mapped) == repr(plain)
    it = iter(mapped)
    next(it)
    assert next(plain.iterator(it.get_state()))["id"].tolist() == list(range(510, 520))


def test_a_block_function_giving_rows_another_width_per_block_is_named(tmp_path):
    import pyarrow.parquet as pq

    table = pa.table(
        {"tags": [["a"], ["b"], ["a", "b", "c"], ["b"]], "y": [0, 1, 0, 1]}
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)

    def widths(features):  # one row per value, as wide as the block's longest list
        lists = features["tags"].to_pylist()
        width = max(len(v) for v in lists)
        return {"n": np.array([[len(v)] * width for v in lists], np.int32)}

    data = Dataset.from_parquet(tmp_path, label="y").batch(3).map_blocks(widths)
    with pytest.raises(
        ValueError, match=r"column .*'n'.* rows of shapes \[\(1,\), \(3,\)\]"
    ):
        list(data)
