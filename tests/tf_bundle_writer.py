"""Writes TensorFlow checkpoints (tensor bundles) by hand, from the format's spec.

Used by the tests to build checkpoints with chosen names and values without
TensorFlow. The format, as tensorflow/core/util/tensor_bundle writes it:

- `<prefix>.data-00000-of-00001`: the tensors' raw little-endian bytes, back to
  back.
- `<prefix>.index`: a LevelDB table (uncompressed blocks of prefix-compressed
  entries with restart points, each block followed by its type byte and masked
  CRC-32C; an index block of block handles; an empty meta-index block; a 48-byte
  footer ending in the magic 0xdb4775248b80fb57). Key "" holds a
  `BundleHeaderProto` {num_shards=1 (1), version {producer=1} (3)}; each
  variable name holds a `BundleEntryProto` {dtype (1), shape (2), shard_id (3),
  offset (4), size (5), crc32c (6, fixed32, masked), slices (7)}; the slices of
  a partitioned variable are entries of their own, keyed by OrderedCode.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping

import numpy as np

from estimators.warm_start._crc32c import crc32c, masked_crc32c
from estimators.warm_start._tf_bundle import slice_key

DTYPES = {
    "float32": 1,
    "float64": 2,
    "int32": 3,
    "uint8": 4,
    "int16": 5,
    "int8": 6,
    "int64": 9,
    "bool": 10,
    "float16": 19,
    "bfloat16": 14,
}
STRING, MAGIC = 7, 0xDB4775248B80FB57


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, value: int | bytes, *, fixed32: bool = False) -> bytes:
    if fixed32:
        return varint(number << 3 | 5) + struct.pack("<I", value)
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def shape_proto(shape: tuple[int, ...]) -> bytes:
    return b"".join(field(2, field(1, d) if d else b"") for d in shape)


def entry_proto(dtype: int, shape: tuple[int, ...], offset: int, data: bytes) -> bytes:
    proto = field(1, dtype) + field(2, shape_proto(shape))
    if offset:
        proto += field(4, offset)
    return proto + field(5, len(data)) + field(6, masked_crc32c(data), fixed32=True)


def slice_proto(extents: list[tuple[int, int]]) -> bytes:
    """TensorSliceProto: Extent {start (1), length (2)} per dimension."""
    return b"".join(field(1, field(1, start) + field(2, n)) for start, n in extents)


def block(entries: list[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while (
                shared < min(len(key), len(previous))
                and key[shared] == previous[shared]
            ):
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    restarts = restarts or [0]
    out += b"".join(struct.pack("<I", r) for r in restarts)
    return bytes(out + struct.pack("<I", len(restarts)))


def table(entries: list[tuple[bytes, bytes]], block_entries: int = 16) -> bytes:
    """A LevelDB table of sorted `entries`, `block_entries` per data block."""
    out, index = bytearray(), []

    def add_block(contents: bytes) -> bytes:
        handle = varint(len(out)) + varint(len(contents))
        out.extend(contents + b"\0")
        out.extend(struct.pack("<I", masked_crc32c(contents + b"\0")))
        return handle

    for start in range(0, len(entries), block_entries):
        chunk = entries[start : start + block_entries]
        index.append((chunk[-1][0], add_block(block(chunk))))
    meta_handle = add_block(block([]))
    index_handle = add_block(block(index, restart_interval=1))
    footer = (meta_handle + index_handle).ljust(40, b"\0")
    return bytes(out + footer + struct.pack("<Q", MAGIC))


def write_tf_checkpoint(
    prefix: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    *,
    strings: tuple[str, ...] = (),
    partitions: Mapping[str, int] | None = None,
    drop_slices: tuple[int, ...] = (),
    block_entries: int = 16,
) -> str:
    """Writes `tensors` as the TensorFlow checkpoint `prefix`; returns the prefix.

    `strings` are written as DT_STRING entries; `partitions[name] = n` saves a
    tensor as `n` slices along axis 0, as tf.compat.v1's partitioned variables
    are (a full entry listing its slices, and one entry per slice keyed by
    `EncodeTensorNameSlice`), leaving out the slices numbered in `drop_slices`.
    """
    prefix = os.fspath(prefix)
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    data, entries = bytearray(), []
    header = field(1, 1) + field(3, field(1, 1))
    entries.append((b"", header))
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype = STRING if name in strings else DTYPES[array.dtype.name]
        parts = (partitions or {}).get(name)
        if parts is None:
            raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
            entries.append(
                (name.encode(), entry_proto(dtype, array.shape, len(data), raw))
            )
            data += raw
            continue
        full = field(1, dtype) + field(2, shape_proto(array.shape))
        bounds = np.linspace(0, array.shape[0], parts + 1).astype(int)
        for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            extents = [(int(start), int(stop - start))]
            extents += [(0, int(d)) for d in array.shape[1:]]
            full += field(7, slice_proto(extents))
            if i in drop_slices:
                continue
            part = array[start:stop]
            raw = part.astype(part.dtype.newbyteorder("<")).tobytes()
            key = slice_key(name, tuple(extents))
            entries.append((key, entry_proto(dtype, part.shape, len(data), raw)))
            data += raw
        entries.append((name.encode(), full))
    entries.sort()
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data)
    with open(prefix + ".index", "wb") as f:
        f.write(table(entries, block_entries))
    return prefix


def write_state_file(model_dir: str | os.PathLike[str], name: str) -> None:
    """tf.train's `checkpoint` file naming `name` as the latest checkpoint."""
    with open(os.path.join(model_dir, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{name}"\n')
        f.write(f'all_model_checkpoint_paths: "{name}"\n')


assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
