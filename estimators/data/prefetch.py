"""`prefetch`: produce blocks on a background thread while the consumer works.

The thread pulls from the parent stage into a bounded queue. With each block
it queues the parent's position right after that block, so the position
reported to the consumer is the one of the last block *it* received, however
far ahead the thread has read. Exceptions in the thread are re-raised to the
consumer; closing the iterator (or dropping it) stops the thread.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from typing import Any

from estimators.data._block import Block
from estimators.data._node import Context, Node, NodeIterator

__all__ = ["PrefetchNode"]

_POLL_SECONDS = 0.05
_CLOSE_SECONDS = 30.0


class PrefetchNode(Node):
    """Reads up to `buffer_size` blocks ahead on a thread."""

    transparent = True

    def __init__(self, parent: Node, buffer_size: int) -> None:
        self.parent = parent
        self.batched = parent.batched
        self.buffer_size = buffer_size

    def describe(self) -> str:
        return f"prefetch({self.buffer_size})"

    def cardinality(self) -> int:
        return self.parent.cardinality()

    def open(self, context: Context, state: dict[str, Any] | None) -> NodeIterator:
        return _PrefetchIterator(self.parent.open(context, state), self.buffer_size)


class _PrefetchIterator(NodeIterator):
    def __init__(self, parent: NodeIterator, buffer_size: int) -> None:
        self._state = parent.state()
        self._queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue(buffer_size)
        self._stop = threading.Event()
        self._done = False
        # The thread must not reference `self`, so that dropping the iterator
        # runs the finalizer, which tells the thread to stop.
        self._thread = threading.Thread(
            target=_produce,
            args=(parent, self._queue, self._stop),
            name="estimators-data-prefetch",
            daemon=True,
        )
        self._thread.start()
        self._finalizer = weakref.finalize(self, self._stop.set)

    def __next__(self) -> Block:
        if self._done:
            raise StopIteration
        kind, payload, state = self._queue.get()
        if kind == "block":
            self._state = state
            return payload
        self._done = True
        if kind == "error":
            raise payload
        raise StopIteration

    def state(self) -> dict[str, Any]:
        return self._state

    def close(self) -> None:
        self._done = True
        self._stop.set()
        # The thread stops at its next block; one stuck in a slow read or map
        # function is a daemon and is left behind after the deadline.
        deadline = time.monotonic() + _CLOSE_SECONDS
        while self._thread.is_alive() and time.monotonic() < deadline:
            _drain(self._queue)
            self._thread.join(_POLL_SECONDS)
        _drain(self._queue)


def _produce(
    parent: NodeIterator, out: queue.Queue[Any], stop: threading.Event
) -> None:
    try:
        while not stop.is_set():
            block = next(parent, None)
            if block is None:
                _put(out, ("end", None, None), stop)
                return
            if not _put(out, ("block", block, parent.state()), stop):
                return
    except BaseException as error:  # handed to the consumer, who re-raises it
        _put(out, ("error", error, None), stop)
    finally:
        parent.close()


def _put(out: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _drain(items: queue.Queue[Any]) -> None:
    try:
        while True:
            items.get_nowait()
    except queue.Empty:
        pass
