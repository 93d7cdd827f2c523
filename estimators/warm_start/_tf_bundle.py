"""Reads TensorFlow checkpoints (the tensor-bundle format) without TensorFlow.

A checkpoint `<prefix>` is `<prefix>.index`, an SSTable (LevelDB's table format)
mapping "" to a `BundleHeaderProto` and each variable name to a
`BundleEntryProto` (dtype, shape, shard, offset, size, masked CRC-32C), and
`<prefix>.data-<shard>-of-<shards>` holding the raw little-endian bytes. Both
protos are decoded here by hand from their wire format (a few varint fields).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import struct

import numpy as np

from estimators.warm_start._crc32c import crc32c, masked_crc32c

__all__ = ["TFCheckpoint", "find_tf_checkpoint"]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LENGTH = 48
_BLOCK_TRAILER = 5
_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto: DataType -> numpy dtype
_DTYPES: dict[int, str] = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    5: "int16",
    6: "int8",
    8: "complex64",
    9: "int64",
    10: "bool",
    17: "uint16",
    18: "complex128",
    19: "float16",
    22: "uint32",
    23: "uint64",
}
_BFLOAT16 = 14
_STRING = 7


class TFCheckpointError(ValueError):
    """A TensorFlow checkpoint that cannot be read (the message says why)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TFCheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """`(field number, value)` pairs of a protobuf message, in wire order."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise TFCheckpointError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


Extent = tuple[int, int]  # (start, length); length -1: the whole dimension


@dataclasses.dataclass(frozen=True)
class _Entry:
    """A `BundleEntryProto`."""

    dtype: int = 0
    shape: tuple[int, ...] = ()
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0
    slices: tuple[tuple[Extent, ...], ...] = ()


def _shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in _proto_fields(buf):
        if number == 2:  # TensorShapeProto.dim
            size = dict(_proto_fields(value)).get(1, 0)  # type: ignore[arg-type]
            dims.append(int(size))  # type: ignore[arg-type]
        elif number == 3 and value:
            raise TFCheckpointError("a tensor of unknown rank")
    return tuple(dims)


def _slice(buf: bytes) -> tuple[Extent, ...]:
    """A `TensorSliceProto`: one `Extent {start (1), length (2, absent: all)}`
    per dimension."""
    extents = []
    for number, value in _proto_fields(buf):
        if number == 1:
            fields = dict(_proto_fields(value))  # type: ignore[arg-type]
            extents.append((int(fields.get(1, 0)), int(fields.get(2, -1))))  # type: ignore[arg-type]
    return tuple(extents)


def _entry(buf: bytes) -> _Entry:
    values: dict[str, object] = {}
    slices = []
    names = {1: "dtype", 3: "shard_id", 4: "offset", 5: "size", 6: "crc32c"}
    for number, value in _proto_fields(buf):
        if number == 2:
            values["shape"] = _shape(value)  # type: ignore[arg-type]
        elif number == 7:
            slices.append(_slice(value))  # type: ignore[arg-type]
        elif number in names:
            values[names[number]] = value
    return _Entry(slices=tuple(slices), **values)  # type: ignore[arg-type]


_ESCAPES = {b"\x00": b"\x00\xff", b"\xff": b"\xff\x00"}


def _ordered_string(text: bytes) -> bytes:
    """OrderedCode's string: 0x00 and 0xff escaped, then the separator 0x00 0x01."""
    return re.sub(rb"[\x00\xff]", lambda m: _ESCAPES[m.group()], text) + b"\x00\x01"


def _ordered_unsigned(value: int) -> bytes:
    """OrderedCode's increasing unsigned number: a length byte, then big-endian."""
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(payload)]) + payload


_SIGNED_HEADER = [
    (0, 0), (0x80, 0), (0xC0, 0), (0xE0, 0), (0xF0, 0), (0xF8, 0),
    (0xFC, 0), (0xFE, 0), (0xFF, 0), (0xFF, 0x80), (0xFF, 0xC0),
]  # fmt: skip


def _ordered_signed(value: int) -> bytes:
    """OrderedCode's increasing signed number: sign and length in the leading bits
    (one byte for [-64, 64), 7 more bits of payload per extra byte)."""
    magnitude = ~value if value < 0 else value
    if magnitude < 64:
        return bytes([(0x80 ^ value) & 0xFF])
    length = magnitude.bit_length() // 7 + 1
    raw = bytearray((value & (1 << 80) - 1).to_bytes(10, "big")[10 - length :])
    raw[0] ^= _SIGNED_HEADER[length][0]
    raw[1] ^= _SIGNED_HEADER[length][1]
    return bytes(raw)


