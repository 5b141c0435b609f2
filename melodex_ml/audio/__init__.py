"""Audio input: probing and decoding files into float32 sample blocks."""

from melodex_ml.audio.decode import (
    AudioDecodeError,
    AudioInfo,
    AudioStream,
    DecodedAudio,
    decode,
    open_stream,
    probe,
)

__all__ = ["AudioDecodeError", "AudioInfo", "AudioStream", "DecodedAudio", "decode", "open_stream", "probe"]
