"""A string feature of one batch, dictionary-encoded: distinct values and codes.

Columns that read strings (vocabulary, hash bucket, crossed) compute one result
per distinct value and spread it over the rows; `string_codes` builds that
encoding once per feature and batch (the `HostContext` shares it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc
from estimators.feature_column import hashing
from estimators.feature_column.raw_values import Layout, text_array

__all__ = ["EncodedStrings", "string_codes"]


class EncodedStrings:
    """One string feature of a batch, dictionary-encoded (see `string_codes`).

    `codes[i]` is the position of flat value `i` in `dictionary` (its distinct
    values), or -1 when the value is missing (null or ""; "" may still sit
    unused in `dictionary`). Columns compute one result per distinct value
    and spread it over the rows with `per_value`; `texts()` and
    `fingerprints()` are computed once per batch however many columns ask.
    `numbers` tells that the feature held integers (made decimal text).
    """

    __slots__ = ("_fingerprints", "_texts", "codes", "dictionary", "layout", "numbers")

    def __init__(
        self, codes: np.ndarray, dictionary: pa.Array, layout: Layout, numbers: bool
    ) -> None:
        self.codes = codes
        self.dictionary = dictionary
        self.layout = layout
        self.numbers = numbers
        self._texts: list[str] | None = None
        self._fingerprints: np.ndarray | None = None

    def texts(self) -> list[str]:
        """The distinct values as Python strings."""
        if self._texts is None:
            self._texts = self.dictionary.to_pylist()
        return self._texts

    def fingerprints(self, positions: np.ndarray | None = None) -> np.ndarray:
        """`uint64 fingerprint64` of the distinct values (at `positions`: all)."""
        if positions is None and self._fingerprints is None:
            self._fingerprints = _fingerprints(self.dictionary, self._texts)
        if self._fingerprints is not None:
            found = self._fingerprints
            return found if positions is None else found[positions]
        texts = None if self._texts is None else [self._texts[i] for i in positions]
        return _fingerprints(self.dictionary.take(positions), texts)

    def per_value(self, table: np.ndarray, fill: Any) -> np.ndarray:
        """`table[codes]` for each flat value, `fill` where it is missing."""
        table = np.asarray(table)
        extended = np.concatenate([table, np.array([fill], dtype=table.dtype)])
        return np.take(extended, self.codes)


_VECTORISED_HASHING = 1_000
"""From this many distinct values, hashing their bytes with numpy is cheaper
than looking their Python strings up in `hashing.text_fingerprints`."""


def _fingerprints(values: pa.Array, texts: list[str] | None) -> np.ndarray:
    """`fingerprint64` of distinct string values (`texts`: them as Python str)."""
    if len(values) >= _VECTORISED_HASHING:
        return hashing.fingerprint64(values)
    return hashing.text_fingerprints(values.to_pylist() if texts is None else texts)


def string_codes(value: Any, key: str, *, allow_numbers: bool) -> EncodedStrings:
    """`string_values`, dictionary-encoded: distinct values and per-value codes.

    Same checks and errors as `string_values`, and the same values:
    `string_values(...)[i]` is `dictionary[codes[i]]`, or null where `codes[i]`
    is -1.

    A dictionary-encoded string array (`pa.DictionaryArray`, or a
    `ChunkedArray` of them, as Parquet row groups decode) keeps its
    dictionary: nothing is hashed per row, and the columns compute one result
    per dictionary entry. A slice that uses under half of a larger
    dictionary (a batch cut from a row group) keeps only the entries it uses.
    """
    if _is_string_dictionary(value):
        return _from_dictionary(value)
    array, layout, numbers = text_array(value, key, allow_numbers=allow_numbers)
    if array.null_count == len(array):
        codes = np.full(len(array), -1, np.int32)
        return EncodedStrings(codes, pa.array([], pa.large_string()), layout, numbers)
    encoded = array.dictionary_encode()
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(-1)
    codes = indices.to_numpy()  # int32, read-only
    dictionary = encoded.dictionary
    empty = _empty_position(dictionary)
    if empty >= 0:
        codes = np.where(codes == empty, -1, codes)
    return EncodedStrings(codes, dictionary, layout, numbers)


def _empty_position(dictionary: pa.Array) -> int:
    """Position of "" among distinct string values (no nulls), or -1."""
    large = pa.types.is_large_string(dictionary.type)
    offsets = np.frombuffer(dictionary.buffers()[1], np.int64 if large else np.int32)
    offsets = offsets[dictionary.offset : dictionary.offset + len(dictionary) + 1]
    lengths = offsets[1:] - offsets[:-1]
    position = int(lengths.argmin())
    return position if lengths[position] == 0 else -1


_ALL_USED = 4
"""From this many rows per dictionary entry, all entries are taken to be used
(a whole row group) and the dictionary is not compacted."""


def _is_string_dictionary(value: Any) -> bool:
    """A dictionary-encoded array (or chunked array) of string values."""
    if not isinstance(value, pa.DictionaryArray | pa.ChunkedArray):
        return False
    kind = value.type
    return pa.types.is_dictionary(kind) and (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    )


def _from_dictionary(value: pa.DictionaryArray | pa.ChunkedArray) -> EncodedStrings:
    """`string_codes` of a dictionary-encoded string array, from its dictionary."""
    indices, dictionary = _indices_and_dictionary(value)
    codes = pc.cast(indices, pa.int32())
    codes = (codes.fill_null(-1) if codes.null_count else codes).to_numpy()
    if len(codes) < _ALL_USED * len(dictionary):  # maybe a slice: compact
        counts = np.bincount(codes + 1, minlength=len(dictionary) + 1)[1:]
        used = np.flatnonzero(counts).astype(np.int32)
        if 2 * len(used) < len(dictionary):
            position = np.full(len(dictionary) + 1, -1, np.int32)  # [-1] stays -1
            position[used] = np.arange(len(used), dtype=np.int32)
            codes = np.take(position, codes)
            dictionary = dictionary.take(pa.array(used))
    # Null and "" entries are missing values, as they are in a plain array.
    missing = pc.fill_null(pc.binary_length(dictionary), 0).to_numpy() == 0
    if missing.any():
        codes = np.where(np.append(missing, True)[codes], -1, codes).astype(np.int32)
    return EncodedStrings(codes, dictionary, Layout(len(value), 1), numbers=False)


def _indices_and_dictionary(
    value: pa.DictionaryArray | pa.ChunkedArray,
) -> tuple[pa.Array, pa.Array]:
    """The indices into one dictionary, for one array or all chunks."""
    if isinstance(value, pa.DictionaryArray):
        return value.indices, value.dictionary
    chunks = value.chunks
    if not chunks:
        return pa.array([], pa.int32()), pa.array([], pa.large_string())
    first = chunks[0].dictionary
    if all(_same_array(c.dictionary, first) for c in chunks[1:]):
        return pa.concat_arrays([c.indices for c in chunks]), first
    # Different dictionaries (Arrow cannot unify those with nulls): placed one
    # after the other, each chunk's indices shifted to its own.
    indices, start = [], 0
    for chunk in chunks:
        indices.append(pc.add(pc.cast(chunk.indices, pa.int32()), start))
        start += len(chunk.dictionary)
    return pa.concat_arrays(indices), pa.concat_arrays([c.dictionary for c in chunks])


def _same_array(a: pa.Array, b: pa.Array) -> bool:
    """The same values: the same memory (cheap), else compared."""
    same_memory = (a.offset, len(a)) == (b.offset, len(b)) and all(
        (x is None and y is None)
        or (x is not None and y is not None and x.address == y.address)
        for x, y in zip(a.buffers(), b.buffers(), strict=True)
    )
    return same_memory or a.equals(b)
