"""next_stacked and index mode: the same elements and positions as next()."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.data import Dataset


def plain(dataset, state=None):
    """An iterator that runs every stage on the data (index mode off)."""
    it = dataset.iterator()
    it._plan = None
    if state is not None:
        it.set_state(state)
    return it


def ids(element):
    return element[0]["id"].tolist() if isinstance(element, tuple) else element.tolist()


def source(rows, chunk):
    ds = Dataset.from_tensor_slices(({"id": np.arange(rows)}, np.arange(rows) % 3))
    ds._node.chunk_rows = chunk
    return ds


PIPELINES = {
    "iris": lambda ds: ds.shuffle(1000, seed=3).repeat().batch(7),
    "unseeded": lambda ds: ds.shuffle(1000).repeat(4).batch(5),
    "small-buffer": lambda ds: ds.shuffle(4, seed=1).repeat(3).batch(6),
    "no-reshuffle": lambda ds: (
        ds.shuffle(100, seed=2, reshuffle_each_iteration=False).repeat(3).batch(4)
    ),
    "repeat-then-shuffle": lambda ds: ds.repeat(3).shuffle(9, seed=1).batch(5),
    "one-pass": lambda ds: ds.shuffle(100, seed=1).batch(3, drop_remainder=True),
    "skip-take-shard": lambda ds: ds.skip(3).shard(2, 1).take(17).repeat(2).batch(4),
    "batch-shuffle-repeat": lambda ds: ds.batch(4).shuffle(3, seed=2).repeat(2),
    "shuffled-twice": lambda ds: ds.shuffle(50, seed=1).repeat(2).shuffle(7).batch(3),
    "sharded-source": lambda ds: ds.shard(3, 1).shuffle(100, seed=1).repeat(3).batch(3),
    "cached": lambda ds: ds.shuffle(100).cache().repeat(3).batch(4),
}


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(PIPELINES)),
    rows=st.integers(1, 40),
    chunk=st.integers(1, 16),
    calls=st.lists(st.integers(0, 6), min_size=1, max_size=12),
)
def test_next_stacked_equals_next_calls(name, rows, chunk, calls):
    # 0 in `calls` is a plain next(); k > 0 is next_stacked(k).
    ds = PIPELINES[name](source(rows, chunk))
    fast, slow = ds.iterator(), plain(ds)
    slow._seed = fast._seed  # the same draws for unseeded shuffles
    for k in calls:
        if k == 0:
            a, b = next(fast, None), next(slow, None)
            assert (a is None) == (b is None)
            if a is None:
                break  # past the end, positions may be spelled differently
            assert ids(a) == ids(b)
        else:
            stacked = fast.next_stacked(k)
            if stacked is not None:
                features, labels = stacked
                count = features["id"].shape[0]
                assert 1 <= count <= k
                expected = [next(slow) for _ in range(count)]
                assert features["id"].tolist() == [ids(e) for e in expected]
                assert labels.tolist() == [e[1].tolist() for e in expected]
                assert count == k or not _full_batch_next(slow, ds)
            else:
                assert not _full_batch_next(slow, ds)
        assert fast.get_state() == slow.get_state()


def _full_batch_next(it, ds):
    """Whether `it`'s next element is a full batch (peeked on a copy)."""
    peek = plain(ds, it.get_state())
    element = next(peek, None)
    size = it._batch_size
    return element is not None and len(ids(element)) == size


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_index_mode_restores_plain_positions_and_back(name):
    ds = PIPELINES[name](source(23, 5))
    it = ds.iterator()
    reference = plain(ds)
    reference._seed = it._seed
    whole = [ids(e) for e in reference] if name != "iris" else None
    for step in range(12):
        state = it.get_state()
        expected = [ids(e) for _, e in zip(range(5), plain(ds, state), strict=False)]
        assert [ids(e) for _, e in zip(range(5), ds.iterator(state), strict=False)] == (
            expected
        )
        if whole is not None:
            assert expected == whole[step : step + 5]
        next(it, None)


