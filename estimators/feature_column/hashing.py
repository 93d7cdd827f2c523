"""A stable, vectorised 64-bit fingerprint for strings and ids.

`fingerprint64(s) = fmix64(fnv1a64(utf8_bytes(s)))`: FNV-1a (64-bit offset
basis 0xcbf29ce484222325, prime 0x100000001b3) over the UTF-8 bytes, followed
by MurmurHash3's 64-bit finaliser so that the low bits used by `% buckets` are
well mixed. The result depends only on the bytes: it is the same across runs,
processes, platforms and library versions (tf used FarmHash, so the bucket ids
differ from tf's; Python's `hash()` is salted per process and is never used).

Integer ids (for crossing categorical columns) are mixed with `fmix64(id ^
0x9E3779B97F4A7C15)`; a cross combines its parts left to right with
`h = fmix64(h ^ (x + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2)))`, starting
from `fmix64(hash_key)`.

Columns hash a batch's distinct strings only, through `text_fingerprints`, a
bounded per-process memo (the same text always has the same fingerprint).
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pyarrow as pa

from estimators._lazy import pyarrow_compute as pc

__all__ = [
    "FingerprintCache",
    "combine",
    "fingerprint64",
    "fmix64",
    "mix_ids",
    "string_fingerprints",
    "text_fingerprints",
]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection on uint64), elementwise."""
    h = np.array(h, dtype=np.uint64)  # a copy: the steps below are in place
    h ^= h >> _SHIFT
    h *= _MIX1
    h ^= h >> _SHIFT
    h *= _MIX2
    h ^= h >> _SHIFT
    return h if h.ndim else h[()]


def fingerprint64(values: pa.Array) -> np.ndarray:
    """uint64 fingerprints of an Arrow string/binary array (nulls hash as "")."""
    if not _has_offsets(values.type):
        values = pc.cast(values, pa.large_binary())
    n = len(values)
    if n == 0:
        return np.zeros(0, np.uint64)
    starts, lengths, data = _offsets_and_data(values)
    width = int(lengths.max())
    if width == 0:
        return fmix64(np.full(n, _FNV_OFFSET, dtype=np.uint64))
    if n * width <= _MATRIX_LIMIT:
        return fmix64(_fnv_matrix(starts, lengths, data, width))
    return fmix64(_fnv_prefix(starts, lengths, data))


_MATRIX_LIMIT = 1 << 20
"""Above this many padded bytes (`n * longest`), `_fnv_prefix` is used instead."""

_INVERSE_PRIME = np.uint64(pow(int(_FNV_PRIME), -1, 2**64))
_inverse_powers = np.ones(1, np.uint64)


