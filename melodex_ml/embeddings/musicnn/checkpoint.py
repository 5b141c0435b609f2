"""Read TensorFlow (v1 "tensor bundle") checkpoints with numpy alone.

A checkpoint ``<prefix>`` is two kinds of file:

* ``<prefix>.index``: a LevelDB-format sorted string table. Its footer points at an index block,
  whose entries point at data blocks; each data-block entry maps a tensor name to a serialized
  ``BundleEntryProto`` (dtype, shape, shard, byte offset, byte size, masked crc32c of the bytes).
  The empty key holds the ``BundleHeaderProto`` (shard count, endianness).
* ``<prefix>.data-<shard>-of-<shards>``: the raw little-endian tensor bytes, back to back.

Both layouts are TensorFlow's public on-disk formats (``tensorflow/core/util/tensor_bundle`` and
``tensorflow/core/lib/io/table``); only what plain dense checkpoints use is implemented, and
anything else (compressed blocks, partitioned or string tensors, big-endian bundles) is refused
with an error instead of being misread. Every block and every tensor is checked against its crc32c.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import google_crc32c
import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48  # two block handles padded to 40 bytes, then the 8-byte magic number
_BLOCK_TRAILER_BYTES = 5  # compression type (1 byte) + masked crc32c (4 bytes)
_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto -> numpy (little-endian); DT_STRING and DT_BFLOAT16 are not plain arrays.
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    8: np.dtype("<c8"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    18: np.dtype("<c16"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}


class CheckpointError(ValueError):
    """A checkpoint file that is damaged or uses a feature this reader does not implement."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes live, as the index describes them."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # unmasked crc32c of the tensor's bytes


def masked_crc32c(data: bytes) -> int:
    """LevelDB/TensorFlow's masked crc32c: rotated and offset so that a crc of crcs stays well spread."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: ints for varint/fixed fields, bytes for nested ones."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            (value,), pos = struct.unpack_from("<Q", buf, pos), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            (value,), pos = struct.unpack_from("<I", buf, pos), pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value  # protobuf encodes negatives in 10 bytes


def _shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in _proto_fields(buf):
        if number == 3 and value:
            raise CheckpointError("tensor of unknown rank")
        if number == 2:
            dims.append(next((_int64(v) for n, v in _proto_fields(value) if n == 1), 0))
    return tuple(dims)


def _entry(name: str, buf: bytes) -> TensorEntry:
    fields: dict[int, int | bytes] = {1: 0, 2: b"", 3: 0, 4: 0, 5: 0, 6: 0}
    for number, value in _proto_fields(buf):
        if number == 7:
            raise CheckpointError(f"{name}: partitioned (sliced) variables are not supported")
        fields[number] = value
    dtype = _DTYPES.get(int(fields[1]))
    if dtype is None:
        raise CheckpointError(f"{name}: unsupported TensorFlow dtype enum {fields[1]}")
    return TensorEntry(
        name=name,
        dtype=dtype,
        shape=_shape(fields[2]),
        shard_id=int(fields[3]),
        offset=_int64(int(fields[4])),
        size=_int64(int(fields[5])),
        crc32c=_unmask(int(fields[6])),
    )


def _block(data: bytes, handle: bytes, what: str) -> bytes:
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    end = offset + size
    if end + _BLOCK_TRAILER_BYTES > len(data):
        raise CheckpointError(f"{what} block runs past the end of the index file")
    contents, compression = data[offset:end], data[end]
    if compression != 0:
        raise CheckpointError(f"{what} block is compressed (type {compression}); only uncompressed tables are read")
    (stored_crc,) = struct.unpack_from("<I", data, end + 1)
    if masked_crc32c(data[offset : end + 1]) != stored_crc:
        raise CheckpointError(f"{what} block fails its crc32c check")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Keys (prefix-compressed against the previous key) and values of one table block."""
    if len(block) < 4:
        raise CheckpointError("table block too short")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_length]
        pos += value_length


@dataclass(frozen=True)
class Checkpoint:
    """A TensorFlow checkpoint ``prefix`` (``<prefix>.index`` + ``<prefix>.data-*``), read lazily."""

    prefix: str  # a path prefix, not a folder: musicnn's is "<model dir>/" so its files are ".index", ...

    @classmethod
    def open(cls, prefix: Path | str) -> Checkpoint:
        checkpoint = cls(str(prefix))
        _ = checkpoint.entries  # parse the index now so that a bad file fails here, not at first read
        return checkpoint

    @property
    def index_path(self) -> Path:
        return Path(self.prefix + ".index")

    @cached_property
    def _num_shards(self) -> int:
        return self._parsed[0]

    @cached_property
    def entries(self) -> dict[str, TensorEntry]:
        return self._parsed[1]

    @cached_property
    def _parsed(self) -> tuple[int, dict[str, TensorEntry]]:
        data = self.index_path.read_bytes()
        if len(data) < _FOOTER_BYTES:
            raise CheckpointError(f"{self.index_path}: too short to be a checkpoint index")
        footer = data[-_FOOTER_BYTES:]
        if struct.unpack("<Q", footer[-8:])[0] != _TABLE_MAGIC:
            raise CheckpointError(f"{self.index_path}: not a TensorFlow checkpoint index (bad magic number)")
        _, pos = _varint(footer, _varint(footer, 0)[1])  # skip the metaindex handle (unused by bundles)
        index_block = _block(data, footer[pos:], "index")
        num_shards, entries = 1, {}
        for _, handle in _block_entries(index_block):
            for key, value in _block_entries(_block(data, handle, "data")):
                if key == b"":  # the bundle header
                    header = dict(_proto_fields(value))
                    num_shards = int(header.get(1, 1))
                    if header.get(2, 0) != 0:
                        raise CheckpointError(f"{self.index_path}: big-endian bundles are not supported")
                    continue
                name = key.decode("utf-8")
                entries[name] = _entry(name, value)
        return num_shards, entries

    def data_path(self, shard_id: int) -> Path:
        return Path(f"{self.prefix}.data-{shard_id:05d}-of-{self._num_shards:05d}")

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a fresh numpy array, after checking size, shape and crc32c."""
        try:
            entry = self.entries[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in checkpoint {self.prefix!r}") from None
        expected = int(np.prod(entry.shape, dtype=np.int64)) * entry.dtype.itemsize
        if expected != entry.size:
            raise CheckpointError(f"{name}: {entry.size} bytes stored but shape {entry.shape} needs {expected}")
        with open(self.data_path(entry.shard_id), "rb") as f:
            f.seek(entry.offset)
            raw = f.read(entry.size)
        if len(raw) != entry.size:
            raise CheckpointError(f"{name}: data file ends before the tensor does")
        if google_crc32c.value(raw) != entry.crc32c:
            raise CheckpointError(f"{name}: tensor bytes fail their crc32c check")
        return np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape).copy()

    def read_all(self) -> dict[str, np.ndarray]:
        return {name: self.read(name) for name in self.entries}
