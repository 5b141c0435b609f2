"""Write the demo library: tracks in several formats with real tags, plus a ground-truth sidecar.

Layout under ``root``::

    <Artist>/<Album>/<NN> <Title>.<ext>   one file per track, formats round-robin per style
    _defects/                              deliberately unreadable files (``with_defects=True``)
    ground_truth.json                      {"generator": params, "tracks": [...], "defects": [...]}

Everything is drawn from ``seed``: the same call writes the same samples, tags and sidecar.
Each track has its own random stream (seeded by ``(seed, index)``), so growing ``n_tracks``
keeps the earlier tracks. The sidecar is written last; a library is reused only when its
sidecar names the same parameters and all its files are present.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import mutagen.flac
import mutagen.id3
import mutagen.mp3
import mutagen.oggvorbis
import mutagen.wave
import numpy as np
import soundfile as sf

from melodex_ml.demo.synth import (
    MODES,
    SAMPLE_RATE,
    STYLES,
    TrackPlan,
    min_duration_s,
    plan_track,
    render_track,
)

log = logging.getLogger(__name__)

SIDECAR_NAME = "ground_truth.json"
DEFECTS_DIR = "_defects"
GENERATOR_VERSION = 1  # bump when the audio for a given seed changes
_WRITE_BLOCK = 1 << 16  # frames per encoder call


@dataclass(frozen=True)
class DemoTrackTruth:
    """What is known about one demo track; ``path`` is relative to the library root."""

    path: str
    title: str
    artist: str
    album: str
    style: str
    tempo_bpm: float
    key: str  # tonic spelled with sharps: C, C#, D, ... B
    mode: str  # major | minor
    duration_s: float
    format: str  # wav | flac | ogg | mp3 (the file extension)
    genre: str = ""  # the genre, e.g. "Hip-Hop": the file's tag unless it was left untagged
    track_number: int = 0
    year: int = 0
    tagged: bool = True  # False: the file has no genre tag (what Melodex must predict)


@dataclass(frozen=True)
class DemoDefect:
    """A deliberately broken file that a scan must report as a failure, not crash on."""

    path: str
    kind: str  # empty | not_audio | truncated
    description: str


@dataclass(frozen=True)
class _Encoding:
    container: str  # soundfile format name
    subtype: str


_ENCODINGS = {
    "wav": _Encoding("WAV", "PCM_16"),
    "flac": _Encoding("FLAC", "PCM_16"),
    "ogg": _Encoding("OGG", "VORBIS"),
    "mp3": _Encoding("MP3", "MPEG_LAYER_III"),
}

# Three artists per style, one album each: enough that an artist-blind split leaks.
_ARTISTS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "rock": (("The Gravel Saints", "Loud Weather", 2004), ("Static Harbor", "Rust and Neon", 2011),
             ("Red Lantern Union", "Night Shift Anthems", 2019)),
    "electronic": (("Neon Cartography", "Grid Lines", 2013), ("Pulse Meridian", "Afterhours", 2017),
                   ("Vector Bloom", "Synthetic Gardens", 2022)),
    "jazz": (("Marlowe Quartet", "Blue Corners", 1998), ("Ellis Brandt Trio", "Late Set", 2006),
             ("Halcyon Ensemble", "Brass and Velvet", 2015)),
    "hip-hop": (("Low Orbit", "Concrete Almanac", 2009), ("Dusty Fingers", "Crate Stories", 2016),
                ("MC Parallax", "Basement Tapes", 2021)),
    "classical": (("Aurelian Chamber Players", "Serenades", 1996),
                  ("Orchestra della Valle", "Pastorales", 2003),
                  ("Linden String Collective", "Nocturnes and Dances", 2012)),
    "ambient": (("Glasshouse Drift", "Slow Light", 2010), ("Hollow Lumen", "Tidal Rooms", 2018),
                ("Sea of Quiet", "Long Exposures", 2023)),
}
_TITLE_WORDS = (
    ("Amber", "Broken", "Silver", "Hidden", "Golden", "Quiet", "Electric", "Northern", "Paper", "Velvet",
     "Distant", "Crimson", "Hollow", "Midnight", "Wandering", "Glass", "Restless", "Faded", "Open", "Lucky"),
    ("River", "Signal", "Garden", "Harbor", "Mirror", "Engine", "Lantern", "Meadow", "Horizon", "Circuit",
     "Window", "Compass", "Orchard", "Station", "Feather", "Canyon", "Letter", "Highway", "Echo", "Tide"),
)


def available_formats() -> tuple[str, ...]:
    """Formats this soundfile/libsndfile can write, in round-robin order (mp3 needs libsndfile >= 1.1)."""
    containers = sf.available_formats()
    return tuple(ext for ext, enc in _ENCODINGS.items()
                 if enc.container in containers and enc.subtype in sf.available_subtypes(enc.container))


# --------------------------------------------------------------------------- planning


def _plan_library(n_tracks: int, seed: int, duration_range: tuple[float, float],
                  formats: tuple[str, ...], untagged_every: int = 0) -> list[tuple[TrackPlan, DemoTrackTruth]]:
    """Assign style, key, artist, format and names to every track.

    Styles go round-robin; keys cycle through all 24 (tonic, mode) pairs in a shuffled track
    order, so every key appears once n_tracks >= 24 and keys are independent of style.
    Formats rotate within each style so that no codec is a proxy for a genre.
    """
    rng = np.random.default_rng(seed)
    keys = [(tonic, mode) for mode in MODES for tonic in range(12)]
    key_order = rng.permutation(len(keys))
    track_order = rng.permutation(n_tracks)
    used_titles: set[str] = set()
    album_sizes: dict[str, int] = {}
    planned = []
    for index in range(n_tracks):
        style_index = index % len(STYLES)
        style, nth_of_style = STYLES[style_index], index // len(STYLES)
        artist, album, year = _ARTISTS[style][nth_of_style % len(_ARTISTS[style])]
        fmt = formats[(nth_of_style + style_index) % len(formats)]
        tonic, mode = keys[key_order[track_order[index] % len(keys)]]
        track_rng = np.random.default_rng([seed, index])
        plan = plan_track(style, tonic, mode, duration_range, track_rng)
        title = _title(track_rng, used_titles)
        album_sizes[album] = number = album_sizes.get(album, 0) + 1
        truth = DemoTrackTruth(
            path=f"{artist}/{album}/{number:02d} {title}.{fmt}",
            title=title, artist=artist, album=album, style=style, tempo_bpm=plan.tempo_bpm, key=plan.key,
            mode=mode, duration_s=plan.n_samples / SAMPLE_RATE, format=fmt, genre=style.title(),
            track_number=number, year=year,
            tagged=not (untagged_every and nth_of_style % untagged_every == untagged_every - 1),
        )
        planned.append((plan, truth))
    return planned


def _title(rng: np.random.Generator, used: set[str]) -> str:
    """A fresh two-word title; a repeat only once fresh ones get scarce (paths stay unique anyway)."""
    for _ in range(20):
        title = f"{rng.choice(_TITLE_WORDS[0])} {rng.choice(_TITLE_WORDS[1])}"
        if title not in used:
            break
    used.add(title)
    return title


# --------------------------------------------------------------------------- writing


def _write_tags(path: Path, truth: DemoTrackTruth) -> None:
    values = {"title": truth.title, "artist": truth.artist, "album": truth.album, "genre": truth.genre,
              "tracknumber": str(truth.track_number), "date": str(truth.year)}
    if not truth.tagged:
        del values["genre"]
    if truth.format in ("flac", "ogg"):  # Vorbis comments
        audio = (mutagen.flac.FLAC if truth.format == "flac" else mutagen.oggvorbis.OggVorbis)(path)
        audio.update(values)
        audio.save()
        return
    # WAV carries an ID3 chunk, MP3 an ID3 header: the same frames either way.
    audio = (mutagen.wave.WAVE if truth.format == "wav" else mutagen.mp3.MP3)(path)
    if audio.tags is None:
        audio.add_tags()
    frames = {"title": mutagen.id3.TIT2, "artist": mutagen.id3.TPE1, "album": mutagen.id3.TALB,
              "genre": mutagen.id3.TCON, "tracknumber": mutagen.id3.TRCK, "date": mutagen.id3.TDRC}
    for name, frame in frames.items():
        if name in values:
            audio.tags.add(frame(encoding=mutagen.id3.Encoding.UTF8, text=[values[name]]))
    audio.save()


def _write_track(root: Path, plan: TrackPlan, truth: DemoTrackTruth) -> None:
    """Render, encode and tag one track; the final name appears only when it is complete."""
    final = root / truth.path
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial")
    encoding = _ENCODINGS[truth.format]
    samples = render_track(plan)
    with sf.SoundFile(partial, "w", SAMPLE_RATE, samples.shape[1], format=encoding.container,
                      subtype=encoding.subtype) as sound:
        # Blocks, not one call: libvorbis allocates the whole pending buffer on the stack and
        # overflows it on long writes (libsndfile issue #1095).
        for start in range(0, len(samples), _WRITE_BLOCK):
            sound.write(samples[start : start + _WRITE_BLOCK])
    _write_tags(partial, truth)
    os.replace(partial, final)


def _write_defects(root: Path) -> list[DemoDefect]:
    folder = root / DEFECTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "not_audio.flac").write_text("This is a text file that only claims to be FLAC.\n")
    # Cut before the data chunk: decoders shrug at a short data chunk, not at a missing one.
    wav = io.BytesIO()
    sf.write(wav, np.zeros((SAMPLE_RATE, 2), dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    (folder / "truncated.wav").write_bytes(wav.getvalue()[:36])
    return [
        DemoDefect(f"{DEFECTS_DIR}/empty.mp3", "empty", "zero-byte file with an audio extension"),
        DemoDefect(f"{DEFECTS_DIR}/not_audio.flac", "not_audio", "plain text named .flac"),
        DemoDefect(f"{DEFECTS_DIR}/truncated.wav", "truncated", "WAV cut off in its header, before the data"),
    ]


# --------------------------------------------------------------------------- sidecar


def _sidecar_params(n_tracks: int, seed: int, duration_range: tuple[float, float], with_defects: bool,
                    formats: tuple[str, ...]) -> dict[str, object]:
    return {"version": GENERATOR_VERSION, "seed": seed, "n_tracks": n_tracks,
            "duration_range": [float(duration_range[0]), float(duration_range[1])],
            "with_defects": with_defects, "formats": list(formats)}


def _read_sidecar(root: Path) -> dict:
    path = Path(root) / SIDECAR_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no demo library at {root}: {SIDECAR_NAME} is missing") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def _records(sidecar: dict, key: str, record_type: type) -> list:
    names = {f.name for f in fields(record_type)}
    try:
        return [record_type(**{k: v for k, v in record.items() if k in names}) for record in sidecar[key]]
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed {SIDECAR_NAME}: {key!r}: {error}") from error


def load_ground_truth(root: Path) -> list[DemoTrackTruth]:
    """The tracks of the demo library at ``root``, as recorded in its sidecar."""
    return _records(_read_sidecar(root), "tracks", DemoTrackTruth)


def load_defects(root: Path) -> list[DemoDefect]:
    """The deliberately broken files of the demo library at ``root`` (empty if none were written)."""
    return _records(_read_sidecar(root), "defects", DemoDefect)


def _is_complete(root: Path, params: dict[str, object]) -> bool:
    try:
        sidecar = _read_sidecar(root)
    except (FileNotFoundError, ValueError):
        return False
    listed = [r.get("path", "") for r in sidecar.get("tracks", []) + sidecar.get("defects", [])]
    return sidecar.get("generator") == params and all((root / p).is_file() for p in listed)


def _remove_previous(root: Path) -> None:
    """Delete the files an older sidecar lists (and only those: root may hold other music)."""
    try:
        sidecar = _read_sidecar(root)
    except (FileNotFoundError, ValueError):
        return
    for record in sidecar.get("tracks", []) + sidecar.get("defects", []):
        path = root / record.get("path", "")
        if path.is_file() and path.resolve().is_relative_to(root.resolve()):
            path.unlink()
    (root / SIDECAR_NAME).unlink()


# --------------------------------------------------------------------------- entry point


def plan_demo_library(n_tracks: int = 60, seed: int = 0, *,
                      duration_range: tuple[float, float] = (20.0, 60.0), untagged_every: int = 0) -> list[DemoTrackTruth]:
    """The truth ``generate_demo_library`` would write, without rendering any audio."""
    _check_request(n_tracks, duration_range)
    return [truth for _, truth in _plan_library(n_tracks, seed, duration_range, available_formats(), untagged_every)]


def generate_demo_library(root: Path, n_tracks: int = 60, seed: int = 0, *,
                          duration_range: tuple[float, float] = (20.0, 60.0), with_defects: bool = False,
                          workers: int | None = None, untagged_every: int = 0) -> list[DemoTrackTruth]:
    """Write (or reuse) a deterministic synthetic library under ``root`` and return its truth.

    ``workers`` threads render and encode tracks in parallel (default: the CPU count, at most
    2); 1 renders everything in the calling thread. ``untagged_every`` > 0 leaves every n-th
    track of each style without its genre tag (2: half of them), as a user's library would be;
    the truth keeps every genre.
    """
    root = Path(root)
    _check_request(n_tracks, duration_range)
    formats = available_formats()
    params = _sidecar_params(n_tracks, seed, duration_range, with_defects, formats) | (
        {"untagged_every": untagged_every} if untagged_every else {})
    if _is_complete(root, params):
        log.info("demo library at %s is up to date", root)
        return load_ground_truth(root)

    _remove_previous(root)
    root.mkdir(parents=True, exist_ok=True)
    planned = _plan_library(n_tracks, seed, duration_range, formats, untagged_every)
    workers = min(os.cpu_count() or 1, 2) if workers is None else workers
    _run_all(_write_track, [(root, plan, truth) for plan, truth in planned], workers)
    defects = _write_defects(root) if with_defects else []

    sidecar = {"generator": params, "tracks": [asdict(t) for _, t in planned],
               "defects": [asdict(d) for d in defects]}
    partial = root / f".{SIDECAR_NAME}.partial"
    partial.write_text(json.dumps(sidecar, indent=1) + "\n")
    os.replace(partial, root / SIDECAR_NAME)
    log.info("wrote %d demo tracks to %s", n_tracks, root)
    return [truth for _, truth in planned]


def _check_request(n_tracks: int, duration_range: tuple[float, float]) -> None:
    low, high = duration_range
    shortest = max(min_duration_s(style) for style in STYLES)
    if not low <= high or low < shortest:
        raise ValueError(f"duration_range must be (low, high) with {shortest:.1f} s <= low <= high, "
                         f"not {duration_range!r}: a track needs tonic, dominant and final tonic bars")
    if n_tracks < 1:
        raise ValueError(f"n_tracks must be at least 1, not {n_tracks}")


def _run_all(function: Callable[..., None], jobs: list[tuple], workers: int) -> None:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            function(*job)
        return
    # Threads, not processes: numpy, scipy and libsndfile release the GIL for the heavy work,
    # and threads need no picklable state, no __main__ guard and no fork of a threaded caller.
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(function, *job) for job in jobs]:
            future.result()
