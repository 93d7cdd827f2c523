"""From an `input_fn` to host batches the compiled steps can take.

Calls the input_fn with the arguments it accepts, normalises what it returns
(a Dataset, an iterable of batches, or one `(features, labels)` tuple), runs the
host half of the feature columns and converts to numpy. `estimators.batching`
decides the compiled sizes.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np
import pyarrow as pa

from estimators.data._provenance import name_input_row
from estimators.mode_keys import ModeKeys

__all__ = ["HostBatch", "InputPipeline", "call_input_fn", "to_numpy"]

logger = logging.getLogger(__name__)

HostBatch = tuple[Any, Any, int]  # features, labels, rows


def call_input_fn(
    input_fn: Callable[..., Any], mode: str, params: Any, config: Any
) -> Any:
    """Calls `input_fn` with whichever of params, mode, config it accepts."""
    if not callable(input_fn):
        raise TypeError(
            f"`input_fn` must be a callable returning batches, got "
            f"{type(input_fn).__name__}."
        )
    try:
        names = set(inspect.signature(input_fn).parameters)
    except (TypeError, ValueError):
        names = set()
    available = {
        "params": params,
        "mode": ModeKeys(mode),
        "config": config,
        "input_context": _input_context(config, mode),
    }
    return input_fn(**{k: v for k, v in available.items() if k in names})


def _input_context(config: Any, mode: str) -> Any:
    """The distribution strategy's `InputContext` for `mode`, or None."""
    field = "train_distribute" if mode == ModeKeys.TRAIN else "eval_distribute"
    strategy = getattr(config, field, None)
    return strategy.input_context() if strategy is not None else None


def _is_string_array(value: Any) -> str | None:
    """Names the kind of a column JAX cannot hold, or None."""
    module = type(value).__module__
    if module.startswith("pyarrow"):
        import pyarrow as pa

        vtype = value.type
        if pa.types.is_string(vtype) or pa.types.is_large_string(vtype):
            return "string"
        if pa.types.is_binary(vtype) or pa.types.is_large_binary(vtype):
            return "binary"
        if pa.types.is_dictionary(vtype):
            return "dictionary"
        return None
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUSV":
        return "string"
    return None


def to_numpy(name: str, value: Any) -> np.ndarray:
    if type(value).__module__.startswith("pyarrow"):
        value = value.to_numpy(zero_copy_only=False)
    array = np.asarray(value)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int64:
        return array.astype(np.int32)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"feature {name!r}: expected a numeric column, got dtype {array.dtype}."
        )
    return array


def _labelsto_numpy(labels: Any) -> Any:
    if labels is None:
        return None
    if isinstance(labels, Mapping):
        return {k: to_numpy(f"labels[{k!r}]", v) for k, v in labels.items()}
    if _is_string_array(labels):
        raise ValueError(
            "labels are strings; map them to integer ids first (canned classifiers "
            "take label_vocabulary=[...] for this)."
        )
    return to_numpy("labels", labels)


def _rows(features: Mapping[str, Any], labels: Any) -> int:
    counts = {name: len(value) for name, value in features.items()}
    if not counts:
        raise ValueError(
            "the input has no features: features must be a non-empty dict."
        )
    rows = next(iter(counts.values()))
    for name, count in counts.items():
        if count != rows:
            raise ValueError(
                f"feature {name!r} has {count} rows but feature "
                f"{next(iter(counts))!r} has {rows}; all features of a batch must "
                "have the same length."
            )
    label_items = labels.items() if isinstance(labels, Mapping) else [("", labels)]
    for name, value in label_items:
        if value is not None and len(value) != rows:
            where = f"labels[{name!r}]" if name else "labels"
            raise ValueError(
                f"{where} has {len(value)} rows but the features have {rows}."
            )
    return rows


def _split(element: Any) -> tuple[Any, Any]:
    if isinstance(element, tuple) and len(element) == 2:
        return element
    if isinstance(element, Mapping | np.ndarray):
        return element, None
    raise TypeError(
        "input_fn must yield (features, labels) tuples, feature dicts or arrays, got "
        f"{type(element).__name__}."
    )


