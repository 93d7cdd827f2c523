"""Prefetch: errors reach the consumer and the thread stops with the iterator."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from estimators.data import AUTOTUNE, Dataset


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "estimators-data-prefetch"]


def wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_prefetch_keeps_order_and_content():
    ds = Dataset.from_tensor_slices(np.arange(100)).batch(7)
    assert [b.tolist() for b in ds.prefetch(AUTOTUNE)] == [b.tolist() for b in ds]


def test_error_in_the_background_reaches_the_consumer_after_good_batches():
    def explode(batch):
        if batch[0] >= 20:
            raise RuntimeError("bad batch at 20")
        return batch

    ds = Dataset.from_tensor_slices(np.arange(40)).batch(10).map(explode).prefetch(2)
    it = iter(ds)
    assert next(it).tolist() == list(range(10))
    assert next(it).tolist() == list(range(10, 20))
    with pytest.raises(RuntimeError, match="bad batch at 20"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert wait_until(lambda: not prefetch_threads())


def endless():
    # The map keeps it a threaded pipeline: in-memory pipelines of row stages
    # run in index mode, where a prefetch has nothing to overlap (see below).
    source = Dataset.from_tensor_slices(np.arange(10)).map(lambda x: x)
    return source.repeat().batch(3).prefetch(2)


def test_in_memory_row_pipelines_need_no_thread():
    it = iter(Dataset.from_tensor_slices(np.arange(10)).repeat().batch(3).prefetch(2))
    assert next(it).tolist() == [0, 1, 2]
    assert not prefetch_threads()


def test_close_stops_the_thread_of_an_endless_pipeline():
    it = iter(endless())
    next(it)
    assert prefetch_threads()
    it.close()
    assert not prefetch_threads()


def test_dropping_the_iterator_stops_the_thread():
    it = iter(endless())
    next(it)
    del it
    gc.collect()
    assert wait_until(lambda: not prefetch_threads())


def test_context_manager_closes_nested_prefetches():
    ds = (
        Dataset.from_tensor_slices(np.arange(10))
        .map(lambda x: x)
        .repeat()
        .prefetch(1)
        .batch(3)
        .prefetch(1)
    )
    with iter(ds) as it:
        next(it)
        assert len(prefetch_threads()) == 2
    assert not prefetch_threads()


def test_reading_overlaps_the_consumer():
    def slow(batch):
        time.sleep(0.05)
        return batch

    ds = Dataset.from_tensor_slices(np.arange(10)).batch(1).map(slow)
    start = time.perf_counter()
    for _ in ds.prefetch(10):
        time.sleep(0.05)  # the "training step"
    overlapped = time.perf_counter() - start
    assert overlapped < 0.85  # serial: 10 * (0.05 + 0.05) = 1.0 s; overlapped ~0.55 s
