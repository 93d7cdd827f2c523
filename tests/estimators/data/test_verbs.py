"""filter, skip, take, zip, concatenate, unbatch, padded_batch, interleave,
from_generator and cache: tf.data's results, and positions that resume."""

from __future__ import annotations

import gc
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.data import Dataset
from estimators.input_pipeline import InputPipeline
from estimators.mode_keys import ModeKeys


def rows(n, chunk=5, start=0):
    ds = Dataset.from_tensor_slices({"id": np.arange(start, start + n)})
    ds._node.chunk_rows = chunk  # small blocks: positions fall inside them
    return ds


def ids(element):
    value = element["id"] if isinstance(element, dict) else element
    return value.tolist() if hasattr(value, "tolist") else value


def every_position_resumes(make):
    """Each position of `make()`'s iterator resumes, in a new dataset, exactly."""
    whole = [ids(e) for e in make()]
    it = make().iterator()
    for k in range(len(whole) + 1):
        state = json.loads(json.dumps(it.get_state()))
        assert [ids(e) for e in make().iterator(state)] == whole[k:], k
        next(it, None)
    return whole


# -- filter, skip, take ---------------------------------------------------------


def test_filter_rows_then_batches_and_resume():
    def make():
        ds = rows(30).shuffle(7, seed=1).filter(lambda f: f["id"] % 3 != 0)
        return ds.batch(4).filter(lambda f: f["id"][0] % 2 == 0)

    whole = every_position_resumes(make)
    flat = sum(whole, [])
    assert all(i % 3 for i in flat) and all(b[0] % 2 == 0 for b in whole)


def test_filter_needs_one_boolean_per_row():
    ds = rows(10).filter(lambda f: bool(f["id"][0] > 3))
    with pytest.raises(ValueError, match=r"one boolean for a block of 5 rows.*& \| ~"):
        next(iter(ds.batch(2)))
    with pytest.raises(TypeError, match="must return booleans, got dtype int64"):
        next(iter(rows(4).filter(lambda f: f["id"]).batch(2)))


def test_filter_on_arrow_strings_treats_null_as_false():
    import pyarrow.compute as pc

    ds = Dataset.from_tensor_slices({"s": pa.array(["a", None, "b", "a"])})
    kept = ds.filter(lambda f: pc.equal(f["s"], "a")).batch(9)
    assert next(iter(kept))["s"].to_pylist() == ["a", "a"]


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 25),
    chunk=st.integers(1, 7),
    skip=st.integers(-1, 30),
    take=st.integers(-1, 30),
    batch=st.integers(1, 6),
)
def test_skip_and_take_slice_like_lists(n, chunk, skip, take, batch):
    got = [ids(b) for b in rows(n, chunk).skip(skip).take(take).batch(batch)]
    expected = list(range(n))[skip if skip >= 0 else n :]
    expected = expected[: take if take >= 0 else None]
    assert sum(got, []) == expected


def test_skip_after_batch_counts_elements_and_resumes():
    whole = every_position_resumes(lambda: rows(20).batch(3).skip(2).repeat(2))
    assert whole[0] == [6, 7, 8] and len(whole) == 2 * 5


# -- zip and concatenate ----------------------------------------------------------


def test_zip_rows_cut_at_different_blocks_and_resume():
    def make():
        a = rows(23, chunk=4).shuffle(5, seed=2)
        b = Dataset.from_tensor_slices(np.arange(100, 130))
        b._node.chunk_rows = 7
        return Dataset.zip({"a": a, "b": b}).batch(5)

    whole = [(e["a"]["id"].tolist(), e["b"].tolist()) for e in make()]
    assert sum((b for _, b in whole), []) == list(range(100, 123))  # the shortest
    it = make().iterator()
    for k in range(len(whole) + 1):
        resumed = [
            (e["a"]["id"].tolist(), e["b"].tolist())
            for e in make().iterator(it.get_state())
        ]
        assert resumed == whole[k:]
        next(it, None)


def test_zip_of_batched_datasets_and_its_errors():
    a, b = rows(6).batch(2), rows(6, start=10).batch(3)
    pairs = [(x["id"].tolist(), y["id"].tolist()) for x, y in Dataset.zip((a, b))]
    assert pairs == [([0, 1], [10, 11, 12]), ([2, 3], [13, 14, 15])]
    with pytest.raises(ValueError, match="every dataset must be batched, or none"):
        Dataset.zip(a, rows(3))
    with pytest.raises(TypeError, match="zip\\(\\) takes Datasets, got list"):
        Dataset.zip(a, [1, 2])


def test_concatenate_and_resume():
    whole = every_position_resumes(
        lambda: rows(11).concatenate(rows(7, start=50).shuffle(3, seed=1)).batch(4)
    )
    flat = sum(whole, [])
    assert flat[:11] == list(range(11)) and sorted(flat[11:]) == list(range(50, 57))


def test_concatenate_refuses_other_structures():
    other = Dataset.from_tensor_slices({"other": np.arange(3)})
    with pytest.raises(ValueError, match="elements differ in structure"):
        list(rows(3).concatenate(other).batch(2))


