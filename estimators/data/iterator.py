"""`DatasetIterator`: iterates a Dataset and saves / restores its position.

The state is a small JSON-able dict:

    {"format": "estimators.data/1",
     "pipeline": ["parquet('data', 4 files, label='y')", "shuffle(...)", ...],
     "fingerprint": [<hash of each step's arguments and data identity>, ...],
     "seed": <base seed of shuffles given no seed>,
     "position": <nested positions of the steps, see _node.py>}

It names the next element the *consumer* will get, even with prefetch (each
prefetched block carries the position after it). `set_state` checks the
pipeline and fingerprint first and says which step differs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from estimators.data._block import Block
from estimators.data._node import Context, Node, NodeIterator
from estimators.data._structure import pack
from estimators.data.batch import BatchNode

__all__ = ["DatasetIterator"]

STATE_FORMAT = "estimators.data/1"
_KEYS = ("format", "pipeline", "fingerprint", "seed", "position")


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
        self._steps = [n for n in root.chain() if not n.transparent]
        self._fingerprint: list[str] | None = None
        self._seed = secrets.randbits(63)
        self._position: dict[str, Any] | None = None
        self._iterator: NodeIterator | None = None
        if state is not None:
            self.set_state(state)

    def __iter__(self) -> DatasetIterator:
        return self

    def __next__(self) -> Any:
        block = next(self._open())
        return _first_row(block) if self._rows else block.element()

    def _open(self) -> NodeIterator:
        if self._iterator is None:
            self._iterator = self._node.open(Context(self._seed), self._position)
        return self._iterator

    def get_state(self) -> dict[str, Any]:
        """The position of the next element to be returned, as a JSON-able dict."""
        return {
            "format": STATE_FORMAT,
            "pipeline": [n.describe() for n in self._steps],
            "fingerprint": self._fingerprints(),
            "seed": self._seed,
            "position": _plain(self._open().state()),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continues from a position saved by `get_state` of the same pipeline.

        Raises:
            ValueError: `state` is not such a position, or belongs to a pipeline
                with other steps, arguments or data; the message names the step.
        """
        self._check(state)
        self.close()
        self._seed = int(state["seed"])
        self._position = state["position"]

    def close(self) -> None:
        """Stops background threads and closes files; iterating again resumes."""
        if self._iterator is not None:
            self._position = _plain(self._iterator.state())
            self._iterator.close()
            self._iterator = None

    def __enter__(self) -> DatasetIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fingerprints(self) -> list[str]:
        if self._fingerprint is None:
            self._fingerprint = [
                hashlib.sha256(
                    json.dumps([n.describe(), n.fingerprint()], default=str).encode()
                ).hexdigest()[:16]
                for n in self._steps
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
                    f"({mine[step]}) has the same arguments but other files, sizes, "
                    "columns or dtypes."
                )


def _first_row(block: Block) -> Any:
    values = [
        column[0] if isinstance(column, np.ndarray) else column[0].as_py()
        for column in block.columns
    ]
    return pack(block.spec, values)


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
