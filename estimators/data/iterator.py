"""`DatasetIterator`: iterates a Dataset and saves / restores its position.

The state is a small JSON-able dict:

    {"format": "estimators.data/1",
     "pipeline": ["parquet('data', 4 files, label='y')", "shuffle(...)", ...],
     "fingerprint": [<hash of each step's arguments and data identity>, ...],
     "seed": <base seed of shuffles given no seed>,
     "position": <nested positions of the steps, see _node.py>,
     "identity": [<each step's data identity, see _identity.py, or None>, ...]}

It names the next element the *consumer* will get, even with prefetch (each
prefetched block carries the position after it). `set_state` checks the
pipeline and fingerprint first and says which step differs and, for other
data, which column or file changed (from "identity"; a state without it is
checked by fingerprint alone).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.data._block import first_row, stack_rows
from estimators.data._identity import describe_changes
from estimators.data._indexed import index_plan
from estimators.data._node import Context, Node, NodeIterator
from estimators.data._provenance import Twin, twin_of
from estimators.data._structure import flatten, pack
from estimators.data.batch import BatchNode

__all__ = ["DatasetIterator"]

STATE_FORMAT = "estimators.data/1"
_KEYS = ("format", "pipeline", "fingerprint", "seed", "position")
_END = object()  # held by next_stacked: the input ended after this position
_ANCHOR_EVERY = 64  # input_row replays at most this many elements (and a read)


class DatasetIterator(Iterator[Any]):
    """Iterates a Dataset's elements; `get_state` / `set_state` save the position.

    Obtained with `iter(dataset)` or `dataset.iterator(state)`. Unbatched
    datasets yield one row at a time (for inspection; training wants `batch`).

    Example:
        >>> import numpy as np
        >>> from estimators.data import Dataset
        >>> ds = Dataset.from_tensor_slices({"x": np.arange(6)}).batch(2)
        >>> it = iter(ds)
        >>> next(it)["x"].tolist()
        [0, 1]
        >>> state = it.get_state()
        >>> [b["x"].tolist() for b in ds.iterator(state)]
        [[2, 3], [4, 5]]
    """

    def __init__(self, root: Node, state: Mapping[str, Any] | None = None) -> None:
        self._rows = not root.batched
        self._node = BatchNode(root, 1, False) if self._rows else root
        self._plan = index_plan(self._node)
        self._batch_size = _batch_size(root)
        self._steps = [n for n in root.chain() if not n.transparent]
        self._fingerprint: list[str] | None = None
        self._identity: list[dict[str, str] | None] | None = None
        self._seed = secrets.randbits(63)
        self._position: dict[str, Any] | None = None
        self._iterator: NodeIterator | None = None
        # An element read ahead by next_stacked and not returned, with the
        # position before it.
        self._held: tuple[Any, Any] | None = None
        # For input_row: elements returned; the count before the last read
        # (and whether it was stacked); a position and the count there, taken
        # every _ANCHOR_EVERY elements (a position costs a little to take).
        self._count = 0
        self._last: tuple[int, bool] | None = None
        self._anchor: tuple[Any, int] | None = None
        self._twin: Twin | None | bool = False  # False: not built yet
        if state is not None:
            self.set_state(state)

    def __iter__(self) -> DatasetIterator:
        return self

    def __next__(self) -> Any:
        self._mark(stacked=False)
        element = self._next_element()
        self._count += 1
        return element

    def _next_element(self) -> Any:
        if self._held is not None:
            if self._held[1] is _END:
                raise StopIteration
            element, self._held = self._held[1], None
            return element
        block = next(self._open())
        if self._plan is not None:
            block = self._plan.gather(block)
        return first_row(block) if self._rows else block.element()

    def next_stacked(self, max_batches: int) -> Any:
        """Up to `max_batches` full batches stacked on a new leading axis.

        Every numpy leaf is `[k, batch_size, ...]` (`1 <= k <= max_batches`);
        a string (Arrow) leaf is a `pyarrow.FixedSizeListArray` of `k` lists
        of `batch_size` (`.values` holds the `k * batch_size` rows). The
        elements and the position after the call are exactly those of `k`
        calls of `next()`. `k < max_batches` only when the batch after the
        `k`-th would be partial or the input ends. Returns None when the next
        element is a partial batch or there is none: `next()` then returns
        it or raises `StopIteration`.

        In-memory pipelines of `shuffle`, `repeat`, `take`, `skip`, `shard`,
        `cache` and `batch` compute the batches' row numbers in bulk and
        gather each column once. Other pipelines that end with `batch` (files,
        `map_blocks`, `filter` before `batch`, ...) cut the `k` batches from
        their blocks at once. The rest (a `prefetch`, `map` or `shuffle`
        after `batch`, `padded_batch`) stack `k` elements read with `next()`;
        an element of another batch size or shape ends the stack and is kept
        for the next call.

        Example:
            >>> import numpy as np
            >>> from estimators.data import Dataset
            >>> ds = Dataset.from_tensor_slices(({"x": np.arange(10.0)}, np.arange(10)))
            >>> it = iter(ds.shuffle(10, seed=0).repeat(2).batch(4))
            >>> features, labels = it.next_stacked(100)
            >>> features["x"].shape, labels.shape  # 20 rows: 5 full batches
            ((5, 4), (5, 4))
            >>> it.next_stacked(100) is None
            True
        """
        if isinstance(max_batches, bool) or not isinstance(max_batches, int):
            raise TypeError(f"`max_batches` must be an int, got {max_batches!r}.")
        if max_batches < 1:
            raise ValueError(f"`max_batches` must be >= 1, got {max_batches}.")
        if self._rows:
            raise ValueError(
                "next_stacked() needs a batched dataset: call .batch(batch_size)."
            )
        self._mark(stacked=True)
        iterator = self._open()
        bulk = getattr(iterator, "next_batches", None)
        if bulk is not None and self._held is None:
            block = bulk(max_batches)
            if block is None:
                return None
            assert self._batch_size is not None
            count = block.num_rows // self._batch_size
            self._count += count
            if self._plan is not None:
                return self._plan.stacked(block, count).element()
            return stack_rows(block, count).element()
        return self._stack_elements(max_batches)

    def _stack_elements(self, max_batches: int) -> Any:
        elements: list[Any] = []
        shapes = None
        size = self._batch_size
        while len(elements) < max_batches:
            if self._held is not None:
                (position, element), self._held = self._held, None
            else:
                position = self._open().state()
                try:
                    element = self._next_element()
                except StopIteration:
                    element = _END
            if element is _END:
                self._held = (position, _END)
                break
            spec, leaves = flatten(element)
            layout = (spec, [_leaf_shape(leaf) for leaf in leaves])
            rows = None if layout[1][0] is None else layout[1][0][0]
            if size is None:  # unknown: the first element stacked sets it
                size = self._batch_size = rows
            if (
                rows is None
                or rows != size
                or (shapes is not None and layout != shapes)
            ):
                self._held = (position, element)
                break
            shapes = layout
            elements.append(leaves)
        if not elements:
            return None
        self._count += len(elements)
        assert shapes is not None
        columns = [_stack([e[i] for e in elements]) for i in range(len(elements[0]))]
        return pack(shapes[0], columns)

    def _open(self) -> NodeIterator:
        if self._iterator is None:
            node = self._node if self._plan is None else self._plan.node
            self._iterator = node.open(Context(self._seed), self._position)
        return self._iterator

    def _mark(self, *, stacked: bool) -> None:
        if self._anchor is None or self._count - self._anchor[1] >= _ANCHOR_EVERY:
            self._anchor = (self._current_position(), self._count)
        self._last = (self._count, stacked)

    def input_row(self, row: int) -> str:
        """Names row `row` of the last element read (of the `k * batch_size`
        rows after `next_stacked`) by its place in the input.

        "row 13 of the DataFrame" for in-memory data (rows before any
        shuffle), "row 13 of 'part-0.parquet'" for files, and, where the
        pipeline cannot tell (`from_generator`, `filter`, ...), "row 5 of
        batch 1": batches and rows count from 0, batches since the iterator
        was made or restored. Replays the last read, so call it only for an
        error message.

        Example:
            >>> import numpy as np
            >>> from estimators.data import Dataset
            >>> it = iter(Dataset.from_tensor_slices({"x": np.arange(20)}).batch(8))
            >>> _ = next(it), next(it)  # the 2nd batch: rows 8-15
            >>> it.input_row(5)
            'row 13 of the input'
        """
        if self._last is None or self._anchor is None:
            raise ValueError("input_row(): nothing was read yet.")
        count, stacked = self._last
        size = (self._batch_size or 1) if stacked else max(row + 1, 1)
        element, within = divmod(row, size)
        if self._twin is False:
            self._twin = twin_of(self._node)
        if isinstance(self._twin, Twin):
            position, anchored = self._anchor
            after = count - anchored + element  # elements from the anchor on
            context = Context(self._seed)
            try:
                named = self._twin.input_row(context, position, after, within)
            except LookupError:  # an inner dataset without row numbers
                named = None
            if named is not None:
                return named
        return f"row {within} of batch {count + element}"

    def get_state(self) -> dict[str, Any]:
        """The position of the next element to be returned, as a JSON-able dict."""
        return {
            "format": STATE_FORMAT,
            "pipeline": [n.describe() for n in self._steps],
            "fingerprint": self._fingerprints(),
            "seed": self._seed,
            "position": _plain(self._current_position()),
            "identity": self._identities(),
        }

    def _current_position(self) -> Any:
        if self._held is not None:
            return self._held[0]
        return self._open().state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continues from a position saved by `get_state` of the same pipeline.

        Raises:
            ValueError: `state` is not such a position, or belongs to a pipeline
                with other steps, arguments or data; the message names the step.
        """
        self._check(state)
        reason = _unsaveable(state["position"])
        if reason is not None:
            raise ValueError(f"dataset position was not saved: {reason}")
        self.close()
        self._seed = int(state["seed"])
        self._position = state["position"]
        self._count, self._last, self._anchor = 0, None, None

    def close(self) -> None:
        """Stops background threads and closes files; iterating again resumes."""
        if self._iterator is not None:
            self._position = _plain(self._current_position())
            self._held = None
            self._iterator.close()
            self._iterator = None

    def __enter__(self) -> DatasetIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _identities(self) -> list[dict[str, str] | None]:
        """Each step's data identity, computed once per iterator (hashing
        in-memory columns and reading file footers costs a little)."""
        if self._identity is None:
            self._identity = [n.identity() for n in self._steps]
        return self._identity

    def _fingerprints(self) -> list[str]:
        if self._fingerprint is None:
            self._fingerprint = [
                hashlib.sha256(
                    json.dumps(
                        [n.describe(), n.fingerprint(), identity], default=str
                    ).encode()
                ).hexdigest()[:16]
                for n, identity in zip(self._steps, self._identities(), strict=True)
            ]
        return self._fingerprint

    def _check(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or any(k not in state for k in _KEYS):
            raise ValueError(
                f"not a dataset position: expected a dict with keys {list(_KEYS)}, "
                f"got {_short(state)}."
            )
        if state["format"] != STATE_FORMAT:
            raise ValueError(
                f"dataset position has format {state['format']!r}; this version "
                f"reads {STATE_FORMAT!r}."
            )
        saved, mine = list(state["pipeline"]), [n.describe() for n in self._steps]
        for step, (old, new) in enumerate(zip(saved, mine, strict=False)):
            if old != new:
                raise ValueError(
                    f"dataset position belongs to a different pipeline: step {step} "
                    f"is {old!r} in the saved position but {new!r} here."
                )
        if len(saved) != len(mine):
            raise ValueError(
                f"dataset position belongs to a different pipeline: it has "
                f"{len(saved)} steps ({' -> '.join(saved)}), this dataset has "
                f"{len(mine)} ({' -> '.join(mine)})."
            )
        for step, (old, new) in enumerate(
            zip(state["fingerprint"], self._fingerprints(), strict=False)
        ):
            if old != new:
                raise ValueError(
                    f"dataset position belongs to different data: step {step} "
                    f"({mine[step]}) {self._changes(state, step)}."
                )

    def _changes(self, state: Mapping[str, Any], step: int) -> str:
        """What differs at `step` between the saved data and this dataset's."""
        saved = state.get("identity")
        before = saved[step] if isinstance(saved, list) and step < len(saved) else None
        after = self._identities()[step]
        if isinstance(before, Mapping) and after is not None:
            changes = describe_changes(before, after)
            if changes:
                return f"has the same arguments but other data: {changes}"
            return "has the same data but other columns, dtypes or read options"
        return "has the same arguments but other files, columns, dtypes or values"


def _batch_size(root: Node) -> int | None:
    """The batch size of the last `batch`, None when unknown (e.g. after `zip`)."""
    for node in reversed(root.chain()):
        size = getattr(node, "batch_size", None)
        if size is not None:
            return int(size)
    return None


def _leaf_shape(leaf: Any) -> tuple[int, ...] | None:
    if isinstance(leaf, np.ndarray):
        return leaf.shape if leaf.ndim else None
    if isinstance(leaf, pa.Array):
        return (len(leaf), str(leaf.type))  # type: ignore[return-value]
    return None


def _stack(leaves: list[Any]) -> Any:
    if isinstance(leaves[0], np.ndarray):
        return np.stack(leaves)
    return pa.FixedSizeListArray.from_arrays(pa.concat_arrays(leaves), len(leaves[0]))


def _unsaveable(position: Any) -> str | None:
    """The reason a position could not be saved (a stage's marker), or None."""
    if isinstance(position, Mapping):
        if "unsaveable" in position:
            return str(position["unsaveable"])
        values: Any = position.values()
    elif isinstance(position, list | tuple):
        values = position
    else:
        return None
    for value in values:
        reason = _unsaveable(value)
        if reason is not None:
            return reason
    return None


def _plain(value: Any) -> Any:
    """The position with numpy scalars turned into Python ones (JSON-able)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
