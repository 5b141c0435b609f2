"""Audio input: probing and decoding files into float32 sample blocks (libsndfile, then FFmpeg)."""

from melodex_ml.audio.decode import (
    AudioStream,
    DecodedAudio,
    StreamRestarted,
    allowed_shortfall,
    check_decodes_to_end,
    decode,
    open_stream,
    probe,
    read_stream,
)
from melodex_ml.audio.formats import AudioDecodeError, AudioInfo

__all__ = [
    "AudioDecodeError",
    "AudioInfo",
    "AudioStream",
    "DecodedAudio",
    "StreamRestarted",
    "allowed_shortfall",
    "check_decodes_to_end",
    "decode",
    "open_stream",
    "probe",
    "read_stream",
]