class InputPipeline:
    """Iterates host batches `(features, labels, rows)` for one Estimator call.

    Args:
        result: What the input_fn returned.
        mode: The mode (a single `(features, labels)` tuple repeats in TRAIN).
        transform: Host half of the feature columns, applied to each batch.
        label_transform: Host mapping of labels (e.g. a label vocabulary).
    """

    def __init__(
        self,
        result: Any,
        mode: str,
        transform: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
        label_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.transform = transform
        self.label_transform = label_transform
        self.host_only: dict[str, str] = {}
        self.iterator: Any
        self._whole = True  # one batch is the whole input: its rows are the input's
        if (
            isinstance(result, tuple)
            and len(result) == 2
            and isinstance(result[0], Mapping | np.ndarray)
        ):
            single = [result]
            self.iterator = (
                itertools.repeat(result) if mode == ModeKeys.TRAIN else iter(single)
            )
        elif isinstance(result, Mapping):
            self.iterator = iter([(result, None)])
        else:
            self._whole = False
            try:
                self.iterator = iter(result)
            except TypeError:
                raise TypeError(
                    "input_fn must return an est.data.Dataset, an iterable of "
                    f"(features, labels) batches or one such tuple, got "
                    f"{type(result).__name__}."
                ) from None

    def get_state(self) -> dict[str, Any] | None:
        """The position of the underlying Dataset, if it can report one."""
        get_state = getattr(self.iterator, "get_state", None)
        return get_state() if get_state is not None else None

    def set_state(self, state: Mapping[str, Any]) -> bool:
        """Restores a Dataset position; False when the input cannot or will not."""
        set_state = getattr(self.iterator, "set_state", None)
        if set_state is None:
            return False
        try:
            set_state(state)
        except ValueError as error:
            logger.warning(
                "Input read from its start, not the saved position: %s", error
            )
            return False
        return True

    def __iter__(self) -> Iterator[HostBatch]:
        for number, element in enumerate(self.iterator):
            try:
                batch = self.prepare(*_split(element))
            except (ValueError, TypeError) as error:
                counted = None if self._whole else number
                name_input_row(error, self.iterator, counted)  # the input's row
                raise
            yield batch

    def next_stacked(self, count: int, batch_size: int) -> HostBatch | None:
        """Up to `count` full batches of `batch_size` rows, stacked (leading axis).

        Uses the input's bulk reader (`next_stacked`, as `est.data` iterators
        have): one gather for many batches, and one host transform over all
        their rows. Returns `(features, labels, k)` with k >= 1 batches, or None
        when the input has no bulk reader or its next batch is not a full one;
        the caller then reads batch by batch.
        """
        bulk = getattr(self.iterator, "next_stacked", None)
        if bulk is None or count < 1:
            return None
        element = bulk(count)
        if element is None:
            return None
        features, labels = _split(element)
        first = jax.tree.leaves((features, labels))[0]
        # A string column comes as a pyarrow FixedSizeListArray of k lists.
        if isinstance(first, pa.FixedSizeListArray):
            k, rows = len(first), first.type.list_size
        else:
            k, rows = first.shape[:2]
        if rows != batch_size:
            raise ValueError(
                f"the input's next_stacked gave batches of {rows} rows,"
                f" expected {batch_size}."
            )
        flat = jax.tree.map(
            lambda a: (
                a.flatten()
                if isinstance(a, pa.FixedSizeListArray)
                else np.reshape(a, (k * batch_size, *a.shape[2:]))
            ),
            (features, labels),
        )
        try:
            host, host_labels, _ = self.prepare(*flat)
        except (ValueError, TypeError) as error:
            name_input_row(error, self.iterator)  # "row 5" -> the input's row
            raise
        stacked = jax.tree.map(
            lambda a: np.reshape(a, (k, batch_size, *a.shape[1:])), (host, host_labels)
        )
        return stacked[0], stacked[1], k

    def prepare(
        self, features: Any, labels: Any
    ) -> tuple[dict[str, np.ndarray] | np.ndarray, Any, int]:
        """Transforms and converts one raw batch; returns it with its row count.

        Features are a dict of columns or, as tf's numpy_input_fn allowed, one array.
        """
        if not isinstance(features, Mapping):
            if _is_string_array(features) or not hasattr(features, "__len__"):
                raise TypeError(
                    "features must be a dict of column name to array (or one numeric"
                    f" array), got {type(features).__name__}."
                )
            rows = _rows({"features": features}, labels)
            return to_numpy("features", features), self._labels(labels), rows
        rows = _rows(features, labels)
        if self.transform is not None:
            features = self.transform(features)
        host: dict[str, np.ndarray] = {}
        for name, value in features.items():
            kind = _is_string_array(value)
            if kind is not None:
                self.host_only[name] = kind
                continue
            host[name] = to_numpy(name, value)
        return host, self._labels(labels), rows

    def _labels(self, labels: Any) -> Any:
        if self.label_transform is not None and labels is not None:
            labels = self.label_transform(labels)
        return _labelsto_numpy(labels)
