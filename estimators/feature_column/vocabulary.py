"""Vocabulary columns: ids from a list or file of values, or a learnt vocabulary."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc
from estimators.feature_column import hashing, validation
from estimators.feature_column.base import CategoricalColumn
from estimators.feature_column.encoded_strings import EncodedStrings
from estimators.feature_column.host_context import HostContext
from estimators.feature_column.parse_spec import VarLenFeature
from estimators.feature_column.raw_values import typed_values

__all__ = [
    "VocabularyListColumn",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
]


class _Index(dict[str, int]):
    """value -> id; -1 for a value not in the vocabulary."""

    def __missing__(self, key: str) -> int:
        return -1


_ARROW_LOOKUP_SLACK = 1_200
"""`pc.index_in` looks up `n` distinct values when `4 n > vocabulary + this`:
it costs ~35 ns per vocabulary value (rehashed each call) against ~120 ns
per distinct value for the dict (Python strings, measured)."""


_ROW_LOOKUP_SLACK = 1_200
"""`pc.index_in` looks up every row of a plain string array when there are at
least `vocabulary + this` rows (measured: from there it beats encoding the
rows and looking up their distinct values, up to 1.7x at 65,536 rows)."""

_PLAIN_STRINGS = (pa.StringArray, pa.LargeStringArray)


class _Lookup:
    """A vocabulary's value -> id table, built once and shared (never mutated).

    Strings: the batch's distinct values are looked up in a dict, or, when
    they are many, with `pc.index_in` (which hashes the whole vocabulary on
    each call); integers: the sorted values and their ids, for `searchsorted`.
    """

    def __init__(self, vocabulary: tuple[Any, ...], dtype: str) -> None:
        # Built through Arrow as before: a value Arrow rejects fails the same way.
        kind = pa.large_string() if dtype == "string" else pa.int64()
        self.values = pa.array(vocabulary, kind)
        self._index: _Index | None = None
        if dtype != "string":
            numbers = self.values.to_numpy()
            self.order = np.argsort(numbers, kind="stable")
            self.sorted = numbers[self.order]

    def string_ids(self, strings: EncodedStrings) -> np.ndarray:
        """int64 id of each distinct value of a batch, -1 when not in the vocabulary."""
        count = len(strings.dictionary)
        if 4 * count > len(self.values) + _ARROW_LOOKUP_SLACK:  # many: Arrow
            found = pc.index_in(strings.dictionary, value_set=self.values)
            return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        index = self._index if self._index is not None else self._build_index()
        texts = strings.texts()
        return np.fromiter(map(index.__getitem__, texts), np.int64, len(texts))

    def looks_up_rows(self, raw: Any) -> bool:
        """Whether `pc.index_in` over every row of `raw` beats distinct values.

        Only for a plain (not dictionary-encoded, not list) string array: the
        rows are hashed once against the vocabulary instead of twice (encoding,
        then looking the distinct values up) plus a gather; it pays off when
        the rows outnumber the vocabulary, whose hash table Arrow rebuilds on
        each call.
        """
        rows = len(self.values) + _ROW_LOOKUP_SLACK
        return type(raw) in _PLAIN_STRINGS and len(raw) >= rows

    def _build_index(self) -> _Index:
        # Filled from the end so that, as with `pc.index_in`, the first of
        # duplicated values wins (check_vocabulary rejects them, a hand-built
        # column may not). Racing threads build equal dicts: harmless.
        index = _Index()
        for i, text in reversed(list(enumerate(self.values.to_pylist()))):
            index[text] = i
        self._index = index
        return index

    def integer_ids(self, values: np.ndarray) -> np.ndarray:
        """int64 id of each integer, -1 when it is not in the vocabulary."""
        if not len(self.sorted):
            return np.full(len(values), -1, np.int64)
        position = np.searchsorted(self.sorted, values)
        np.minimum(position, len(self.sorted) - 1, out=position)
        found = self.sorted[position] == values
        return np.where(found, self.order[position], -1).astype(np.int64)


@functools.lru_cache(maxsize=32)
def _shared_lookup(vocabulary: tuple[Any, ...], dtype: str) -> _Lookup:
    return _Lookup(vocabulary, dtype)


_LOOKUPS: dict[int, tuple[weakref.ref[Any], _Lookup]] = {}
"""id(column) -> (weak reference to the column, its lookup): no hashing per batch."""


def _lookup(column: VocabularyListColumn) -> _Lookup:
    """The column's `_Lookup`, built on first use (per process, not per batch).

    Cached by column identity (a weak reference, so nothing outlives the
    column and nothing is stored on it: equality, hashing and serialisation
    are unchanged), then by the vocabulary itself (equal vocabularies of
    distinct column objects share one table).
    """
    key = id(column)
    entry = _LOOKUPS.get(key)
    if entry is not None and entry[0]() is column:
        return entry[1]
    assert column.vocabulary_list is not None
    lookup = _shared_lookup(column.vocabulary_list, column.dtype)

    def forget(ref: weakref.ref[Any], key: int = key) -> None:
        if _LOOKUPS.get(key, (None,))[0] is ref:
            _LOOKUPS.pop(key, None)

    with contextlib.suppress(TypeError):  # no weak references: lru cache only
        _LOOKUPS[key] = (weakref.ref(column, forget), lookup)
    return lookup


@dataclass(frozen=True, repr=False)
class VocabularyListColumn(CategoricalColumn):
    """Ids from an in-memory vocabulary; see `categorical_column_with_vocabulary_*`.

    `vocabulary_list` is None until `analyze()` learns it (`top_k`,
    `min_frequency`); `vocabulary_file` records where a file vocabulary came from.
    """

    key: str
    vocabulary_list: tuple[Any, ...] | None
    dtype: str = "string"
    default_value: int = -1
    num_oov_buckets: int = 0
    top_k: int | None = None
    min_frequency: int | None = None
    vocabulary_file: str | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def num_buckets(self) -> int | None:
        if self.vocabulary_list is None:
            return None
        return len(self.vocabulary_list) + self.num_oov_buckets

    @property
    def _open_analyzer(self) -> str | None:
        return "vocabulary" if self.vocabulary_list is None else None

    def _raw_keys(self) -> frozenset[str]:
        return frozenset({self.key})

    def _parse_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    def _host_ids(self, ctx: HostContext) -> np.ndarray:
        assert self.vocabulary_list is not None  # ctx.ids checked require_frozen
        if self.dtype != "string":
            return self._integer_ids(ctx)
        raw = ctx.raw(self.key, self)
        lookup = _lookup(self)
        if not ctx.has_strings(self.key) and lookup.looks_up_rows(raw):
            return self._row_ids(raw, lookup)
        # One id per distinct value of the batch, then spread over the rows.
        strings = ctx.strings(self.key, self, allow_numbers=False)
        table = lookup.string_ids(strings)
        unknown = np.flatnonzero(table < 0)
        if len(unknown):
            if self.num_oov_buckets:
                hashes = strings.fingerprints(unknown)
                oov = hashes % np.uint64(self.num_oov_buckets)
                table[unknown] = len(self.vocabulary_list) + oov.astype(np.int64)
            else:
                table[unknown] = self.default_value
        ids = strings.per_value(table.astype(np.int32), -1)
        return strings.layout.scatter(ids, -1)

    def _row_ids(self, values: pa.Array, lookup: _Lookup) -> np.ndarray:
        """`_host_ids` of a plain string array, looked up row by row in Arrow.

        The same ids as through the distinct values: missing (null, "") is
        -1, unknown values hash into the OOV buckets or get `default_value`.
        """
        assert self.vocabulary_list is not None
        found = pc.index_in(values, value_set=lookup.values)
        ids = np.array(found.fill_null(-1), dtype=np.int32)  # a writable copy
        missing = pc.fill_null(pc.binary_length(values), 0).to_numpy() == 0
        unknown = (ids < 0) & ~missing
        if unknown.any():
            if self.num_oov_buckets:
                texts = values.filter(pa.array(unknown))
                oov = hashing.string_fingerprints(texts) % np.uint64(
                    self.num_oov_buckets
                )
                ids[unknown] = len(self.vocabulary_list) + oov.astype(np.int32)
            else:
                ids[unknown] = self.default_value
        ids[missing] = -1  # "" may be in the vocabulary; it still means no value
        return ids.reshape(-1, 1)

    def _integer_ids(self, ctx: HostContext) -> np.ndarray:
        assert self.vocabulary_list is not None
        values, missing, layout = typed_values(
            ctx.raw(self.key, self), self.key, self.dtype
        )
        ids = _lookup(self).integer_ids(values.to_numpy())
        unknown = (ids < 0) & ~missing
        if unknown.any():
            if self.num_oov_buckets:
                hashes = hashing.string_fingerprints(values.filter(pa.array(unknown)))
                oov = hashes % np.uint64(self.num_oov_buckets)
                ids[unknown] = len(self.vocabulary_list) + oov.astype(np.int64)
            else:
                ids[unknown] = self.default_value
        ids[missing] = -1
        return layout.scatter(ids.astype(np.int32), -1)


def categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list: Sequence[str] | Sequence[int] | None = None,
    dtype: Any = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
    *,
    top_k: int | None = None,
    min_frequency: int | None = None,
) -> VocabularyListColumn:
    """Ids from a vocabulary, like tf's `categorical_column_with_vocabulary_list`.

    A value's id is its position in the vocabulary. Out-of-vocabulary values
    get `vocabulary_size + fingerprint64(value) % num_oov_buckets` when
    `num_oov_buckets > 0`, else `default_value` (-1 = no value, silently, as
    in tf). With `vocabulary_list=None` the vocabulary is learnt by
    `analyze()`: values by descending count, ties by ascending value.

    Args:
        key: Name of the raw feature (strings or integers).
        vocabulary_list: Unique values, or None to learn them.
        dtype: `"string"` or an integer dtype; None infers it from the
            vocabulary (string for a learnt one).
        default_value: Id of out-of-vocabulary values when
            `num_oov_buckets == 0`. Default -1.
        num_oov_buckets: Hash buckets for out-of-vocabulary values. Default 0.
        top_k: Learnt vocabulary: keep at most this many most frequent values.
        min_frequency: Learnt vocabulary: keep values seen at least this often.

    Returns:
        A frozen `VocabularyListColumn`.

    Example:
        >>> color = categorical_column_with_vocabulary_list("color", ["red", "blue"])
        >>> color.name, color.num_buckets
        ('color', 2)
    """
    key = validation.check_key(key)
    if vocabulary_list is None:
        if (
            dtype is not None
            and validation.canonical_dtype(dtype) != "string"
            and not (validation.is_integer_dtype(validation.canonical_dtype(dtype)))
        ):
            raise ValueError(
                f"column '{key}': `dtype` must be string or integer, got {dtype!r}."
            )
        dtype_name = "string" if dtype is None else validation.canonical_dtype(dtype)
        vocabulary = None
        if top_k is not None:
            validation.check_positive_int(top_k, "top_k")
        if min_frequency is not None:
            validation.check_positive_int(min_frequency, "min_frequency")
    else:
        if top_k is not None or min_frequency is not None:
            raise ValueError(
                f"column '{key}': `top_k` and `min_frequency` shape a vocabulary "
                "learnt by analyze(); they need `vocabulary_list=None`."
            )
        vocabulary, dtype_name = check_vocabulary(key, vocabulary_list, dtype)
    return VocabularyListColumn(
        key,
        vocabulary,
        dtype_name,
        *_check_oov(key, default_value, num_oov_buckets, vocabulary),
        top_k=top_k,
        min_frequency=min_frequency,
    )


def check_vocabulary(
    key: str, vocabulary: Any, dtype: Any
) -> tuple[tuple[Any, ...], str]:
    """Validates a vocabulary into a tuple of unique str or int values."""
    if isinstance(vocabulary, str | bytes):
        raise ValueError(
            f"column '{key}': `vocabulary_list` must be a list of values, got the "
            f"string {vocabulary!r}."
        )
    values = tuple(vocabulary)
    if not values:
        raise ValueError(f"column '{key}': `vocabulary_list` must not be empty.")
    is_text = all(isinstance(v, str) for v in values)
    is_int = all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values
    )
    wanted = None if dtype is None else validation.canonical_dtype(dtype)
    if is_text and wanted in (None, "string"):
        name = "string"
    elif is_int and (wanted is None or validation.is_integer_dtype(wanted)):
        name, values = wanted or "int64", tuple(int(v) for v in values)
    else:
        raise ValueError(
            f"column '{key}': `vocabulary_list` must hold only strings or only "
            f"integers matching dtype={dtype!r}, got {list(values[:5])!r}..."
        )
    if len(set(values)) != len(values):
        seen: set[Any] = set()
        duplicate = next(v for v in values if v in seen or seen.add(v))
        raise ValueError(
            f"column '{key}': `vocabulary_list` has the duplicate value {duplicate!r}."
        )
    return values, name


def _check_oov(
    key: str, default_value: Any, num_oov_buckets: Any, vocabulary: Any
) -> tuple[int, int]:
    num_oov = validation.check_positive_int(
        num_oov_buckets, "num_oov_buckets", minimum=0
    )
    if isinstance(default_value, bool) or not isinstance(
        default_value, int | np.integer
    ):
        raise ValueError(
            f"column '{key}': `default_value` must be an int, got {default_value!r}."
        )
    if num_oov and default_value != -1:
        raise ValueError(
            f"column '{key}': give `default_value` or `num_oov_buckets`, not both "
            f"(got default_value={default_value}, num_oov_buckets={num_oov})."
        )
    size = None if vocabulary is None else len(vocabulary)
    if default_value < -1 or (size is not None and default_value >= size):
        raise ValueError(
            f"column '{key}': `default_value` must be -1 or an id in [0, {size}), "
            f"got {default_value}."
        )
    return int(default_value), num_oov


def categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: str,
    vocabulary_size: int | None = None,
    dtype: Any = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> VocabularyListColumn:
    """Ids from a vocabulary file (one value per line), read now into the column.

    Like `tf.feature_column.categorical_column_with_vocabulary_file`, except
    that the file is read at construction: the vocabulary travels with the
    column (and its JSON), so serving never needs the file.

    Args:
        key: Name of the raw feature.
        vocabulary_file: Path of a UTF-8 text file, one value per line.
        vocabulary_size: Use only the first this many lines. Default: all.
        dtype: `"string"` (default) or an integer dtype (lines parsed as ints).
        default_value: Id of out-of-vocabulary values. Default -1.
        num_oov_buckets: Hash buckets for out-of-vocabulary values. Default 0.

    Returns:
        A frozen `VocabularyListColumn` with `vocabulary_file` recorded.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "colors.txt"
        >>> _ = path.write_text("red\\nblue\\n")
        >>> categorical_column_with_vocabulary_file("color", path).vocabulary_list
        ('red', 'blue')
    """
    key = validation.check_key(key)
    try:
        with open(vocabulary_file, encoding="utf-8") as f:
            lines = [line.rstrip("\r\n") for line in f]
    except (OSError, UnicodeDecodeError, TypeError) as e:
        raise ValueError(
            f"column '{key}': cannot read `vocabulary_file` {vocabulary_file!r}: {e}"
        ) from None
    if vocabulary_size is not None:
        size = validation.check_positive_int(vocabulary_size, "vocabulary_size")
        if size > len(lines):
            raise ValueError(
                f"column '{key}': `vocabulary_size` is {size} but "
                f"{vocabulary_file!r} has {len(lines)} lines."
            )
        lines = lines[:size]
    dtype_name = "string" if dtype is None else validation.canonical_dtype(dtype)
    if dtype_name != "string":
        try:
            lines = [int(line) for line in lines]
        except ValueError as e:
            raise ValueError(
                f"column '{key}': `vocabulary_file` line is not an int: {e}"
            ) from None
    column = categorical_column_with_vocabulary_list(
        key, lines, dtype_name, default_value, num_oov_buckets
    )
    return dataclasses.replace(column, vocabulary_file=str(vocabulary_file))