# -- unbatch and padded_batch -----------------------------------------------------


def test_unbatch_rebatches_and_resumes():
    whole = every_position_resumes(
        lambda: rows(17).batch(3).shuffle(4, seed=3).unbatch().batch(5)
    )
    assert sorted(sum(whole, [])) == list(range(17))
    split = Dataset.from_tensor_slices({"v": np.arange(12).reshape(4, 3)}).unbatch()
    assert next(iter(split.batch(12)))["v"].tolist() == list(range(12))


def sequences():
    for n in [3, 1, 4, 1, 5, 2]:
        yield {"tokens": np.arange(1, n + 1), "n": n}


def test_padded_batch_pads_to_the_longest_of_each_batch():
    batches = list(Dataset.from_generator(sequences).padded_batch(3))
    assert batches[0]["tokens"].tolist() == [[1, 2, 3, 0], [1, 0, 0, 0], [1, 2, 3, 4]]
    assert batches[1]["tokens"].tolist() == [
        [1, 0, 0, 0, 0],
        [1, 2, 3, 4, 5],
        [1, 2, 0, 0, 0],
    ]
    assert batches[0]["n"].tolist() == [3, 1, 4]


def test_padded_batch_with_shapes_and_values():
    ds = Dataset.from_generator(sequences).padded_batch(
        2,
        padded_shapes={"tokens": [6], "n": []},
        padding_values={"tokens": -1, "n": 0},
        drop_remainder=True,
    )
    first = next(iter(ds))
    assert first["tokens"].tolist() == [[1, 2, 3, -1, -1, -1], [1, -1, -1, -1, -1, -1]]
    short = Dataset.from_generator(sequences).padded_batch(
        3, padded_shapes={"tokens": [2], "n": []}
    )
    with pytest.raises(
        ValueError, match=r"'tokens' has a row of length 4, longer than"
    ):
        next(iter(short))


# -- interleave -------------------------------------------------------------------


def reference_interleave(inputs, cycle, block):
    """tf.data's InterleaveDataset loop, one element at a time."""
    pending, slots, out = iter(inputs), [None] * cycle, []
    index, taken, ended = 0, 0, False
    while not ended or any(s is not None for s in slots):
        if slots[index] is not None:
            value = next(slots[index], None)
            if value is None:
                slots[index], taken, index = None, 0, (index + 1) % cycle
                continue
            out.append(value)
            taken += 1
            if taken == block:
                taken, index = 0, (index + 1) % cycle
        elif not ended:
            nxt = next(pending, None)
            if nxt is None:
                ended = True
            else:
                slots[index] = iter(nxt)
        else:
            taken, index = 0, (index + 1) % cycle
    return out


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 12), min_size=0, max_size=6),
    cycle=st.integers(1, 4),
    block=st.integers(1, 3),
)
def test_interleave_follows_tfs_order(lengths, cycle, block):
    starts = np.cumsum([0, *lengths])[:-1] * 100

    def inner(start, n):
        ds = Dataset.from_tensor_slices(np.arange(start, start + n))
        ds._node.chunk_rows = 3
        return ds

    outer = Dataset.from_tensor_slices((starts, np.array(lengths, dtype=np.int64)))
    ds = outer.interleave(inner, cycle_length=cycle, block_length=block).batch(1000)
    got = sum((b.tolist() for b in ds), [])
    expected = reference_interleave(
        [range(s, s + n) for s, n in zip(starts.tolist(), lengths, strict=True)],
        cycle,
        block,
    )
    assert got == expected


def test_interleave_of_csv_files_resumes_everywhere(tmp_path, table):
    import pyarrow.csv as pacsv

    for i in range(3):
        pacsv.write_csv(table.slice(100 * i, 37 + 20 * i), tmp_path / f"p{i}.csv")
    files = sorted(str(p) for p in tmp_path.glob("*.csv"))

    def make():
        names = Dataset.from_tensor_slices(np.array(files)).shuffle(3, seed=1)
        return names.interleave(
            lambda f: Dataset.from_csv(f, columns=["id"], batch_rows=16),
            cycle_length=2,
            block_length=4,
        ).batch(10)

    whole = every_position_resumes(make)
    assert sorted(sum(whole, [])) == sorted(
        sum((list(range(100 * i, 100 * i + 37 + 20 * i)) for i in range(3)), [])
    )


def test_interleave_refuses_batched_inner_datasets():
    outer = Dataset.from_tensor_slices(np.arange(2))
    ds = outer.interleave(lambda s: rows(4).batch(2), cycle_length=2)
    with pytest.raises(ValueError, match="returned a batched dataset"):
        next(iter(ds))


# -- from_generator ---------------------------------------------------------------


def test_from_generator_casts_and_repeats_by_calling_again():
    def gen(n):
        for i in range(n):
            yield {"x": i, "city": ["a", "b"][i % 2]}, [i, -i]

    ds = Dataset.from_generator(
        gen,
        output_types=({"x": np.float32, "city": "string"}, np.int32),
        args=(3,),
    )
    ((features, labels),) = list(ds.repeat(2).batch(6))[:1]
    assert features["x"].dtype == np.float32 and labels.dtype == np.int32
    assert features["city"].to_pylist() == ["a", "b", "a"] * 2
    assert labels.tolist() == [[0, 0], [1, -1], [2, -2]] * 2