def slice_key(name: str, extents: tuple[Extent, ...]) -> bytes:
    """The table key of one slice of a partitioned variable (tf's
    `EncodeTensorNameSlice`: OrderedCode of 0, the name, the rank, then each
    dimension's start and length)."""
    key = _ordered_unsigned(0) + _ordered_string(name.encode())
    key += _ordered_unsigned(len(extents))
    for start, length in extents:
        key += _ordered_signed(start) + _ordered_signed(length)
    return key


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of one table block (keys are prefix-compressed)."""
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + length]))
        pos += length
    return entries


def _covered(entry: _Entry) -> int:
    """How many elements the (disjoint) slices of a partitioned entry hold."""
    return sum(
        int(
            np.prod(
                [d if n < 0 else n for (_, n), d in zip(e, entry.shape, strict=True)]
            )
        )
        for e in entry.slices
    )


class TFCheckpoint:
    """The variables of a TensorFlow checkpoint `<prefix>` (`.index` + `.data-*`).

    `names()`, `shape(name)` and `read(name)` (a numpy array, its size and
    CRC-32C checked) mirror `tf.train.load_checkpoint(prefix)`.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        index = prefix + ".index"
        try:
            with open(index, "rb") as f:
                self._index = f.read()
        except OSError as e:
            raise TFCheckpointError(f"cannot read {index!r}: {e}") from None
        self._entries: dict[bytes, _Entry] = {}
        header = None
        for key, value in self._table_entries():
            if key == b"":
                header = dict(_proto_fields(value))
            else:
                self._entries[key] = _entry(value)
        if header is None:
            raise TFCheckpointError(f"{index!r} has no bundle header")
        self._num_shards = int(header.get(1, 1))  # type: ignore[arg-type]
        self._big_endian = header.get(2, 0) == 1

    def _block(self, offset: int, size: int) -> bytes:
        data = self._index
        if offset + size + _BLOCK_TRAILER > len(data):
            raise TFCheckpointError(f"{self.prefix}.index is truncated")
        block = data[offset : offset + size]
        kind = data[offset + size]
        (stored,) = struct.unpack_from("<I", data, offset + size + 1)
        if masked_crc32c(data[offset : offset + size + 1]) != stored:
            raise TFCheckpointError(f"{self.prefix}.index: a block's checksum differs")
        if kind != 0:
            raise TFCheckpointError(
                f"{self.prefix}.index: compressed blocks (type {kind}) are not "
                "supported (TensorFlow writes bundles uncompressed)"
            )
        return block

    def _table_entries(self) -> list[tuple[bytes, bytes]]:
        data = self._index
        if len(data) < _FOOTER_LENGTH:
            raise TFCheckpointError(f"{self.prefix}.index is too short for a table")
        footer = data[-_FOOTER_LENGTH:]
        if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
            raise TFCheckpointError(f"{self.prefix}.index is not a TensorFlow table")
        _, pos = _varint(footer, 0)  # metaindex offset
        _, pos = _varint(footer, pos)  # metaindex size
        index_offset, pos = _varint(footer, pos)
        index_size, pos = _varint(footer, pos)
        entries = []
        for _, handle in _block_entries(self._block(index_offset, index_size)):
            offset, pos = _varint(handle, 0)
            size, _ = _varint(handle, pos)
            entries.extend(_block_entries(self._block(offset, size)))
        return entries

    def names(self) -> list[str]:
        """Every variable name, sorted (the slices of a partitioned variable are
        parts of its one name)."""
        return sorted(k.decode() for k in self._entries if not k.startswith(b"\0"))

    def _entry(self, name: str) -> _Entry:
        return self._entries[name.encode()]

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of `name` (KeyError when absent)."""
        return self._entry(name).shape

    def unreadable(self, name: str) -> str | None:
        """Why `read(name)` cannot return an array, or None when it can."""
        entry = self._entry(name)
        if entry.dtype not in _DTYPES and entry.dtype != _BFLOAT16:
            kind = "string" if entry.dtype == _STRING else f"DataType {entry.dtype}"
            return f"a {kind} tensor, not a numeric array"
        missing = [e for e in entry.slices if slice_key(name, e) not in self._entries]
        if missing:
            return f"a partitioned variable missing its slice {list(missing[0])}"
        if entry.slices and _covered(entry) != int(np.prod(entry.shape)):
            return "a partitioned variable whose slices do not cover it"
        return None

    def _dtype(self, entry: _Entry) -> np.dtype:
        if entry.dtype == _BFLOAT16:
            import ml_dtypes  # a jax dependency

            dtype = np.dtype(ml_dtypes.bfloat16)
        else:
            dtype = np.dtype(_DTYPES[entry.dtype])
        return dtype.newbyteorder(">" if self._big_endian else "<")

    def read(self, name: str) -> np.ndarray:
        """The value of `name` (its slices put together), sizes and CRC-32Cs checked."""
        entry = self._entry(name)
        reason = self.unreadable(name)
        if reason is not None:
            raise TFCheckpointError(f"{self.prefix}: '{name}' is {reason}")
        if not entry.slices:
            return self._read(name, entry)
        value = np.zeros(entry.shape, self._dtype(entry).newbyteorder("="))
        for extents in entry.slices:
            where = tuple(
                slice(start, None if length < 0 else start + length)
                for start, length in extents
            )
            part = self._entries[slice_key(name, extents)]
            value[where] = self._read(name, part)
        return value

    def _read(self, name: str, entry: _Entry) -> np.ndarray:
        dtype = self._dtype(entry)
        expected = int(np.prod(entry.shape, dtype=np.int64)) * dtype.itemsize
        if entry.size != expected:
            raise TFCheckpointError(
                f"{self.prefix}: '{name}' has {entry.size} bytes, expected "
                f"{expected} for {entry.shape} {dtype.name}"
            )
        path = f"{self.prefix}.data-{entry.shard_id:05d}-of-{self._num_shards:05d}"
        try:
            with open(path, "rb") as f:
                f.seek(entry.offset)
                raw = f.read(entry.size)
        except OSError as e:
            raise TFCheckpointError(f"cannot read {path!r}: {e}") from None
        if len(raw) != entry.size:
            raise TFCheckpointError(f"{path!r} is truncated (reading '{name}')")
        if _unmask(entry.crc32c) != crc32c(raw):
            raise TFCheckpointError(f"{path!r}: the checksum of '{name}' differs")
        return (
            np.frombuffer(raw, dtype)
            .reshape(entry.shape)
            .astype(dtype.newbyteorder("="))
        )


def _unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _prefix_in_state_file(directory: str) -> str | None:
    """The latest prefix named by a TensorFlow `checkpoint` state file."""
    try:
        with open(os.path.join(directory, "checkpoint"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    match = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', text, re.M)
    if match is None:
        return None
    named = match.group(1).encode().decode("unicode_escape")
    for prefix in (
        os.path.join(directory, named),
        os.path.join(directory, os.path.basename(named)),
    ):
        if os.path.exists(prefix + ".index"):
            return prefix
    return None


def find_tf_checkpoint(path: str) -> str | None:
    """The TensorFlow checkpoint prefix that `path` means, or None.

    `path` may be a prefix (`model.ckpt-100`), a tf.estimator model_dir (its
    `checkpoint` file names the latest; else the highest-step `*.index`), or a
    SavedModel directory (`variables/variables`).
    """
    if os.path.exists(path + ".index"):
        return path
    if not os.path.isdir(path):
        # one of the prefix's own files (model.ckpt-100.index, .data-00000-of-00001)
        prefix = re.sub(r"\.(index|data-\d{5}-of-\d{5})$", "", path)
        return prefix if prefix != path and os.path.exists(prefix + ".index") else None
    latest = _prefix_in_state_file(path)
    if latest is not None:
        return latest
    saved_model = os.path.join(path, "variables", "variables")
    if os.path.exists(saved_model + ".index"):
        return saved_model
    prefixes = [p[: -len(".index")] for p in glob.glob(os.path.join(path, "*.index"))]
    if not prefixes:
        return None

    def step(prefix: str) -> tuple[int, str]:
        found = re.search(r"-(\d+)$", prefix)
        return (int(found.group(1)) if found else -1, prefix)

    return max(prefixes, key=step)