def test_iris_pipeline_stacks_whole_calls_and_resumes_exactly():
    x = np.random.default_rng(0).normal(size=(120, 4)).astype(np.float32)
    y = np.arange(120) % 3
    features = {f"f{i}": x[:, i] for i in range(4)}
    ds = Dataset.from_tensor_slices((features, y)).shuffle(1000).repeat().batch(100)
    it = ds.iterator()
    stacked, labels = it.next_stacked(100)
    assert stacked["f0"].shape == (100, 100) and labels.shape == (100, 100)
    assert stacked["f0"].dtype == np.float32
    # 10,000 rows: 83 whole passes of 120 rows and 40 rows of the 84th.
    rows = labels.reshape(-1)
    assert np.bincount(rows[:9960], minlength=3).tolist() == [3320] * 3
    state = it.get_state()
    # Before pass 83's rows: pass 82 fully emitted; 40 of pass 83's rows used.
    assert state["position"] == {
        "anchor": {"epoch": 82, "parent": {"emitted": 120}},
        "skip": 40,
    }
    again = plain(ds, state)
    nxt = it.next_stacked(3)
    for k in range(3):
        features_k, labels_k = next(again)
        np.testing.assert_array_equal(nxt[0]["f1"][k], features_k["f1"])
        np.testing.assert_array_equal(nxt[1][k], labels_k)


def test_string_columns_stack_as_fixed_size_lists():
    ds = Dataset.from_tensor_slices(
        {"city": pa.array(["a", "b", None, "d", "e"]), "n": np.arange(5)}
    )
    it = iter(ds.batch(2))
    stacked = it.next_stacked(5)
    assert isinstance(stacked["city"], pa.FixedSizeListArray)
    assert stacked["city"].to_pylist() == [["a", "b"], [None, "d"]]
    assert stacked["n"].tolist() == [[0, 1], [2, 3]]
    assert it.next_stacked(5) is None  # a partial batch is next
    assert next(it)["city"].to_pylist() == ["e"]
    assert it.next_stacked(5) is None
    with pytest.raises(StopIteration):
        next(it)


def test_pipelines_with_a_function_stack_next_results():
    ds = (
        Dataset.from_tensor_slices({"x": np.arange(10)})
        .map(lambda f: {"x": f["x"] * 10})
        .batch(4)
    )
    it = ds.iterator()
    assert it._plan is None
    assert it.next_stacked(8)["x"].tolist() == [[0, 10, 20, 30], [40, 50, 60, 70]]
    state = it.get_state()
    assert it.next_stacked(8) is None  # [80, 90] is partial: held for next()
    assert it.get_state() == state
    assert [b["x"].tolist() for b in ds.iterator(it.get_state())] == [[80, 90]]
    assert next(it)["x"].tolist() == [80, 90]
    assert it.next_stacked(8) is None


def test_an_element_of_another_shape_ends_the_stack():
    def widen(batch):
        # The third batch has two columns per row instead of one.
        width = 2 if batch["x"][0] >= 4 else 1
        return {"x": np.repeat(batch["x"][:, None], width, axis=1)}

    it = Dataset.from_tensor_slices({"x": np.arange(8)}).batch(2).map(widen).iterator()
    assert it.next_stacked(10)["x"].shape == (2, 2, 1)
    assert it.next_stacked(10)["x"].shape == (2, 2, 2)


def test_next_stacked_needs_a_batched_dataset_and_a_count():
    ds = Dataset.from_tensor_slices(np.arange(4))
    with pytest.raises(ValueError, match=r"needs a batched dataset: call \.batch"):
        iter(ds).next_stacked(2)
    with pytest.raises(ValueError, match="`max_batches` must be >= 1, got 0"):
        iter(ds.batch(2)).next_stacked(0)


def test_zipped_batches_stack_by_the_first_batch_size():
    a = Dataset.from_tensor_slices(np.arange(7)).batch(3)
    b = Dataset.from_tensor_slices(np.arange(10, 17)).batch(3)
    it = Dataset.zip(a, b).iterator()
    x, y = it.next_stacked(5)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]] and y[1].tolist() == [13, 14, 15]
    assert it.next_stacked(5) is None
    assert [v.tolist() for v in next(it)] == [[6], [16]]


@pytest.mark.parametrize("ks", [[3, 1, 5, 2, 100], [100]])
def test_file_pipelines_cut_stacks_from_their_blocks(parquet_dir, ks):
    import pyarrow.compute as pc

    def make():
        source = Dataset.from_parquet(
            parquet_dir, label="label", batch_rows=50, filter=pc.field("x") > -1
        )
        return source.repeat(2).batch(7)

    fast, slow = make().iterator(), make().iterator()
    for k in ks * 20:
        stacked = fast.next_stacked(k)
        if stacked is None:
            assert len(next(slow)[1]) < 7
            break
        features, labels = stacked
        assert isinstance(features["city"], pa.FixedSizeListArray)
        for i in range(len(labels)):
            f, y = next(slow)
            assert features["id"][i].tolist() == f["id"].tolist()
            assert features["city"][i].as_py() == f["city"].to_pylist()
            np.testing.assert_array_equal(labels[i], y)
        assert fast.get_state()["position"] == slow.get_state()["position"]
