"""Tag normalisation across formats, hostile values, stream properties and read errors."""

from __future__ import annotations

from pathlib import Path

import mutagen
import pytest
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags, ASFUnicodeAttribute
from mutagen.flac import FLAC
from mutagen.id3 import ID3, RVA2, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK, TXXX, UFID
from mutagen.mp4 import MP4, MP4FreeForm
from test_scan_support import write_audio

from melodex_ml.catalog.tags import (
    MAX_TAG_CHARS,
    MAX_TAG_VALUES,
    CorruptAudio,
    InvalidAudio,
    normalised_tags,
    read_metadata,
    sanitize_text,
    tag_fields,
)

REC, ALBUM_ID, ARTIST_ID = (
    "0f2c3c1e-1111-4a5b-9c8d-000000000001",
    "0f2c3c1e-2222-4a5b-9c8d-000000000002",
    "0f2c3c1e-3333-4a5b-9c8d-000000000003",
)
ALBUM_ARTIST_ID, RELEASE_TRACK_ID = "0f2c3c1e-4444-4a5b-9c8d-000000000004", "0f2c3c1e-5555-4a5b-9c8d-000000000005"

# What every format below must normalise to.
EXPECTED = {
    "title": "Blue in Green",
    "artist": "Miles Davis",
    "album": "Kind of Blue",
    "album_artist": "Miles Davis Sextet",
    "genres": ("Jazz", "Modal Jazz"),
    "year": 1959,
    "track_number": 3,
    "disc_number": 1,
    "musicbrainz_recording_id": REC,
    "musicbrainz_release_track_id": RELEASE_TRACK_ID,
    "musicbrainz_album_id": ALBUM_ID,
    "musicbrainz_artist_id": ARTIST_ID,
    "musicbrainz_album_artist_id": ALBUM_ARTIST_ID,
    "replaygain_track_gain_db": -6.5,
    "replaygain_track_peak": 0.875,
    "replaygain_album_gain_db": -7.25,
    "replaygain_album_peak": 0.9375,
}


def _id3_frames(tags: ID3) -> None:
    tags.add(TIT2(encoding=3, text=EXPECTED["title"]))
    tags.add(TPE1(encoding=3, text=EXPECTED["artist"]))
    tags.add(TALB(encoding=3, text=EXPECTED["album"]))
    tags.add(TPE2(encoding=3, text=EXPECTED["album_artist"]))
    tags.add(TCON(encoding=3, text=["Jazz", "Modal Jazz"]))
    tags.add(TDRC(encoding=3, text="1959-08-17"))
    tags.add(TRCK(encoding=3, text="3/5"))
    tags.add(TPOS(encoding=3, text="1/1"))
    tags.add(UFID(owner="http://musicbrainz.org", data=REC.encode()))
    for desc, value in [
        ("MusicBrainz Album Id", ALBUM_ID),
        ("MusicBrainz Artist Id", ARTIST_ID),
        ("MusicBrainz Album Artist Id", ALBUM_ARTIST_ID),
        ("MusicBrainz Release Track Id", RELEASE_TRACK_ID),
        ("REPLAYGAIN_TRACK_GAIN", "-6.50 dB"),
        ("replaygain_track_peak", "0.875000"),  # taggers disagree on case
        ("REPLAYGAIN_ALBUM_GAIN", "-7.25 dB"),
        ("REPLAYGAIN_ALBUM_PEAK", "0.937500"),
    ]:
        tags.add(TXXX(encoding=3, desc=desc, text=value))


def tag_id3(path: Path) -> None:
    audio = mutagen.File(path)
    if audio.tags is None:
        audio.add_tags()
    _id3_frames(audio.tags)
    audio.save()


def tag_vorbis(path: Path) -> None:
    audio = mutagen.File(path)
    audio.update(
        {
            "TITLE": EXPECTED["title"],
            "ARTIST": EXPECTED["artist"],
            "ALBUM": EXPECTED["album"],
            "ALBUMARTIST": EXPECTED["album_artist"],
            "GENRE": ["Jazz", "Modal Jazz"],
            "DATE": "1959",
            "TRACKNUMBER": "3",
            "DISCNUMBER": "1/1",
            "MUSICBRAINZ_TRACKID": REC,
            "MUSICBRAINZ_RELEASETRACKID": RELEASE_TRACK_ID,
            "MUSICBRAINZ_ALBUMID": ALBUM_ID,
            "MUSICBRAINZ_ARTISTID": ARTIST_ID,
            "MUSICBRAINZ_ALBUMARTISTID": ALBUM_ARTIST_ID,
        }
    )
    if path.suffix == ".opus":  # Opus players read R128 gains (Q7.8 dB relative to -23 LUFS), no peaks
        audio.update(
            {"R128_TRACK_GAIN": str(round((-6.5 - 5) * 256)), "R128_ALBUM_GAIN": str(round((-7.25 - 5) * 256))}
        )
    else:
        audio.update(
            {
                "REPLAYGAIN_TRACK_GAIN": "-6.50 dB",
                "REPLAYGAIN_TRACK_PEAK": "0.875",
                "REPLAYGAIN_ALBUM_GAIN": "-7.25 dB",
                "REPLAYGAIN_ALBUM_PEAK": "0.9375",
            }
        )
    audio.save()


