"""Tags and stream properties of one audio file, normalised across container formats.

mutagen does the parsing; this module maps each format's own field names onto one record:
ID3 frames (MP3, and the ID3 chunks of WAV and AIFF), Vorbis comments (FLAC, Ogg Vorbis,
Opus, Speex), MP4 atoms (m4a/AAC/ALAC), ASF attributes (WMA) and APEv2 items (WavPack,
Musepack, Monkey's Audio). Keys are compared case-insensitively because taggers disagree on
case (``TXXX:REPLAYGAIN_TRACK_GAIN`` vs ``TXXX:replaygain_track_gain``).

Tags are user-controlled input and may be hostile, so every value is sanitised before it is
stored: bytes are decoded as UTF-8 with replacement characters, NUL characters and lone
surrogates are removed, and each value is cut to :data:`MAX_TAG_CHARS` characters (multi-
valued fields keep at most :data:`MAX_TAG_VALUES` values). Values reach DuckDB only as bound
parameters, so quotes and SQL metacharacters are plain text. Cover art and other binary
frames are never read into the record.

Genres are multi-valued: separate values (ID3v2.4 NUL-separated lists, repeated Vorbis
``GENRE`` fields) are kept apart, and a single value is also split on ``;``. Opus ``R128_*``
gains are converted to ReplayGain dB (ReplayGain's reference is 5 dB louder than R128's).

:func:`read_metadata` also checks that FLAC and Ogg streams decode at their declared end,
which catches files cut short inside the audio (truncation inside container structures is
caught by :mod:`melodex_ml.catalog.identity`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

import mutagen
from mutagen.id3 import ID3, RVA2, TCON, UFID

MAX_TAG_CHARS = 1024
MAX_TAG_VALUES = 16

# Canonical field -> lower-cased keys that carry it, across ID3 / Vorbis / MP4 / ASF / APEv2.
_MB = "----:com.apple.itunes:musicbrainz "
_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "tit2", "©nam"),
    "artist": ("artist", "tpe1", "©art", "author"),
    "album": ("album", "talb", "©alb", "wm/albumtitle"),
    "album_artist": ("albumartist", "album artist", "album_artist", "tpe2", "aart", "wm/albumartist"),
    "genres": ("genre", "tcon", "©gen", "wm/genre"),
    "year": ("date", "year", "tdrc", "tyer", "©day", "wm/year", "originaldate", "tdor"),
    "track_number": ("tracknumber", "track", "trck", "trkn", "wm/tracknumber"),
    "disc_number": ("discnumber", "disc", "tpos", "disk", "wm/partofset"),
    # Picard's "MusicBrainz Track Id" is the recording; the release track has its own key.
    "musicbrainz_recording_id": (
        "musicbrainz_trackid",
        "ufid:http://musicbrainz.org",
        "txxx:musicbrainz track id",
        _MB + "track id",
        "musicbrainz/track id",
    ),
    "musicbrainz_release_track_id": (
        "musicbrainz_releasetrackid",
        "txxx:musicbrainz release track id",
        _MB + "release track id",
        "musicbrainz/release track id",
    ),
    "musicbrainz_album_id": (
        "musicbrainz_albumid",
        "txxx:musicbrainz album id",
        _MB + "album id",
        "musicbrainz/album id",
    ),
    "musicbrainz_artist_id": (
        "musicbrainz_artistid",
        "txxx:musicbrainz artist id",
        _MB + "artist id",
        "musicbrainz/artist id",
    ),
    "musicbrainz_album_artist_id": (
        "musicbrainz_albumartistid",
        "txxx:musicbrainz album artist id",
        _MB + "album artist id",
        "musicbrainz/album artist id",
    ),
}
for _scope in ("track", "album"):
    for _what in ("gain", "peak"):
        _key = f"replaygain_{_scope}_{_what}"
        _ALIASES[_key] = (_key, f"txxx:{_key}", f"----:com.apple.itunes:{_key}", f"rva2:{_scope}:{_what}")
_ALIASES["r128_track_gain"] = ("r128_track_gain",)
_ALIASES["r128_album_gain"] = ("r128_album_gain",)
_WANTED = frozenset(key for keys in _ALIASES.values() for key in keys)
_WANTED_ID3_FRAMES = _WANTED | {"rva2:track", "rva2:album"}

# mutagen class -> (container, codec); None codec means "ask the stream info".
_FORMATS: dict[str, tuple[str, str | None]] = {
    "MP3": ("mp3", None),
    "FLAC": ("flac", "flac"),
    "OggVorbis": ("ogg", "vorbis"),
    "OggOpus": ("ogg", "opus"),
    "OggFLAC": ("ogg", "flac"),
    "OggSpeex": ("ogg", "speex"),
    "MP4": ("mp4", None),
    "WAVE": ("wav", None),
    "AIFF": ("aiff", "pcm"),
    "ASF": ("asf", None),
    "AAC": ("aac", "aac"),
    "AC3": ("ac3", "ac3"),
    "WavPack": ("wavpack", "wavpack"),
    "MonkeysAudio": ("ape", "ape"),
    "Musepack": ("mpc", "musepack"),
    "TrueAudio": ("tta", "tta"),
    "OptimFROG": ("ofr", "optimfrog"),
    "DSF": ("dsf", "dsd"),
    "DSDIFF": ("dff", "dsd"),
}
_WAV_CODECS = {1: "pcm", 3: "pcm_float", 0xFFFE: "pcm", 2: "adpcm", 6: "alaw", 7: "mulaw", 0x55: "mp3"}
# Stream lengths that libsndfile takes from exact header fields, so a short tail read means a cut file.
_TAIL_CHECKED = frozenset({"FLAC", "OggVorbis", "OggOpus", "OggFLAC"})

_LEADING_INT = re.compile(r"^\s*(\d{1,9})(?!\d)")  # "3/12" -> 3; absurd lengths -> None
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")


class InvalidAudio(ValueError):
    """mutagen cannot recognise or parse the file as audio."""


class CorruptAudio(ValueError):
    """The file parses but its audio stream does not decode to its declared end."""


@dataclass(frozen=True, slots=True)
class AudioMetadata:
    file_format: str
    codec: str | None
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    bit_rate_kbps: int | None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    genres: tuple[str, ...] = ()
    year: int | None = None
    track_number: int | None = None
    disc_number: int | None = None
    musicbrainz_recording_id: str | None = None
    musicbrainz_release_track_id: str | None = None
    musicbrainz_album_id: str | None = None
    musicbrainz_artist_id: str | None = None
    musicbrainz_album_artist_id: str | None = None
    replaygain_track_gain_db: float | None = None
    replaygain_track_peak: float | None = None
    replaygain_album_gain_db: float | None = None
    replaygain_album_peak: float | None = None

    def as_columns(self) -> dict[str, object]:
        """Column name -> value, with genres as a list (DuckDB VARCHAR[])."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["genres"] = list(self.genres)
        return row


