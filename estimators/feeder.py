"""Prepares groups of training batches on a background thread, ahead of the device.

The host work of each step (reading, feature transforms, padding, stacking the
batches of one fused call, the copy to the device) overlaps with the device's
work on the previous group. A group holds as many full batches as may run before
the loop must next act on the host (log, summary, checkpoint, a hook's step, the
last step); `run_length(step)` says how many. Each group carries the input
position after its last batch, so a checkpoint saves the position of what was
trained on, not of what was read ahead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from estimators import batching
from estimators.input_pipeline import HostBatch, InputPipeline

__all__ = ["Group", "GroupFeeder"]

# Stacked input of one fused call: larger groups cost more per batch to gather
# (a 40 MB gather allocates fresh pages: 0.16 ms a 400 KB batch, against 0.025
# ms in 8 MB groups that reuse the allocator's memory and the cache).
_MAX_GROUP_BYTES = 8 << 20


@dataclasses.dataclass
class Group:
    """Batches for one compiled call: `stacked` (leading axis = compiled steps, of
    which the first `size` run) or one."""

    batches: Any
    size: int
    stacked: bool
    position: Any


@dataclasses.dataclass
class _Failure:
    error: BaseException


_END = object()


def _default_place(tree: Any, stacked: bool) -> Any:
    # On the CPU the compiled call takes numpy arrays as they are; an explicit
    # device_put of every array of a group costs more than it saves.
    return tree if jax.default_backend() == "cpu" else jax.device_put(tree)


def _shapes(raw: HostBatch) -> list[tuple[int, ...]]:
    return [np.shape(leaf) for leaf in jax.tree.leaves(raw[:2])]


def _nbytes(tree: Any) -> int:
    return sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(tree))


class GroupFeeder:
    """Iterates `Group`s prepared by a daemon thread; `close()` stops it.

    Args:
        first: The first host batch `(features, labels, rows)`; its rows are the
            batch size that groups stack.
        pipeline: The input pipeline the rest comes from.
        batches: Its batch iterator (already advanced past `first`).
        start_step: The global_step before the first group.
        last_step: Stop after this step (None: at the end of the input).
        run_length: Given a global_step, how many steps may run from it before
            the loop must act on the host (>= 1).
        longest: The most `run_length` gives; stacked groups are padded to
            `batching.steps_size(k, longest)` steps (their real count is `size`).
        depth: Groups prepared ahead.
        place: Puts a group's host arrays on the devices (`stacked` leading axis
            = steps); default: as they are on CPU, `jax.device_put` elsewhere.
        multiple: Batches are padded to a multiple of this (the device count).
    """

    def __init__(
        self,
        first: HostBatch,
        pipeline: InputPipeline,
        batches: Iterator[HostBatch],
        *,
        start_step: int,
        last_step: int | None,
        run_length: Callable[[int], int],
        longest: int = 1,
        depth: int = 2,
        place: Callable[[Any, bool], Any] | None = None,
        multiple: int = 1,
    ) -> None:
        self._pending: list[HostBatch] = [first]
        self.batch_size = first[2]
        self._pipeline = pipeline
        self._batches = batches
        self._place = place or _default_place
        self._multiple = multiple
        self._step = start_step
        self._last_step = last_step
        self._run_length = run_length
        budget = _MAX_GROUP_BYTES // max(_nbytes(first[:2]), 1)
        self._longest = max(1, min(longest, budget))
        self._bulk = True
        self.input_exhausted = False
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="estimators-input", daemon=True
        )
        self._thread.start()

    def __iter__(self) -> Iterator[Group]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        """Stops the thread and drops what it prepared ahead."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                limit = max(1, min(self._run_length(self._step), self._longest))
                if self._last_step is not None:
                    if self._step >= self._last_step:
                        break
                    limit = min(limit, self._last_step - self._step)
                group = self._collect(limit)
                if group is None:
                    self.input_exhausted = True
                    break
                self._step += group.size
                if not self._put(group):
                    return
            self._put(_END)
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Failure(error))

    def _batch(self, raw: HostBatch) -> batching.Batch:
        features, labels, rows = raw
        size = batching.train_size(rows, self._multiple)
        return batching.pad(features, labels, rows, size)

    def _is_full(self, raw: HostBatch | None) -> bool:
        rows = self.batch_size if raw is None else raw[2]
        return rows == self.batch_size and self.batch_size % self._multiple == 0

    def _next(self) -> HostBatch | None:
        if self._pending:
            return self._pending.pop()
        return next(self._batches, None)

    def _collect(self, limit: int) -> Group | None:
        """Up to `limit` full batches stacked, or one batch of another size."""
        if limit > 1 and not self._pending and self._bulk and self._is_full(None):
            stacked = self._pipeline.next_stacked(limit, self.batch_size)
            if stacked is None:
                self._bulk = hasattr(self._pipeline.iterator, "next_stacked")
            else:
                features, labels, k = stacked
                batch = batching.Batch(features, labels, None)
                return self._group(batch, k, True)
        raw = self._next()
        if raw is None:
            return None
        if limit == 1 or not self._is_full(raw):
            return self._group(self._batch(raw), 1, False)
        group, shapes = [raw], _shapes(raw)
        position = None  # None: the input's position now
        while len(group) < limit:
            before = self._pipeline.get_state()
            raw = self._next()
            if raw is None:
                break
            if not self._is_full(raw) or _shapes(raw) != shapes:
                # Read ahead but not trained in this group: the group ends before it
                # (a short batch, or id lists of another width: not stackable).
                self._pending.append(raw)
                position = before
                break
            group.append(raw)
        if len(group) == 1:
            return self._group(self._batch(group[0]), 1, False, position)
        features, labels = jax.tree.map(
            lambda *xs: np.stack(xs), *[(f, lab) for f, lab, _ in group]
        )
        batch = batching.Batch(features, labels, None)
        return self._group(batch, len(group), True, position)

    def _group(
        self, batch: batching.Batch, size: int, stacked: bool, position: Any = None
    ) -> Group:
        if position is None:
            position = self._pipeline.get_state()
        if stacked:
            compiled = batching.steps_size(size, self._longest)
            batch = batching.pad_steps(batch, size, compiled)
        return Group(self._place(batch, stacked), size, stacked, position)
