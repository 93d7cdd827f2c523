"""A string feature of one batch, dictionary-encoded: distinct values and codes.

Columns that read strings (vocabulary, hash bucket, crossed) compute one result
per distinct value and spread it over the rows; `string_codes` builds that
encoding once per feature and batch (the `HostContext` shares it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

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
        return extended[self.codes]


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
    """
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
