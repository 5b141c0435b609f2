"""Stable track identity: which bytes of a file are "the audio", and the ids derived from them.

A track keeps its ``track_id`` for as long as its *audio* survives, wherever the file goes.
The audio is recognised by ``audio_hash``, a BLAKE2b-128 digest of the file's audio payload
only, so that retagging in a tag editor (which rewrites tag blocks, adds padding, reorders
atoms or renumbers Ogg pages) leaves the hash unchanged. The payload is found by walking the
container, never by decoding:

========== =================================================================================
scheme     bytes hashed
========== =================================================================================
flac       everything after the last metadata block (STREAMINFO, VORBIS_COMMENT, PICTURE,
           PADDING ... are skipped), minus trailing ID3v1/APEv2 tags
ogg        the page bodies of each logical stream from its first page with a real granule
           position on: header packets (identification, comments, setup) sit on pages with
           granule 0, or -1 while a long header packet continues, and audio starts on a fresh
           page; page headers are skipped because a retag renumbers every following page
riff       the ``fmt `` and ``data`` chunks of WAV (``LIST``/``id3 `` chunks are tags)
aiff       the ``COMM`` and ``SSND`` chunks of AIFF/AIFC (``ID3 ``/``NAME``/... are tags)
mp4        the payload of every ``mdat`` box (tags live in ``moov/udta``)
asf        the Data Object of WMA/ASF (tags live in the Header Object)
stream     anything else (MP3, AAC ADTS, WavPack, Musepack, APE, ...): the whole file minus
           leading ID3v2 tags and trailing ID3v1/APEv2 tags; for a format with no such tags
           this is the whole file
========== =================================================================================

Walking the container also catches cut files cheaply: a chunk, box, page or metadata block
that declares more bytes than the file holds raises :class:`TruncatedAudio`, and so does an
MP3 whose Xing/Info header counts clearly more stream bytes than there are.

``track_id`` is derived from the audio hash and path at first sight (so rebuilding the store
from the same library reproduces the same ids) and then never changes; see
:func:`derive_track_id`.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass

DIGEST_BYTES = 16

_ASF_HEADER_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_ASF_DATA_GUID = bytes.fromhex("3626b2758e66cf11a6d900aa0062ce6c")
_APE_HEADER_PRESENT = 0x8000_0000
# A LAME-written ID3v2 tag may be included in the Xing byte count; demand a clear shortfall.
_XING_MIN_FRACTION = 0.9

Region = tuple[int, int]


class TruncatedAudio(ValueError):
    """The container declares more data than the file holds, or holds no audio at all."""


@dataclass(frozen=True, slots=True)
class AudioDigest:
    audio_hash: str  # hex BLAKE2b-128 of the payload regions
    scheme: str  # which rule located the payload (see the module docstring)
    payload_bytes: int


def audio_digest(path: str | os.PathLike[str]) -> AudioDigest:
    """Hash the audio payload of one file; raises TruncatedAudio or OSError."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            raise TruncatedAudio("file is empty")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
            scheme, regions = payload_regions(view)
            digest = hashlib.blake2b(scheme.encode(), digest_size=DIGEST_BYTES)
            total = 0
            for start, end in regions:
                digest.update(view[start:end])
                total += end - start
    if total == 0:
        raise TruncatedAudio(f"no audio payload found ({scheme} layout)")
    return AudioDigest(digest.hexdigest(), scheme, total)


def payload_regions(buf: memoryview | bytes) -> tuple[str, list[Region]]:
    """The scheme and the (start, end) byte ranges that hold the audio of ``buf``."""
    size = len(buf)
    start = _skip_id3v2(buf, 0)
    magic = bytes(buf[:16])
    if bytes(buf[start : start + 4]) == b"fLaC":
        return "flac", _flac_regions(buf, start)
    if magic[:4] == b"OggS":
        return "ogg", list(_ogg_regions(buf))
    if magic[:4] == b"RIFF" and magic[8:12] == b"WAVE":
        return "riff", _iff_regions(buf, "<", {b"fmt ", b"data"})
    if magic[:4] == b"FORM" and magic[8:12] in (b"AIFF", b"AIFC"):
        return "aiff", _iff_regions(buf, ">", {b"COMM", b"SSND"})
    if magic[4:8] == b"ftyp":
        return "mp4", _mp4_regions(buf)
    if magic[:16] == _ASF_HEADER_GUID:
        return "asf", _asf_regions(buf)
    end = _trailing_tags_start(buf, start, size)
    _check_xing_length(buf, start, end)
    return "stream", [(start, end)]


def derive_track_id(audio_hash: str, path: str, attempt: int = 0) -> str:
    """A 96-bit id from the audio and the path it was first seen at; bump ``attempt`` on a clash."""
    seed = f"{audio_hash}\0{path}\0{attempt}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(seed, digest_size=12).hexdigest()


def _truncated(what: str, declared_end: int, size: int) -> TruncatedAudio:
    return TruncatedAudio(f"{what} runs to byte {declared_end} but the file ends at byte {size}")


def _skip_id3v2(buf, pos: int) -> int:
    while bytes(buf[pos : pos + 3]) == b"ID3" and len(buf) >= pos + 10:
        flags = buf[pos + 5]
        b0, b1, b2, b3 = buf[pos + 6 : pos + 10]
        end = pos + 10 + (b0 << 21 | b1 << 14 | b2 << 7 | b3) + (10 if flags & 0x10 else 0)
        if end > len(buf):
            raise _truncated("ID3v2 tag", end, len(buf))
        pos = end
    return pos