def _has_offsets(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _offsets_and_data(
    values: pa.Array,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(starts int64, lengths int64 (0 for nulls), data uint8)` of an Arrow array."""
    n = len(values)
    large = pa.types.is_large_string(values.type) or pa.types.is_large_binary(
        values.type
    )
    validity, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64 if large else np.int32)
    offsets = offsets[values.offset : values.offset + n + 1].astype(np.int64)
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None
        else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    if validity is not None and values.null_count:
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        lengths = np.where(valid, lengths, 0)
    return starts, lengths, data


def _fnv_matrix(
    starts: np.ndarray, lengths: np.ndarray, data: np.ndarray, width: int
) -> np.ndarray:
    """FNV-1a over `[width, n]` zero-padded bytes, then the padding undone.

    A padding byte 0 only multiplies the hash by the (odd) prime, so the hash
    of a string of length `l` is the padded hash times `prime**-(width - l)`
    modulo 2**64: two in-place numpy operations per byte position in all.
    """
    position = np.arange(width)[:, None]
    index = starts + position
    np.minimum(index, max(len(data) - 1, 0), out=index)
    matrix = data[index] if len(data) else np.zeros(index.shape, np.uint8)
    matrix[position >= lengths] = 0
    h = np.full(len(starts), _FNV_OFFSET, dtype=np.uint64)
    for row in matrix:
        np.bitwise_xor(h, row, out=h)
        np.multiply(h, _FNV_PRIME, out=h)
    h *= _inverse_power(width - lengths)
    return h


def _inverse_power(exponents: np.ndarray) -> np.ndarray:
    """`prime**-e mod 2**64` for each exponent (a table grown on demand)."""
    global _inverse_powers
    table = _inverse_powers
    top = int(exponents.max())
    if top >= len(table):
        size = max(top + 1, 2 * len(table), 64)
        steps = np.full(size, _INVERSE_PRIME, dtype=np.uint64)
        steps[0] = 1
        table = _inverse_powers = np.cumprod(steps, dtype=np.uint64)
    return table[exponents]


def _fnv_prefix(
    starts: np.ndarray, lengths: np.ndarray, data: np.ndarray
) -> np.ndarray:
    """FNV-1a without padding: strings sorted longest first, a prefix per byte."""
    hashes = np.full(len(starts), _FNV_OFFSET, dtype=np.uint64)
    order = np.argsort(-lengths, kind="stable")
    sorted_starts = starts[order]
    sorted_lengths = lengths[order]
    active = np.searchsorted(-sorted_lengths, -np.arange(sorted_lengths[0]), "left")
    h = hashes[order]
    for j, count in enumerate(active):
        h[:count] ^= data[sorted_starts[:count] + j].astype(np.uint64)
        h[:count] *= _FNV_PRIME
    hashes[order] = h
    return hashes


def string_fingerprints(values: pa.Array) -> np.ndarray:
    """`fingerprint64` of each value's text (integers as their decimal text).

    Each distinct value is hashed once (dictionary-encoded); nulls hash as "".
    """
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.large_string())
    if len(values) == 0:
        return np.zeros(0, np.uint64)
    encoded = pc.dictionary_encode(values)
    table = fingerprint64(encoded.dictionary)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return table[indices] if len(table) else np.zeros(len(values), np.uint64)


class FingerprintCache:
    """A bounded, thread-safe `str -> fingerprint64` memo shared by all columns.

    Looking a few hundred distinct values of a batch up in a dict is cheaper
    than hashing them again; misses are hashed together by `fingerprint64`.
    When full, the older half of the entries (in insertion order) is dropped.
    The cached value is a pure function of the text, so sharing it between
    columns and threads cannot change any result.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._table: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._table)

    def clear(self) -> None:
        with self._lock:
            self._table.clear()

    def __call__(self, texts: list[str]) -> np.ndarray:
        """uint64 fingerprints of `texts` (Python strings, no None)."""
        try:  # all cached: the common case, no Python loop
            return np.fromiter(
                map(self._table.__getitem__, texts), np.uint64, len(texts)
            )
        except KeyError:
            pass
        get = self._table.get
        found = [get(t) for t in texts]
        pairs = zip(texts, found, strict=True)
        missing = list(dict.fromkeys(t for t, f in pairs if f is None))
        hashes = fingerprint64(pa.array(missing, pa.large_string())).tolist()
        new = dict(zip(missing, hashes, strict=True))
        self._insert(new)
        found = [new[t] if f is None else f for t, f in zip(texts, found, strict=True)]
        return np.array(found, dtype=np.uint64).reshape(len(texts))

    def _insert(self, new: dict[str, int]) -> None:
        if len(new) > self.max_entries:
            return
        with self._lock:
            table = self._table
            excess = len(table) + len(new) - self.max_entries
            if excess > 0:  # drop the older half (at least enough to fit `new`)
                drop = min(len(table), max(excess, self.max_entries // 2))
                for key in list(itertools.islice(table, drop)):
                    del table[key]
            table.update(new)


text_fingerprints = FingerprintCache()
"""The process-wide `FingerprintCache`: `text_fingerprints(list_of_str)`."""


def mix_ids(ids: np.ndarray) -> np.ndarray:
    """uint64 fingerprints of integer ids."""
    return fmix64(np.asarray(ids).astype(np.int64).view(np.uint64) ^ _GOLDEN)


def combine(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Combines two fingerprints (order matters), elementwise with broadcasting."""
    h = np.asarray(h, dtype=np.uint64)
    mixed = x + _GOLDEN + (h << np.uint64(6)) + (h >> np.uint64(2))
    return fmix64(h ^ mixed)