METADATA_COLUMNS = tuple(f.name for f in fields(AudioMetadata))


def read_metadata(path: str | os.PathLike[str]) -> AudioMetadata:
    """Parse one file's tags and stream info; raises InvalidAudio, CorruptAudio or OSError."""
    try:
        parsed = mutagen.File(path)
    except OSError:
        raise
    except Exception as exc:  # mutagen raises many error types (and struct/Index errors) on bad data
        name = type(exc).__name__
        if name == "error":  # mutagen's per-format base errors all share this name
            name = f"{type(exc).__module__}.error"
        raise InvalidAudio(f"not a readable audio file ({name}: {str(exc) or 'no details'})") from exc
    if parsed is None:
        raise InvalidAudio("no audio format recognised in the file's header")
    kind = type(parsed).__name__
    if kind in _TAIL_CHECKED:
        _check_tail_decodes(path)
    values = normalised_tags(parsed.tags) if parsed.tags is not None else {}
    return AudioMetadata(**_stream_fields(kind, parsed.info), **tag_fields(values))


def normalised_tags(tags: object) -> dict[str, list[str]]:
    """Lower-cased key -> sanitised text values, for the keys this module maps."""
    out: dict[str, list[str]] = {}
    if isinstance(tags, ID3):
        for frame in tags.values():
            if frame.HashKey.lower() in _WANTED_ID3_FRAMES:  # skip pictures and comments unread
                for key, value in _id3_items(frame):
                    out.setdefault(key, []).extend(_clean_all(value))
        return out
    for key, values in tags.items():  # Vorbis comments, MP4, ASF and APEv2 all offer items()
        key = str(key).lower()
        if key in _WANTED:
            items = values if isinstance(values, list) else [values]
            out.setdefault(key, []).extend(text for item in items for text in _clean_all(_as_texts(item)))
    return out


