"""The vectorised shuffle buffer against tf.data's one-row-at-a-time algorithm."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.data import Dataset
from estimators.data._block import Block
from estimators.data.shuffle import replace_rows


def reference_step(buffer, incoming, slots):
    """tf.data: for each input row, emit the chosen slot, then store the row there."""
    buffer, emitted = list(buffer), []
    for row, slot in zip(incoming, slots, strict=True):
        emitted.append(buffer[slot])
        buffer[slot] = row
    return emitted, buffer


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 12), count=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_replace_rows_equals_the_sequential_algorithm(size, count, seed):
    buffer = np.arange(size)
    incoming = np.arange(100, 100 + count)
    emitted, kept = replace_rows(
        Block(0, (buffer,)), Block(0, (incoming,)), np.random.default_rng(seed)
    )
    slots = np.random.default_rng(seed).integers(0, size, size=count)  # the same draws
    expected_emitted, expected_kept = reference_step(buffer, incoming, slots)
    assert emitted.columns[0].tolist() == expected_emitted
    assert kept.columns[0].tolist() == expected_kept


def test_replace_rows_moves_string_columns_with_their_rows():
    buffer = Block(("tuple", (0, 1)), (np.arange(3), pa.array(["a", "b", None])))
    incoming = Block(
        ("tuple", (0, 1)), (np.arange(3, 8), pa.array(["d", "e", "f", "g", "h"]))
    )
    emitted, kept = replace_rows(buffer, incoming, np.random.default_rng(3))
    names = dict(zip(range(8), ["a", "b", None, "d", "e", "f", "g", "h"], strict=True))
    for block in (emitted, kept):
        numbers, strings = block.columns
        assert strings.to_pylist() == [names[n] for n in numbers.tolist()]


def order(dataset):
    return np.concatenate(list(dataset.batch(64))).tolist()


def test_shuffle_is_a_permutation_and_seeded():
    ds = Dataset.from_tensor_slices(np.arange(1000))
    first = order(ds.shuffle(100, seed=7))
    assert sorted(first) == list(range(1000)) and first != list(range(1000))
    assert order(ds.shuffle(100, seed=7)) == first
    assert order(ds.shuffle(100, seed=8)) != first


def test_unseeded_shuffles_differ_between_iterators():
    ds = Dataset.from_tensor_slices(np.arange(200)).shuffle(200)
    assert order(ds) != order(ds)


def test_buffer_of_one_keeps_the_order():
    # As in tf.data: each output is drawn from a one-row buffer.
    assert order(Dataset.from_tensor_slices(np.arange(300)).shuffle(1, seed=0)) == list(
        range(300)
    )


def test_small_buffer_only_moves_rows_locally():
    shuffled = np.array(
        order(Dataset.from_tensor_slices(np.arange(5000)).shuffle(10, seed=0))
    )
    # Output i is drawn from the rows read so far: 10 buffered + i replaced.
    assert (shuffled < np.arange(5000) + 10).all()
    assert np.abs(shuffled - np.arange(5000)).mean() < 30


def test_reshuffle_each_iteration():
    ds = Dataset.from_tensor_slices(np.arange(50))
    epochs = np.array(order(ds.shuffle(50, seed=1).repeat(2))).reshape(2, 50)
    assert (
        sorted(epochs[0]) == sorted(epochs[1])
        and epochs[0].tolist() != epochs[1].tolist()
    )
    same = np.array(
        order(ds.shuffle(50, seed=1, reshuffle_each_iteration=False).repeat(2))
    )
    assert same[:50].tolist() == same[50:].tolist()


def test_shuffle_after_batch_shuffles_whole_batches():
    ds = Dataset.from_tensor_slices(np.arange(20)).batch(4).shuffle(5, seed=2)
    batches = [b.tolist() for b in ds]
    assert sorted(batches) == [list(range(i, i + 4)) for i in range(0, 20, 4)]
    assert batches != sorted(batches)
