"""The numpy checkpoint reader against TensorFlow's own reader, and against damaged files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from melodex_ml.embeddings.musicnn.checkpoint import Checkpoint, CheckpointError, masked_crc32c
from melodex_ml.embeddings.musicnn.weights import checkpoint_dir

REFERENCE = json.loads((Path(__file__).parent / "data" / "musicnn" / "reference.json").read_text())


@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_every_tensor_is_bit_identical_to_what_tensorflow_reads(model):
    expected = REFERENCE["checkpoints"][model]  # tf.compat.v1.train.NewCheckpointReader, in the reference env
    checkpoint = Checkpoint.open(str(checkpoint_dir(model)) + "/")
    assert sorted(checkpoint.entries) == sorted(expected)
    for name, array in checkpoint.read_all().items():
        assert str(array.dtype) == expected[name]["dtype"], name
        assert list(array.shape) == expected[name]["shape"], name
        assert hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest() == expected[name]["sha256"], name


def test_masked_crc32c_matches_the_leveldb_definition():
    # LevelDB's crc32c test vector: crc32c(32 zero bytes) = 0x8a9136aa; mask = rotr15 + 0xa282ead8.
    crc = 0x8A9136AA
    assert masked_crc32c(bytes(32)) == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@pytest.fixture
def copied_checkpoint(tmp_path):
    source = checkpoint_dir("MTT_musicnn")
    target = tmp_path / "MTT_musicnn"
    target.mkdir()
    for name in (".index", ".data-00000-of-00001"):
        shutil.copy(source / name, target / name)
    return target


def test_a_flipped_byte_in_a_tensor_fails_its_crc(copied_checkpoint):
    entry = Checkpoint.open(str(copied_checkpoint) + "/").entries["dense/kernel"]
    data = copied_checkpoint / ".data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 100] ^= 0x01
    data.write_bytes(bytes(raw))
    checkpoint = Checkpoint.open(str(copied_checkpoint) + "/")
    with pytest.raises(CheckpointError, match="crc32c"):
        checkpoint.read("dense/kernel")
    checkpoint.read("dense/bias")  # the other tensors are still readable


def test_a_damaged_index_is_refused(copied_checkpoint):
    index = copied_checkpoint / ".index"
    raw = bytearray(index.read_bytes())
    raw[40] ^= 0xFF
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="crc32c"):
        Checkpoint.open(str(copied_checkpoint) + "/")
    index.write_bytes(b"not a checkpoint at all, but long enough to hold a footer of 48 bytes")
    with pytest.raises(CheckpointError, match="magic"):
        Checkpoint.open(str(copied_checkpoint) + "/")


def test_a_truncated_data_file_is_refused(copied_checkpoint):
    data = copied_checkpoint / ".data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    checkpoint = Checkpoint.open(str(copied_checkpoint) + "/")
    with pytest.raises(CheckpointError, match="ends before"):
        checkpoint.read("dense/kernel")
    with pytest.raises(KeyError, match="no/such"):
        checkpoint.read("no/such/tensor")
