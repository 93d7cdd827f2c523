"""get_state / set_state: a resumed iterator continues exactly where it stopped."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.data import Dataset


def ids_of(batch):
    features, _ = batch
    return features["id"].tolist()


def build(kind, table, parquet_dir, seed=None):
    """shuffle + repeat + batch + prefetch over 1000 rows, in memory or on disk."""
    if kind == "memory":
        source = Dataset.from_arrow(table, label="label")
    else:
        source = Dataset.from_parquet(parquet_dir, label="label", batch_rows=100)
    return source.shuffle(300, seed=seed).repeat(3).batch(64).prefetch(2)


@pytest.mark.parametrize("kind", ["memory", "parquet"])
def test_resume_in_a_new_dataset_continues_exactly(kind, table, parquet_dir):
    it = iter(build(kind, table, parquet_dir))  # unseeded: the seed is in the state
    first = [ids_of(next(it)) for _ in range(20)]  # 1280 rows: into the 2nd epoch
    state = json.loads(json.dumps(it.get_state()))
    rest = [ids_of(b) for b in it]

    resumed = build(kind, table, parquet_dir).iterator()
    resumed.set_state(state)
    rest_resumed = [ids_of(b) for b in resumed]

    assert rest_resumed == rest
    rows = np.concatenate(first + rest_resumed)
    assert len(rows) == 3000  # 3 epochs of 1000 rows, none repeated or skipped
    assert np.bincount(rows).tolist() == [3] * 1000


@pytest.mark.parametrize("kind", ["memory", "parquet"])
def test_resume_matches_an_uninterrupted_seeded_run(kind, table, parquet_dir):
    whole = [b for b in build(kind, table, parquet_dir, seed=5)]
    it = build(kind, table, parquet_dir, seed=5).iterator()
    for _ in range(7):
        next(it)
    resumed = list(build(kind, table, parquet_dir, seed=5).iterator(it.get_state()))
    assert len(resumed) == len(whole) - 7
    for (f1, y1), (f2, y2) in zip(whole[7:], resumed, strict=True):
        assert f1["id"].tolist() == f2["id"].tolist()
        np.testing.assert_array_equal(f1["x"], f2["x"])
        assert f1["city"].equals(f2["city"])
        np.testing.assert_array_equal(y1, y2)


PIPELINES = {
    "batch": lambda ds: ds.batch(7),
    "shuffle-batch": lambda ds: ds.shuffle(10, seed=1).batch(7),
    "repeat-shuffle-batch": lambda ds: ds.repeat(2).shuffle(10, seed=1).batch(7),
    "map-shard-take": lambda ds: (
        ds.map(lambda f: {"id": f["id"] * 2}).shard(3, 1).batch(4).take(5)
    ),
    "batch-shuffle-repeat": lambda ds: ds.batch(5).shuffle(3, seed=2).repeat(2),
    "repeat-forever-take": lambda ds: ds.shuffle(50, seed=1).repeat().batch(16).take(9),
    "unbatched": lambda ds: ds.shuffle(8, seed=3).prefetch(3),
}


def element_ids(element):
    value = element["id"]
    return value.tolist() if hasattr(value, "tolist") else [value]


@pytest.mark.parametrize("name", list(PIPELINES))
def test_resume_at_every_position(name):
    # Small blocks (chunk_rows=6) so positions fall inside and between blocks.
    def make():
        source = Dataset.from_tensor_slices({"id": np.arange(40)})
        source._node.chunk_rows = 6
        return PIPELINES[name](source).prefetch(2)

    whole = [element_ids(e) for e in make()]
    it = make().iterator()
    for k in range(len(whole) + 1):
        state = it.get_state()
        assert [element_ids(e) for e in make().iterator(state)] == whole[k:], k
        next(it, None)


def test_state_is_the_consumers_position_under_prefetch(table, parquet_dir):
    plain = (
        Dataset.from_parquet(parquet_dir, label="label").shuffle(50, seed=0).batch(10)
    )
    ahead = plain.prefetch(8)
    a, b = iter(plain), iter(ahead)
    for _ in range(13):
        next(a), next(b)
    assert b.get_state()["position"] == a.get_state()["position"]


def test_resume_at_the_end_yields_nothing(table):
    ds = Dataset.from_arrow(table).batch(300)
    it = iter(ds)
    assert len(list(it)) == 4
    assert list(ds.iterator(it.get_state())) == []


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(0, 60),
    chunk=st.integers(1, 20),
    buffer=st.integers(1, 30),
    batch=st.integers(1, 9),
    epochs=st.integers(1, 3),
    stop=st.integers(0, 40),
)
def test_resume_property(rows, chunk, buffer, batch, epochs, stop):
    def make():
        source = Dataset.from_tensor_slices({"id": np.arange(rows)})
        source._node.chunk_rows = chunk
        return source.shuffle(buffer).repeat(epochs).batch(batch)

    it = make().iterator()
    head = [element_ids(e) for _, e in zip(range(stop), it, strict=False)]
    state = it.get_state()
    tail = [element_ids(e) for e in it]
    assert [element_ids(e) for e in make().iterator(state)] == tail
    seen = sum(head + tail, [])
    assert sorted(seen) == sorted(list(range(rows)) * epochs)


def test_state_of_another_pipeline_is_refused_naming_the_step(table):
    state = iter(Dataset.from_arrow(table).shuffle(10).batch(32)).get_state()
    with pytest.raises(
        ValueError,
        match=r"step 2 is 'batch\(32, drop_remainder=False\)' "
        r"in the saved position but 'batch\(16, ",
    ):
        Dataset.from_arrow(table).shuffle(10).batch(16).iterator(state)
    with pytest.raises(ValueError, match=r"it has 3 steps .*, this dataset has 2"):
        Dataset.from_arrow(table).shuffle(10).iterator(state)


def test_state_of_other_data_is_refused(tmp_path, table):
    import pyarrow.parquet as pq

    pq.write_table(table, tmp_path / "a.parquet")
    state = iter(Dataset.from_parquet(tmp_path).batch(8)).get_state()
    pq.write_table(table.slice(0, 10), tmp_path / "a.parquet")
    with pytest.raises(
        ValueError,
        match=r"different data: step 0 .* other data: file 'a.parquet' changed "
        r"\(size \d+ -> \d+, .*footer [0-9a-f]+ -> [0-9a-f]+\)",
    ):
        Dataset.from_parquet(tmp_path).batch(8).iterator(state)


def test_state_of_other_values_in_memory_is_refused_naming_the_columns(table):
    state = iter(Dataset.from_arrow(table, label="label").batch(8)).get_state()
    changed = table.set_column(1, "x", pa.array(np.zeros(len(table))))
    with pytest.raises(
        ValueError,
        match=r"different data: step 0 \(from_arrow\(1000 rows: .*\)\) has the "
        r"same arguments but other data: column 'x' has other values\.$",
    ):
        Dataset.from_arrow(changed, label="label").batch(8).iterator(state)
    rebuilt = pa.Table.from_pylist(table.to_pylist(), schema=table.schema)
    Dataset.from_arrow(rebuilt, label="label").batch(8).iterator(state)  # equal data


def test_state_of_a_touched_csv_file_is_refused(tmp_path, table):
    import pyarrow.csv as pacsv

    path = tmp_path / "a.csv"
    pacsv.write_csv(table, path)
    state = iter(Dataset.from_csv(path).batch(8)).get_state()
    Dataset.from_csv(path).batch(8).iterator(state)  # unchanged: accepted
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=r"file 'a.csv' changed \(mtime \S+ -> "):
        Dataset.from_csv(path).batch(8).iterator(state)


def test_a_state_without_identities_is_checked_by_fingerprint_alone(table):
    it = iter(Dataset.from_arrow(table).batch(100))
    next(it)
    state = it.get_state()
    del state["identity"]
    assert [b["id"][0] for b in Dataset.from_arrow(table).batch(100).iterator(state)][
        :1
    ] == [100]


def test_not_a_state_is_refused(table):
    it = iter(Dataset.from_arrow(table).batch(8))
    with pytest.raises(ValueError, match="not a dataset position"):
        it.set_state({"epoch": 3})
    with pytest.raises(ValueError, match="not a dataset position"):
        it.set_state("abc")  # type: ignore[arg-type]


def test_prefetch_does_not_change_the_state_format(table):
    # Prefetch leaves rows and positions alone, so it may be added or removed
    # between the run that saved and the one that resumes.
    ds = Dataset.from_arrow(table).batch(100)
    it = iter(ds.prefetch(4))
    next(it)
    assert [b["id"][0] for b in ds.iterator(it.get_state())][:2] == [100, 200]


@pytest.mark.parametrize("kind", ["parquet-filtered", "csv"])
def test_file_sources_resume_at_every_position(kind, tmp_path, table, parquet_dir):
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if kind == "csv":
        for i in range(2):
            pacsv.write_csv(table.slice(500 * i, 500), tmp_path / f"part-{i}.csv")

    def make():
        if kind == "csv":
            source = Dataset.from_csv(tmp_path, label="label", batch_rows=64)
        else:
            source = Dataset.from_parquet(
                parquet_dir, label="label", batch_rows=50, filter=pc.field("x") > 0
            )
        return source.batch(70).prefetch(2)

    whole = [ids_of(b) for b in make()]
    it = make().iterator()
    for k in range(len(whole) + 1):
        assert [ids_of(b) for b in make().iterator(it.get_state())] == whole[k:], k
        next(it, None)


def test_arrays_changed_in_place_are_other_data():
    x = np.arange(20.0)
    ds = Dataset.from_tensor_slices({"x": x}).batch(8)
    it = iter(ds)
    next(it)
    state = it.get_state()
    ds.iterator(state)  # unchanged: accepted
    x[3] = -1.0  # the same Dataset, its array changed by the caller
    with pytest.raises(ValueError, match=r"other data: column 'x' has other values"):
        ds.iterator(state)