def tag_fields(values: Mapping[str, list[str]]) -> dict[str, object]:
    """Canonical tag fields from normalised key/values (see :func:`normalised_tags`)."""

    def first(name: str) -> str | None:
        for key in _ALIASES[name]:
            for value in values.get(key, ()):
                if value:
                    return value
        return None

    def gain(scope: str) -> float | None:
        found = _parse_float(first(f"replaygain_{scope}_gain"))
        if found is None and (r128 := _parse_float(first(f"r128_{scope}_gain"))) is not None:
            found = r128 / 256 + 5.0  # Q7.8 fixed point relative to -23 LUFS; ReplayGain uses -18
        return found

    text_fields = ("title", "artist", "album", "album_artist") + tuple(
        name for name in _ALIASES if name.startswith("musicbrainz_")
    )
    return {
        **{name: first(name) for name in text_fields},
        "genres": _genres(value for key in _ALIASES["genres"] for value in values.get(key, ())),
        "year": _parse_int(first("year"), _YEAR),
        "track_number": _parse_int(first("track_number"), _LEADING_INT),
        "disc_number": _parse_int(first("disc_number"), _LEADING_INT),
        "replaygain_track_gain_db": gain("track"),
        "replaygain_track_peak": _parse_float(first("replaygain_track_peak")),
        "replaygain_album_gain_db": gain("album"),
        "replaygain_album_peak": _parse_float(first("replaygain_album_peak")),
    }


def sanitize_text(value: object) -> str | None:
    """Storable text: decoded, without NULs or lone surrogates, at most MAX_TAG_CHARS long."""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = str(value)
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ").strip()
    return text[:MAX_TAG_CHARS] or None


def _id3_items(frame) -> Iterable[tuple[str, object]]:
    key = frame.HashKey.lower()
    if isinstance(frame, TCON):
        yield key, frame.genres
    elif isinstance(frame, UFID):
        yield key, [frame.data]
    elif isinstance(frame, RVA2):  # EasyID3's ReplayGain home: gain in dB, peak linear
        yield f"{key}:gain", [str(frame.gain)]
        yield f"{key}:peak", [str(frame.peak)]
    elif hasattr(frame, "text"):
        yield key, [str(text) for text in frame.text]


def _as_texts(item: object) -> list[object]:
    kind = getattr(item, "kind", None)  # APEv2 value: 0 text (NUL-separated list), 1 binary, 2 link
    if kind is not None:
        return list(item) if kind == 0 else []
    value = getattr(item, "value", item)  # ASF attributes wrap their value
    if isinstance(value, tuple):  # MP4 trkn/disk: (number, total)
        return ["/".join(str(part) for part in value)]
    return [value]


def _clean_all(values: Iterable[object]) -> list[str]:
    cleaned = (sanitize_text(value) for value in list(values)[:MAX_TAG_VALUES])
    return [text for text in cleaned if text]


def _genres(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        for genre in value.split(";"):
            genre = genre.strip()
            if genre and genre.casefold() not in seen:
                seen[genre.casefold()] = genre
    return tuple(seen.values())[:MAX_TAG_VALUES]


def _parse_int(text: str | None, pattern: re.Pattern[str]) -> int | None:
    match = pattern.search(text) if text else None
    return int(match.group(1)) if match else None


def _parse_float(text: str | None) -> float | None:
    match = _FLOAT.search(text) if text else None
    if not match:
        return None
    value = float(match.group(0))
    return value if math.isfinite(value) and abs(value) < 1e6 else None


def _stream_fields(kind: str, info) -> dict[str, object]:
    container, codec = _FORMATS.get(kind, (kind.lower(), None))
    if codec is None:
        codec = _codec_from_info(kind, info)
    length = getattr(info, "length", None)
    sample_rate = getattr(info, "sample_rate", None) or (48_000 if kind == "OggOpus" else None)
    bitrate = getattr(info, "bitrate", None)
    return {
        "file_format": container,
        "codec": codec,
        "duration_s": float(length) if length is not None and math.isfinite(length) and length >= 0 else None,
        "sample_rate": int(sample_rate) if sample_rate else None,
        "channels": int(getattr(info, "channels", 0)) or None,
        "bit_rate_kbps": round(bitrate / 1000) if bitrate else None,
    }


def _codec_from_info(kind: str, info) -> str | None:
    if kind == "MP3":
        return f"mp{getattr(info, 'layer', 3)}"
    if kind == "MP4":
        codec = getattr(info, "codec", "") or ""
        return "aac" if codec.startswith("mp4a.40") else (codec or None)
    if kind == "WAVE":
        audio_format = getattr(info, "audio_format", 1)
        return _WAV_CODECS.get(audio_format, f"wav-0x{audio_format:04x}")
    if kind == "ASF":
        return sanitize_text(getattr(info, "codec_name", "")) or "wma"
    return sanitize_text(getattr(info, "codec", "")) or None


def _check_tail_decodes(path: str | os.PathLike[str]) -> None:
    """The decoders' verdict (libsndfile, FFmpeg when it fails): a file that only FFmpeg reads to
    its end, or that stops within codec padding of its header's length, is fine."""
    from melodex_ml.audio import AudioDecodeError, check_decodes_to_end

    try:
        check_decodes_to_end(os.fsdecode(path))
    except AudioDecodeError as exc:
        raise CorruptAudio(f"audio stream does not decode to its end: {exc.reason}") from exc