def tag_mp4(path: Path) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    freeform = "----:com.apple.iTunes:"
    audio.tags.update(
        {
            "©nam": [EXPECTED["title"]],
            "©ART": [EXPECTED["artist"]],
            "©alb": [EXPECTED["album"]],
            "aART": [EXPECTED["album_artist"]],
            "©gen": ["Jazz", "Modal Jazz"],
            "©day": ["1959-08-17T07:00:00Z"],
            "trkn": [(3, 5)],
            "disk": [(1, 1)],
            freeform + "MusicBrainz Track Id": [MP4FreeForm(REC.encode())],
            freeform + "MusicBrainz Release Track Id": [MP4FreeForm(RELEASE_TRACK_ID.encode())],
            freeform + "MusicBrainz Album Id": [MP4FreeForm(ALBUM_ID.encode())],
            freeform + "MusicBrainz Artist Id": [MP4FreeForm(ARTIST_ID.encode())],
            freeform + "MusicBrainz Album Artist Id": [MP4FreeForm(ALBUM_ARTIST_ID.encode())],
            freeform + "replaygain_track_gain": [MP4FreeForm(b"-6.50 dB")],
            freeform + "replaygain_track_peak": [MP4FreeForm(b"0.875000")],
            freeform + "replaygain_album_gain": [MP4FreeForm(b"-7.25 dB")],
            freeform + "replaygain_album_peak": [MP4FreeForm(b"0.937500")],
        }
    )
    audio.save()


# suffix -> (tagger, file_format, codec, sample_rate, channels)
FORMATS = {
    ".mp3": (tag_id3, "mp3", "mp3", 8000, 1),
    ".wav": (tag_id3, "wav", "pcm", 8000, 1),
    ".aiff": (tag_id3, "aiff", "pcm", 8000, 1),
    ".flac": (tag_vorbis, "flac", "flac", 8000, 1),
    ".ogg": (tag_vorbis, "ogg", "vorbis", 8000, 1),
    ".opus": (tag_vorbis, "ogg", "opus", 48000, 1),
    ".m4a": (tag_mp4, "mp4", "aac", 44100, 2),
}


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_tags_normalise_to_the_same_record_in_every_format(tmp_path: Path, suffix: str) -> None:
    tagger, file_format, codec, sample_rate, channels = FORMATS[suffix]
    path = write_audio(tmp_path / f"track{suffix}", seconds=0.25)
    tagger(path)

    meta = read_metadata(path)

    expected = dict(EXPECTED)
    if suffix == ".opus":
        expected["replaygain_track_peak"] = expected["replaygain_album_peak"] = None
    assert {name: getattr(meta, name) for name in expected} == expected
    assert (meta.file_format, meta.codec, meta.sample_rate, meta.channels) == (
        file_format,
        codec,
        sample_rate,
        channels,
    )
    assert meta.duration_s == pytest.approx(0.25, abs=0.08)  # lossy codecs pad a frame or two
    assert meta.bit_rate_kbps and meta.bit_rate_kbps > 0


def test_asf_attributes_normalise() -> None:
    tags = ASFTags()
    for key, value in [
        ("Title", EXPECTED["title"]),
        ("Author", EXPECTED["artist"]),
        ("WM/AlbumTitle", EXPECTED["album"]),
        ("WM/AlbumArtist", EXPECTED["album_artist"]),
        ("WM/Genre", "Jazz"),
        ("WM/Genre", "Modal Jazz"),
        ("WM/Year", "1959"),
        ("WM/TrackNumber", "3"),
        ("WM/PartOfSet", "1/1"),
        ("MusicBrainz/Track Id", REC),
        ("MusicBrainz/Release Track Id", RELEASE_TRACK_ID),
        ("MusicBrainz/Album Id", ALBUM_ID),
        ("MusicBrainz/Artist Id", ARTIST_ID),
        ("MusicBrainz/Album Artist Id", ALBUM_ARTIST_ID),
        ("REPLAYGAIN_TRACK_GAIN", "-6.50 dB"),
        ("REPLAYGAIN_TRACK_PEAK", "0.875"),
        ("REPLAYGAIN_ALBUM_GAIN", "-7.25 dB"),
        ("REPLAYGAIN_ALBUM_PEAK", "0.9375"),
    ]:
        tags.append((key, ASFUnicodeAttribute(value)))
    assert tag_fields(normalised_tags(tags)) == EXPECTED


