"""Class labels on the host: names to ids for the model, ids to names after it.

JAX cannot hold strings, so a classification head maps string labels to class
ids before the batch reaches the compiled step, and class ids back to names
after predictions leave it. Both directions are vectorised (pyarrow.compute and
numpy fancy indexing), never a Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, final

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc

__all__ = ["ClassLabels", "host_array"]


def host_array(values: Any) -> np.ndarray | pa.Array:
    """`values` as a numpy array, or as a pyarrow array when it holds strings."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            return values
        if pa.types.is_dictionary(values.type):
            return values.dictionary_decode()
        if values.null_count:
            row = int(np.flatnonzero(~np.asarray(values.is_valid()))[0])
            raise ValueError(f"labels: row {row} has no label (null).")
        return values.to_numpy(zero_copy_only=False)
    to_numpy = getattr(values, "to_numpy", None)  # pandas Series / DataFrame
    return np.asarray(to_numpy() if callable(to_numpy) else values)


def _is_list(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )


def _is_text(values: np.ndarray | pa.Array) -> bool:
    return isinstance(values, pa.Array) or values.dtype.kind in "OUS"


def _check_vocabulary(vocabulary: Sequence[str] | None, n_classes: int) -> list[str]:
    if vocabulary is None:
        return [str(i) for i in range(n_classes)]
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence):
        raise ValueError(
            "`label_vocabulary` must be a list of strings, got "
            f"{type(vocabulary).__name__}."
        )
    vocabulary = list(vocabulary)
    if not all(isinstance(v, str) for v in vocabulary):
        raise ValueError(f"`label_vocabulary` must hold strings, got {vocabulary!r}.")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"`label_vocabulary` has duplicates: {vocabulary!r}.")
    if len(vocabulary) != n_classes:
        raise ValueError(
            f"`label_vocabulary` has {len(vocabulary)} entries but n_classes is "
            f"{n_classes}; give one name per class."
        )
    return vocabulary


@final
class ClassLabels:
    """The names of `n_classes` classes and the host mapping between names and ids.

    Args:
        n_classes: Number of classes.
        label_vocabulary: Class names, in class-id order; None means labels are
            already ids and the names are "0", "1", ...

    Example:
        >>> labels = ClassLabels(3, ["cat", "dog", "fish"])
        >>> labels.to_ids(np.array(["fish", "cat"])).tolist()
        [2, 0]
        >>> labels.to_names(np.array([[1], [2]])).tolist()
        [['dog'], ['fish']]
    """

    def __init__(self, n_classes: int, label_vocabulary: Sequence[str] | None = None):
        self.n_classes = n_classes
        self.has_vocabulary = label_vocabulary is not None
        self.vocabulary = _check_vocabulary(label_vocabulary, n_classes)
        self._names = np.asarray(self.vocabulary, dtype=str)

    @cached_property
    def _value_set(self) -> pa.Array:
        # Built on first use: pa.array imports pandas (0.2 s), which integer
        # labels never need.
        return pa.array(self.vocabulary, pa.string())

    def to_names(self, ids: np.ndarray) -> np.ndarray:
        """Class names (a numpy `str` array) of integer class ids of any shape."""
        return self._names[np.asarray(ids)]

    def name_predictions(self, predictions: Mapping[str, Any]) -> dict[str, Any]:
        """`predictions` with its "classes" and "all_classes" ids turned into names."""
        named = dict(predictions)
        for key in ("classes", "all_classes"):
            if key in named:
                named[key] = self.to_names(named[key])
        return named

    def to_ids(self, labels: Any, *, rows: np.ndarray | None = None) -> np.ndarray:
        """Checked int32 class ids of labels given as names or ids, shape kept.

        `rows` maps each label's position to its example, for error messages.
        """
        values = host_array(labels)
        if self.has_vocabulary:
            return self._ids_of_names(values, rows)
        if _is_text(values):
            raise ValueError(
                "labels are strings but the head has no `label_vocabulary`; pass "
                "label_vocabulary=[...] (the class names in id order) or give ids."
            )
        return self._checked_ids(values, rows)

    def to_multi_hot(self, labels: Any) -> np.ndarray:
        """int32 `[B, n_classes]` indicators of labels given as multi-hot rows or as
        one list of class ids (or names) per example."""
        if isinstance(labels, pa.ChunkedArray):
            labels = labels.combine_chunks()
        if isinstance(labels, np.ndarray) and labels.dtype == object:
            labels = pa.array(labels.tolist())
        if isinstance(labels, pa.Array) and _is_list(labels.type):
            return self._multi_hot_of_lists(labels)
        values = host_array(labels)
        shape = (len(values), self.n_classes)
        if _is_text(values) or values.ndim != 2 or values.shape != shape:
            raise ValueError(
                f"multi-label labels must be [batch_size, {self.n_classes}] multi-hot "
                "rows or one list of classes per example, got "
                f"{getattr(values, 'shape', type(values).__name__)}."
            )
        bad = (values != 0) & (values != 1)
        if np.any(bad):
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"multi-hot labels must be 0 or 1, got {values[row].tolist()} "
                f"(row {row})."
            )
        return values.astype(np.int32)

    def _multi_hot_of_lists(self, lists: pa.Array) -> np.ndarray:
        multi_hot = np.zeros((len(lists), self.n_classes), np.int32)
        flat = pc.list_flatten(lists)
        if len(flat):
            rows = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
            multi_hot[rows, self.to_ids(flat, rows=rows)] = 1
        return multi_hot

    def _ids_of_names(
        self, values: np.ndarray | pa.Array, rows: np.ndarray | None
    ) -> np.ndarray:
        if not _is_text(values):
            raise ValueError(
                f"labels are numbers ({values.dtype}) but `label_vocabulary` is "
                f"given; give the labels as strings from {self.vocabulary}."
            )
        shape = (len(values),) if isinstance(values, pa.Array) else values.shape
        flat = values if isinstance(values, pa.Array) else pa.array(values.ravel())
        if pa.types.is_binary(flat.type) or pa.types.is_large_binary(flat.type):
            flat = flat.cast(pa.string())
        ids = pc.index_in(flat, value_set=self._value_set)
        if ids.null_count:
            at = int(np.flatnonzero(~np.asarray(ids.is_valid()))[0])
            row = at if rows is None else int(rows[at])
            raise ValueError(
                f"label {flat[at].as_py()!r} (row {row}) is not in "
                f"label_vocabulary {self.vocabulary}."
            )
        return ids.to_numpy(zero_copy_only=False).astype(np.int32).reshape(shape)

    def _checked_ids(self, values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        if values.dtype.kind == "b":
            values = values.astype(np.int32)
        if values.dtype.kind not in "iuf":
            raise ValueError(f"labels must be class ids, got dtype {values.dtype}.")
        bad = (values < 0) | (values >= self.n_classes) | (values != np.round(values))
        if np.any(bad):
            at = int(np.argwhere(bad)[0][0])
            value = values.reshape(len(values), -1)[at].tolist()
            row = at if rows is None else int(rows[at])
            raise ValueError(
                f"labels must be class ids in [0, {self.n_classes}), got {value} "
                f"(row {row})."
            )
        return values.astype(np.int32)
