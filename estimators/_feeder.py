"""Prepares training batches on a background thread, ahead of the device.

The host work of each step (reading, feature transforms, padding, stacking
`steps_per_execution` batches, the copy to the device) overlaps with the
device's work on the previous group, so small models are not held back by it.
Each group carries the input position after its last batch, so a checkpoint
saves the position of what was trained on, not of what was read ahead.
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

from estimators._input import pad_batch

__all__ = ["Group", "GroupFeeder"]


@dataclasses.dataclass
class Group:
    """Batches for one compiled call: `stacked` (leading axis = steps) or a list."""

    batches: Any
    size: int
    stacked: bool
    position: Any
    exhausted: bool


@dataclasses.dataclass
class _Failure:
    error: BaseException


_END = object()


def _default_place(tree: Any, stacked: bool) -> Any:
    # On the CPU the compiled call takes numpy arrays as they are; an explicit
    # device_put of every array of a group costs more than it saves.
    return tree if jax.default_backend() == "cpu" else jax.device_put(tree)


class GroupFeeder:
    """Iterates `Group`s prepared by a daemon thread; `close()` stops it.

    Args:
        first: The first batch, already padded (it defined the batch size).
        batches: The remaining `(features, labels, rows)` host batches.
        batch_size: The compiled batch size; smaller batches are padded.
        steps_per_execution: Full batches stacked into one group.
        start_step: The global_step before the first group.
        last_step: Stop after this step (None: at the end of the input).
        position: Returns the input position after the batches read so far.
        depth: Groups prepared ahead.
        place: `place(tree, stacked)` puts a group's host arrays on the devices
            (`stacked`: leading axis = steps); default `jax.device_put`.
        multiple: Batches are padded to a multiple of this (the device count).
    """

    def __init__(
        self,
        first: Any,
        batches: Iterator[Any],
        *,
        batch_size: int,
        steps_per_execution: int,
        start_step: int,
        last_step: int | None,
        position: Callable[[], Any],
        depth: int = 2,
        place: Callable[[Any, bool], Any] | None = None,
        multiple: int = 1,
    ) -> None:
        self._pending = [first]
        self._full_rows = float(first[2].sum())  # real rows of a full batch
        self._place = place or _default_place
        self.input_exhausted = False
        self._multiple = multiple
        self._batches = batches
        self._batch_size = batch_size
        self._per_call = steps_per_execution
        self._step = start_step
        self._last_step = last_step
        self._position = position
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
                if self._last_step is not None and self._step >= self._last_step:
                    break
                batches, exhausted = self._collect()
                if batches:
                    self._step += len(batches)
                    if not self._put(self._group(batches, exhausted)):
                        return
                if exhausted or not batches:
                    self.input_exhausted = True
                    break
            self._put(_END)
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Failure(error))

    def _group(self, batches: list[Any], exhausted: bool) -> Group:
        position = self._position()
        if len(batches) > 1:
            stacked = jax.tree.map(lambda *xs: np.stack(xs), *batches)
            return Group(
                self._place(stacked, True), len(batches), True, position, exhausted
            )
        return Group(self._place(batches, False), 1, False, position, exhausted)

    def _collect(self) -> tuple[list[Any], bool]:
        """Up to `steps_per_execution` full batches, or one odd-sized batch.

        A partial last batch is padded to the batch size and masked; a batch of
        another size runs on its own (one more compilation).
        """
        limit = self._per_call
        if self._last_step is not None:
            limit = min(limit, self._last_step - self._step)
        group: list[Any] = []
        while len(group) < limit:
            if self._pending:
                batch = self._pending.pop()
            else:
                raw = next(self._batches, None)
                if raw is None:
                    return group, True
                features, labels, rows = raw
                size = max(rows, self._batch_size)
                size = -(-size // self._multiple) * self._multiple
                batch = pad_batch(features, labels, rows, size)
            full = (
                len(batch[2]) == self._batch_size and batch[2].sum() == self._full_rows
            )
            if not full and group:
                self._pending.append(batch)
                return group, False
            group.append(batch)
            if not full:
                break
        return group, False