def test_apev2_items_normalise_and_split_null_separated_lists() -> None:
    tags = APEv2()
    tags.update(
        {
            "Title": EXPECTED["title"],
            "Artist": EXPECTED["artist"],
            "Album": EXPECTED["album"],
            "Album Artist": EXPECTED["album_artist"],
            "Genre": "Jazz\x00Modal Jazz",
            "Year": "1959",
            "Track": "3/5",
            "Disc": "1",
            "MUSICBRAINZ_TRACKID": REC,
            "MUSICBRAINZ_RELEASETRACKID": RELEASE_TRACK_ID,
            "MUSICBRAINZ_ALBUMID": ALBUM_ID,
            "MUSICBRAINZ_ARTISTID": ARTIST_ID,
            "MUSICBRAINZ_ALBUMARTISTID": ALBUM_ARTIST_ID,
            "REPLAYGAIN_TRACK_GAIN": "-6.50 dB",
            "REPLAYGAIN_TRACK_PEAK": "0.875",
            "REPLAYGAIN_ALBUM_GAIN": "-7.25 dB",
            "REPLAYGAIN_ALBUM_PEAK": "0.9375",
        }
    )
    assert tag_fields(normalised_tags(tags)) == EXPECTED


def test_id3_rva2_frames_give_replaygain(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "rva2.mp3")
    tags = ID3()
    tags.add(RVA2(desc="track", channel=1, gain=-6.5, peak=0.5))
    tags.add(RVA2(desc="album", channel=1, gain=-7.25, peak=0.75))
    tags.save(path)
    meta = read_metadata(path)
    assert (meta.replaygain_track_gain_db, meta.replaygain_album_gain_db) == (-6.5, -7.25)
    assert meta.replaygain_track_peak == pytest.approx(0.5, abs=1e-3)
    assert meta.replaygain_album_peak == pytest.approx(0.75, abs=1e-3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"tracknumber": [" 7 / 12"], "discnumber": ["2of3"]}, {"track_number": 7, "disc_number": 2}),
        ({"tracknumber": ["12345678901"], "discnumber": ["x1"]}, {"track_number": None, "disc_number": None}),
        ({"date": ["ca. 1971-03"]}, {"year": 1971}),
        ({"date": ["19711"]}, {"year": None}),
        ({"genre": ["Rock; Pop;  rock", "Pop"]}, {"genres": ("Rock", "Pop")}),
        (
            {"replaygain_track_gain": ["+inf dB"], "replaygain_track_peak": ["nan"]},
            {"replaygain_track_gain_db": None, "replaygain_track_peak": None},
        ),
    ],
)
def test_tag_value_parsing(values: dict[str, list[str]], expected: dict[str, object]) -> None:
    fields = tag_fields(values)
    assert {name: fields[name] for name in expected} == expected


def test_sanitize_text_decodes_strips_and_truncates() -> None:
    assert sanitize_text(b"caf\xe9 \xff") == "caf\ufffd \ufffd"
    assert sanitize_text("a\x00b") == "a b"
    assert sanitize_text("lone \udce9 surrogate") == "lone ? surrogate"
    assert sanitize_text("x" * (MAX_TAG_CHARS + 10)) == "x" * MAX_TAG_CHARS
    assert sanitize_text("  \x00 ") is None


def test_hostile_tags_are_sanitised(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "hostile.flac")
    audio = FLAC(path)
    marker = "BINARY-PLACEHOLDER-0123"
    audio.update(
        {
            "TITLE": 'Robert\'); DROP TABLE tracks; -- "quoted" \\ %s ?',
            "ARTIST": "A" * 1_000_000,
            "ALBUM": marker,
            "GENRE": [f"genre {i}" for i in range(100)],
        }
    )
    audio.save()
    raw = path.read_bytes()
    # Invalid UTF-8, a NUL and control bytes, patched in place so the block sizes stay valid.
    binary = b"\xff\xfe\xc3(\x80\x00\x01\x02\xed\xa0\x80" + b"z" * (len(marker) - 11)
    path.write_bytes(raw.replace(marker.encode(), binary))

    meta = read_metadata(path)

    assert meta.title == 'Robert\'); DROP TABLE tracks; -- "quoted" \\ %s ?'
    assert meta.artist == "A" * MAX_TAG_CHARS
    assert "\x00" not in meta.album and "\ufffd" in meta.album and meta.album.endswith("z")
    meta.album.encode("utf-8")  # storable: no lone surrogates
    assert len(meta.genres) == MAX_TAG_VALUES


def test_unparseable_and_cut_files_raise_typed_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("these are liner notes, not audio\n" * 20)
    with pytest.raises(InvalidAudio, match="can't sync to MPEG frame"):
        read_metadata(text)

    unknown = tmp_path / "noise.ogg"
    unknown.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InvalidAudio, match="no audio format recognised"):
        read_metadata(unknown)

    cut = write_audio(tmp_path / "cut.flac", seconds=1.0)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptAudio):
        read_metadata(cut)