def test_from_generator_position_is_marked_and_refused_in_one_line():
    def gen():
        yield from range(10)

    ds = Dataset.from_generator(gen).batch(3)
    it = iter(ds)
    next(it)
    state = json.loads(json.dumps(it.get_state()))
    with pytest.raises(
        ValueError,
        match=r"^dataset position was not saved: from_generator\(gen\) reads a Python generator, which cannot be rewound",
    ):
        ds.iterator(state)
    # The Estimator treats the refusal as "start the input afresh".
    pipeline = InputPipeline(ds, ModeKeys.TRAIN)
    assert pipeline.set_state(state) is False


# -- cache ------------------------------------------------------------------------


def test_cache_reads_its_input_once():
    calls = []

    def count(f):
        calls.append(len(f["id"]))
        return f

    ds = rows(12).map(count).cache().repeat(3).batch(5)
    assert sum((ids(b) for b in ds), []) == list(range(12)) * 3
    assert sum(calls) == 12
    assert sum((ids(b) for b in ds), []) == list(range(12)) * 3  # a second iterator
    assert sum(calls) == 12


def test_cache_after_a_shuffle_freezes_its_order_and_resumes():
    def make():
        return rows(13).map(lambda f: f).shuffle(6).cache().repeat(3).batch(4)

    it = make().iterator()
    whole = [ids(b) for b in it]
    flat = sum(whole, [])
    assert flat[:13] == flat[13:26] == flat[26:]  # one order, cached
    # Resume everywhere in new datasets, whose caches are empty.
    it = make().iterator()
    seed_state = it.get_state()
    expected = [ids(b) for b in make().iterator(seed_state)]
    for k in range(len(expected) + 1):
        state = it.get_state()
        assert [ids(b) for b in make().iterator(state)] == expected[k:], k
        next(it, None)


def test_cache_in_index_mode_matches_the_plain_pipeline():
    def make():
        return rows(13).shuffle(20).cache().repeat(2).shuffle(5).batch(4)

    fast = make().iterator()
    slow = make().iterator()
    slow._plan, slow._seed = None, fast._seed
    assert fast._plan is not None
    assert [ids(b) for b in fast] == [ids(b) for b in slow]


def test_cache_to_a_file_fills_once_and_serves_later_processes(tmp_path):
    path = tmp_path / "cache.arrow"
    calls = []

    def count(f, y):
        calls.append(len(y))
        return f, y

    def make():
        data = {"id": np.arange(11), "v": np.arange(22.0).reshape(11, 2)}
        source = Dataset.from_tensor_slices((data, pa.array(list("abcdefghijk"))))
        source._node.chunk_rows = 4
        return source.map(count).shuffle(5, seed=1).cache(path).repeat(2).batch(3)

    it = make().iterator()
    first = next(it)
    assert not path.exists()  # the pass is not complete yet
    it.close()
    assert not list(tmp_path.iterdir())  # an unfinished pass leaves nothing
    dropped = make().iterator()
    next(dropped)
    del dropped
    gc.collect()
    assert not list(tmp_path.iterdir())  # nor does a dropped iterator
    calls.clear()
    whole = list(make())
    assert path.exists() and sum(calls) == 11  # one pass read, the second cached
    ids = [f["id"].tolist() for f, _ in whole]
    flat = sum(ids, [])
    assert flat[:11] == flat[11:] and sorted(flat[:11]) == list(range(11))
    assert ids[0] == first[0]["id"].tolist()
    # A new dataset (a new process) reads the file, not its input.
    calls.clear()
    again = list(make())
    assert calls == []
    for (f1, y1), (f2, y2) in zip(whole, again, strict=True):
        np.testing.assert_array_equal(f1["v"], f2["v"])
        assert f2["v"].dtype == np.float64 and y1.equals(y2)
    every_position_resumes(lambda: make().map(lambda f, y: f))


def test_a_foreign_cache_file_is_refused(tmp_path):
    path = tmp_path / "other.arrow"
    path.write_bytes(b"not arrow")
    with pytest.raises(ValueError, match="is not a cache this library wrote"):
        next(iter(rows(3).cache(path).batch(2)))


def test_padded_batch_of_arrow_list_columns_resumes_everywhere():
    lists = [list(range(i % 4 + 1)) for i in range(23)]
    table = pa.table({"id": np.arange(23), "t": pa.array(lists)})

    def make():
        source = Dataset.from_arrow(table)
        source._node.chunk_rows = 5
        return source.shuffle(6, seed=2).padded_batch(4, padding_values=-1)

    whole = every_position_resumes(make)
    first = next(iter(make()))
    rows = [lists[i] for i in first["id"].tolist()]
    width = max(len(r) for r in rows)
    assert first["t"].tolist() == [r + [-1] * (width - len(r)) for r in rows]
    assert sorted(sum(whole, [])) == list(range(23))
