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
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["combine", "fingerprint64", "fmix64", "mix_ids", "string_fingerprints"]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection on uint64), elementwise."""
    h = np.asarray(h, dtype=np.uint64)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fingerprint64(values: pa.Array) -> np.ndarray:
    """uint64 fingerprints of an Arrow string/binary array (nulls hash as "")."""
    values = pc.cast(values, pa.large_binary())
    n = len(values)
    hashes = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return hashes
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[values.offset :][: n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None
        else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    lengths = np.where(pc.is_valid(values).to_numpy(zero_copy_only=False), lengths, 0)
    # Longest first, so the strings still being hashed at byte j are a prefix.
    order = np.argsort(-lengths, kind="stable")
    sorted_starts = starts[order]
    sorted_lengths = lengths[order]
    active = np.searchsorted(-sorted_lengths, -np.arange(sorted_lengths[0]), "left")
    h = hashes[order]
    for j, count in enumerate(active):
        h[:count] ^= data[sorted_starts[:count] + j].astype(np.uint64)
        h[:count] *= _FNV_PRIME
    hashes[order] = fmix64(h)
    return hashes


def string_fingerprints(values: pa.Array) -> np.ndarray:
    """`fingerprint64`, hashing each distinct value once (dictionary-encoded)."""
    if len(values) == 0:
        return np.zeros(0, np.uint64)
    encoded = pc.dictionary_encode(values)
    table = fingerprint64(encoded.dictionary)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return table[indices] if len(table) else np.zeros(len(values), np.uint64)


def mix_ids(ids: np.ndarray) -> np.ndarray:
    """uint64 fingerprints of integer ids."""
    return fmix64(np.asarray(ids).astype(np.int64).view(np.uint64) ^ _GOLDEN)


def combine(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Combines two fingerprints (order matters), elementwise with broadcasting."""
    h = np.asarray(h, dtype=np.uint64)
    mixed = x + _GOLDEN + (h << np.uint64(6)) + (h >> np.uint64(2))
    return fmix64(h ^ mixed)
