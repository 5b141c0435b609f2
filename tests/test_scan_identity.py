"""Audio-payload hashing: stable under retagging, sensitive to audio, strict about cut files."""

from __future__ import annotations

import struct
from pathlib import Path

import mutagen
import pytest
from mutagen.apev2 import APEv2
from mutagen.id3 import APIC, ID3, TIT2
from test_scan_support import write_audio

from melodex_ml.catalog.identity import TruncatedAudio, audio_digest, derive_track_id, payload_regions

SCHEMES = {
    ".wav": "riff",
    ".aiff": "aiff",
    ".flac": "flac",
    ".ogg": "ogg",
    ".opus": "ogg",
    ".mp3": "stream",
    ".m4a": "mp4",
}
COVER = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400  # 100 KB of "cover art"


def retag_heavily(path: Path) -> None:
    """What a tag editor does: new text, a large picture, a rewritten tag block."""
    audio = mutagen.File(path)
    if audio.tags is None:
        audio.add_tags()
    if isinstance(audio.tags, ID3):
        audio.tags.add(TIT2(encoding=3, text="Retagged"))
        audio.tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=COVER))
    elif path.suffix == ".m4a":
        audio.tags["©nam"] = ["Retagged"]
        audio.tags["©cmt"] = ["x" * 100_000]
    else:  # Vorbis comments
        audio.tags["TITLE"] = "Retagged"
        audio.tags["COMMENT"] = "x" * 100_000  # grows the comment header over several Ogg pages
    audio.save()


@pytest.mark.parametrize("suffix", list(SCHEMES))
def test_hash_ignores_tags_but_not_audio(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"a{suffix}", seed=1)
    before, raw_before = audio_digest(path), path.read_bytes()

    retag_heavily(path)
    after = audio_digest(path)
    other_audio = audio_digest(write_audio(tmp_path / f"b{suffix}", seed=2))

    assert path.read_bytes() != raw_before and len(path.read_bytes()) > len(raw_before) + 50_000
    assert before.scheme == after.scheme == SCHEMES[suffix]
    assert after.audio_hash == before.audio_hash
    assert other_audio.audio_hash != before.audio_hash


def test_stream_scheme_skips_trailing_id3v1_and_ape_tags(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.mp3")
    before = audio_digest(path)
    ape = APEv2()
    ape["Title"] = "Tagged at the end"
    ape.save(path)
    with path.open("ab") as file:
        file.write(b"TAG" + b"Title".ljust(30, b"\x00") + b"\x00" * 95)
    assert audio_digest(path).audio_hash == before.audio_hash


@pytest.mark.parametrize("suffix", [".wav", ".aiff", ".ogg", ".opus", ".mp3", ".m4a"])
def test_cut_files_are_reported_as_truncated(tmp_path: Path, suffix: str) -> None:
    path = write_audio(tmp_path / f"a{suffix}", seconds=1.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(TruncatedAudio, match="runs to byte|declares"):
        audio_digest(path)


def test_empty_file_and_header_only_file_have_no_audio(tmp_path: Path) -> None:
    empty = tmp_path / "empty.flac"
    empty.touch()
    with pytest.raises(TruncatedAudio, match="empty"):
        audio_digest(empty)
    flac = write_audio(tmp_path / "a.flac").read_bytes()
    headers_only = tmp_path / "headers.flac"
    headers_only.write_bytes(b"fLaC" + bytes([0x80]) + flac[5 : 8 + 34])  # STREAMINFO, flagged last, no frames
    with pytest.raises(TruncatedAudio, match="no audio payload"):
        audio_digest(headers_only)


def _asf_object(guid_hex: str, payload: bytes) -> bytes:
    return bytes.fromhex(guid_hex) + struct.pack("<Q", 24 + len(payload)) + payload


def test_asf_hashes_the_data_object_only() -> None:
    header_guid, data_guid = "3026b2758e66cf11a6d900aa0062ce6c", "3626b2758e66cf11a6d900aa0062ce6c"
    data = _asf_object(data_guid, b"\x01" * 100)
    scheme, regions = payload_regions(_asf_object(header_guid, b"title=A") + data)
    assert scheme == "asf" and [end - start for start, end in regions] == [100]
    retagged = _asf_object(header_guid, b"title=A much longer title") + data
    assert [bytes(retagged[a:b]) for a, b in payload_regions(retagged)[1]] == [b"\x01" * 100]
    with pytest.raises(TruncatedAudio):
        payload_regions(_asf_object(header_guid, b"x") + data[:-10])


def test_track_ids_are_deterministic_and_attempts_differ() -> None:
    first = derive_track_id("ab" * 16, "/music/a.flac")
    assert first == derive_track_id("ab" * 16, "/music/a.flac")
    assert (
        len({first, derive_track_id("ab" * 16, "/music/b.flac"), derive_track_id("ab" * 16, "/music/a.flac", 1)}) == 3
    )
    assert derive_track_id("ab" * 16, "/music/caf\udce9.flac")  # non-UTF-8 names are fine
