"""What a file declares about its audio, whichever decoder reads it: the record and the errors."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Backend = Literal["libsndfile", "ffmpeg"]


class AudioDecodeError(Exception):
    """A file that cannot be decoded (completely); the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # keep (path, reason) when the error crosses a process boundary
        return type(self), (self.path, self.reason)


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int  # as declared by the container; the decoder may deliver a few more or fewer
    duration_s: float
    codec: str  # pcm_s16, pcm_f32, flac, mp3, vorbis, opus, aac, alac, wmav2 ...
    container: str  # wav, flac, mp3, ogg, m4a, asf ...
    bit_rate_kbps: float | None  # exact for PCM, from the stream header or file size / duration otherwise
    backend: Backend  # libsndfile, or FFmpeg's libraries through PyAV
    # False where `frames` is the demuxer's guess from the file size and bit rate (an MP3 without a
    # Xing/Info/VBRI header, raw ADTS AAC): such a guess shrinks with the file, so it cannot reveal
    # truncation, and a VBR file that opens with quiet frames is guessed several times too long.
    frames_exact: bool = True


@dataclass(frozen=True)
class HeaderFacts:
    bit_rate_kbps: float | None
    length_is_estimate: bool


def header_facts(path: Path) -> HeaderFacts:
    """Bit rate from the stream header, and whether an MP3's length is only estimated (mutagen)."""
    import mutagen
    from mutagen.mp3 import MP3, BitrateMode

    try:
        tagged = mutagen.File(str(path))
    except Exception:  # a tag parser failing must not fail decoding
        log.debug("mutagen could not read %s", path, exc_info=True)
        return HeaderFacts(None, False)
    stream = getattr(tagged, "info", None)
    bitrate = getattr(stream, "bitrate", 0) or 0
    # mutagen leaves the mode UNKNOWN exactly when no Xing/Info/VBRI header gives the frame count.
    estimate = isinstance(tagged, MP3) and stream.bitrate_mode == BitrateMode.UNKNOWN
    return HeaderFacts(bitrate / 1000 if bitrate else None, estimate)


def ogg_stream_ends(path: Path) -> bool:
    """Whether an Ogg file's last page carries the end-of-stream flag, as the Ogg format requires.

    A copy cut short ends on an earlier page (or a partial one) without it. The decoders cannot
    tell: the length they read from the last granule position shrinks with the file, and
    libsndfile's own note of a missing end page depends on where the cut lands.
    """
    from mutagen.ogg import OggPage

    try:
        with open(os.fsencode(path), "rb") as handle:
            serial = OggPage(handle).serial
            last = OggPage.find_last(handle, serial)
    except Exception:  # not parseable as Ogg pages: the decoders will say why
        return True
    return last is not None and last.last
