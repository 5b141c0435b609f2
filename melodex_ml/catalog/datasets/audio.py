"""Finding a record's audio file and reading its duration cheaply (headers only, no decoding)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .records import Reason, RecordInvalid, safe_text

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".au", ".aif", ".aiff", ".wma", ".webm"}
)


def is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def audio_stem(name: str) -> str:
    """File name without its audio extension (``214.low.mp3`` -> ``214.low``)."""
    base = os.path.basename(name)
    return os.path.splitext(base)[0] if is_audio(base) else base


def audio_folder(root: Path, override: Path | None) -> Path:
    """Where a dataset's audio lives: the override, else ``<root>/audio`` when present, else the root."""
    if override is not None:
        return Path(override)
    return root / "audio" if (root / "audio").is_dir() else root


def find_audio(candidates: Iterable[Path | str], what: str) -> str:
    """Absolute path of the first candidate that is a file, else ``RecordInvalid(missing_audio)``."""
    tried = []
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
        tried.append(safe_text(os.fspath(candidate)))
    raise RecordInvalid(Reason.MISSING_AUDIO, f"no audio file for {what}; looked for {', '.join(tried) or 'nothing'}")


def index_audio(folder: Path) -> dict[str, str]:
    """Audio files under ``folder`` (recursively) by stem; the first in sorted order wins a clash."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if is_audio(name):
                found.setdefault(audio_stem(name), os.path.abspath(os.path.join(dirpath, name)))
    return found


def read_duration(path: str | Path) -> float:
    """Seconds of audio from the file's headers: mutagen first (MP3/MP4/Ogg/FLAC without decoding),
    libsndfile for what mutagen does not know (AU, AIFF variants)."""
    problems = []
    try:
        import mutagen

        info = getattr(mutagen.File(path), "info", None)
        length = getattr(info, "length", None)
        if length and length > 0:
            return float(length)
        problems.append("mutagen found no length")
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types for broken files
        problems.append(f"mutagen: {type(exc).__name__}: {exc}")
    try:
        import soundfile

        info = soundfile.info(os.fspath(path))
        if info.frames > 0 and info.samplerate > 0:
            return info.frames / info.samplerate
        problems.append("libsndfile found no frames")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"libsndfile: {type(exc).__name__}: {exc}")
    raise RecordInvalid(
        Reason.UNREADABLE_DURATION, f"cannot read the duration of {safe_text(os.fspath(path))}: {'; '.join(problems)}"
    )


def duration_of(audio_path: str, metadata_seconds: float | None) -> float:
    """The dataset's own duration when it gives one, else the file's."""
    return metadata_seconds if metadata_seconds is not None else read_duration(audio_path)