def _trailing_tags_start(buf, start: int, end: int) -> int:
    """Where trailing ID3v1 and APEv2 tags (in either order) begin."""
    while True:
        if end - start >= 128 and bytes(buf[end - 128 : end - 125]) == b"TAG":
            end -= 128
        elif end - start >= 32 and bytes(buf[end - 32 : end - 24]) == b"APETAGEX":
            tag_size, _, flags = struct.unpack_from("<III", buf, end - 20)
            tag_start = end - tag_size - (32 if flags & _APE_HEADER_PRESENT else 0)
            if tag_start < start:
                return end  # nonsense size: treat the footer as payload rather than guess
            end = tag_start
        else:
            return end


def _flac_regions(buf, pos: int) -> list[Region]:
    pos += 4
    while True:
        if pos + 4 > len(buf):
            raise _truncated("FLAC metadata", pos + 4, len(buf))
        header = buf[pos]
        end = pos + 4 + int.from_bytes(buf[pos + 1 : pos + 4], "big")
        if end > len(buf):
            raise _truncated(f"FLAC metadata block type {header & 0x7F}", end, len(buf))
        pos = end
        if header & 0x80:  # last-metadata-block flag
            return [(pos, _trailing_tags_start(buf, pos, len(buf)))]


def _ogg_regions(buf) -> Iterable[Region]:
    pos, size = 0, len(buf)
    in_audio: set[int] = set()  # serials of the logical streams whose headers are behind
    while pos + 27 <= size and bytes(buf[pos : pos + 4]) == b"OggS":
        granule, serial = struct.unpack_from("<qI", buf, pos + 6)
        segments = buf[pos + 26]
        body = pos + 27 + segments
        end = body + sum(buf[pos + 27 : body])
        if end > size:
            raise _truncated("Ogg page", end, size)
        if serial in in_audio or granule not in (0, -1):
            in_audio.add(serial)
            yield body, end
        pos = end
    if pos < size:  # bytes that are not Ogg pages (junk, appended tags): content all the same
        yield pos, size


def _iff_regions(buf, order: str, audio_chunks: set[bytes]) -> list[Region]:
    regions, pos, size = [], 12, len(buf)
    while pos + 8 <= size:
        chunk_id = bytes(buf[pos : pos + 4])
        length = struct.unpack_from(order + "I", buf, pos + 4)[0]
        end = pos + 8 + length
        if chunk_id in audio_chunks:
            if length == 0xFFFFFFFF:  # streaming writers leave the size open
                end = size
            if end > size:
                raise _truncated(f"{chunk_id.decode('latin-1').strip()!r} chunk", end, size)
            regions.append((pos + 8, end))
        pos = end + (length & 1)  # chunks are padded to even sizes
    return regions


def _mp4_regions(buf) -> list[Region]:
    regions, pos, size = [], 0, len(buf)
    while pos + 8 <= size:
        length, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if length == 1:
            if pos + 16 > size:
                raise _truncated(f"{kind!r} box header", pos + 16, size)
            length, header = struct.unpack_from(">Q", buf, pos + 8)[0], 16
        elif length == 0:  # box extends to the end of the file
            length = size - pos
        if length < header:
            raise TruncatedAudio(f"{kind!r} box at byte {pos} declares an impossible size {length}")
        end = pos + length
        if end > size:
            raise _truncated(f"{kind.decode('latin-1')!r} box", end, size)
        if kind == b"mdat":
            regions.append((pos + header, end))
        pos = end
    return regions


def _asf_regions(buf) -> list[Region]:
    regions, pos, size = [], 0, len(buf)
    while pos + 24 <= size:
        guid = bytes(buf[pos : pos + 16])
        length = struct.unpack_from("<Q", buf, pos + 16)[0]
        if length < 24:
            raise TruncatedAudio(f"ASF object at byte {pos} declares an impossible size {length}")
        end = pos + length
        if end > size:
            raise _truncated("ASF object", end, size)
        if guid == _ASF_DATA_GUID:
            regions.append((pos + 24, end))
        pos = end
    return regions


def _check_xing_length(buf, start: int, end: int) -> None:
    """Raise if an MP3's Xing/Info header counts clearly more bytes than the stream holds."""
    if end - start < 4 or buf[start] != 0xFF or (buf[start + 1] & 0xE6) != 0xE2:
        return  # not an MPEG layer III frame header
    mpeg1 = (buf[start + 1] >> 3) & 3 == 3
    mono = (buf[start + 3] >> 6) & 3 == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    crc = 0 if buf[start + 1] & 1 else 2
    tag = start + 4 + crc + side_info
    if end - tag < 16 or bytes(buf[tag : tag + 4]) not in (b"Xing", b"Info"):
        return
    flags = struct.unpack_from(">I", buf, tag + 4)[0]
    if not flags & 0x2:  # no byte count
        return
    declared = struct.unpack_from(">I", buf, tag + 8 + (4 if flags & 0x1 else 0))[0]
    if end - start < declared * _XING_MIN_FRACTION:
        raise TruncatedAudio(f"MP3 stream holds {end - start} bytes but its Xing/Info header declares {declared}")
