"""Vectorised synthesis of structured demo tracks whose style, tempo and key are known.

A track is a 4/4 chord progression in one key that starts on the tonic and ends with a
V-I (major) or V-i (minor, harmonic-minor dominant) cadence, played by a few pitched parts
(bass on chord roots, chords, arpeggio or melody) over a drum pattern on a 16-step grid.
Styles differ in tempo range, swing, drum kit, oscillator timbres, filter brightness,
reverb and master saturation; every track also draws its own tempo, key, progression,
pattern variants, arrangement (the melody may sit out), timbre jitter, mix levels, mastering
tilt and noise floor, so a genre classifier has something to learn but not a constant to
memorise.

Tempos lie in 85-140 BPM, inside the 80-160 octave (``TEMPO_LIMITS``): an estimator folded
into that octave has no half/double ambiguity, and one with a prior centred near 120 BPM
(librosa's) is not pulled to the double of a slow track. Quarter notes carry the clearest
broadband onsets in every style, and hits are only nudged off the grid by a few ms.
Python loops run over notes and drum hits, never over samples.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import signal

SAMPLE_RATE = 44_100
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")
TEMPO_LIMITS = (80.0, 160.0)  # every style's range lies inside this octave
STEPS_PER_BAR = 16
BEATS_PER_BAR = 4

_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
# Scale degrees (0 = tonic) per bar; each loop starts on the tonic and the track always
# closes with a V-I cadence. Minor keys use natural-minor v inside the loop and keep the
# harmonic-minor V (raised leading tone) for the cadence alone: a major V in every bar
# would pull chroma profiles toward the parallel major, and minor loops all pass through VI,
# the one chord besides i that holds the minor third. Major loops all have IV, which the
# dominant key lacks; no loop has III/bVII in minor or ends on vi: they would lend weight to
# the relative key.
_PROGRESSIONS = {
    "major": ((0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4), (0, 0, 3, 4), (0, 3, 5, 4)),
    "minor": ((0, 5, 3, 4), (0, 5, 3, 0), (0, 3, 5, 4), (0, 0, 5, 4), (0, 5, 0, 4)),
}
# Root, third, fifth (, seventh): how often a melody's strong beats land on each.
_MELODY_CHORD_TONE_WEIGHTS = {3: (0.3, 0.5, 0.2), 4: (0.25, 0.45, 0.2, 0.1)}
_DRUM_TAKES = 4
_VELOCITY = {".": 0.0, "-": 0.2, "o": 0.4, "x": 0.7, "X": 1.0}


# --------------------------------------------------------------------------- style data


@dataclass(frozen=True)
class Timbre:
    """A subtractive/FM voice: oscillator, ADSR, unison, vibrato, drive and bus filter."""

    wave: str  # sine | triangle | saw | square | fm
    attack: float = 0.005
    decay: float = 0.3
    sustain: float = 0.6
    release: float = 0.1
    cutoff_hz: float = 8000.0
    unison: int = 1
    detune_cents: float = 0.0
    vibrato_hz: float = 0.0
    vibrato_cents: float = 0.0
    drive: float = 0.0
    fm_ratio: float = 1.0
    fm_index: float = 0.0
    fm_decay: float = 0.5


@dataclass(frozen=True)
class Part:
    """A pitched part. ``role`` decides pitches, ``patterns`` the rhythm.

    Patterns are alternatives (one is drawn per track); each is a '|'-separated cycle of
    16-step bars whose characters are velocities (see ``_VELOCITY``).
    """

    role: str  # root | root_fifth | walk | chord | arp | melody
    patterns: tuple[str, ...]
    timbre: Timbre
    register: int  # MIDI note the part's pitches gather around
    level_db: float
    pan: float = 0.0
    gate: float = 0.9  # fraction of the gap to the next onset a note is held
    presence: float = 1.0  # chance that a track has this part at all


@dataclass(frozen=True)
class DrumVoice:
    kind: str  # kick | snare | clap | hat | open_hat | ride | crash | shaker | brush
    patterns: tuple[str, ...]
    level_db: float
    pan: float = 0.0


@dataclass(frozen=True)
class Style:
    name: str
    tempo_range: tuple[float, float]
    parts: tuple[Part, ...]
    drums: tuple[DrumVoice, ...]
    swing: float = 0.0  # delay of off-beat eighths, as a fraction of a beat (1/6 = triplet feel)
    sevenths: bool = False
    reverb_wet: float = 0.1
    reverb_rt60: float = 1.2
    master_drive: float = 0.0
    texture: str | None = None  # vinyl | wind
    noise_db: tuple[float, float] = (-66.0, -54.0)


_EIGHTHS = "x.x.x.x.x.x.x.x."
_QUARTERS = "X...x...X...x..."
_WHOLE = "X..............."

_STYLES = (
    Style(
        name="rock",
        tempo_range=(108.0, 140.0),
        master_drive=1.6,
        reverb_wet=0.08,
        reverb_rt60=1.0,
        parts=(
            Part("root", ("X.x.x.x.X.x.x.x.", "X.x.x.xxX.x.x.x."), Timbre("saw", decay=0.2, sustain=0.7,
                 release=0.05, cutoff_hz=900, drive=1.5), register=40, level_db=-10),
            Part("chord", ("X.x.x.x.X.x.x.x.", "X.x.x.x.X.x.X.x."), Timbre("saw", decay=0.15, sustain=0.8,
                 release=0.04, cutoff_hz=3800, unison=2, detune_cents=9, drive=5.0), register=57,
                 level_db=-2, pan=-0.35, gate=0.8),
            Part("melody", ("X.......x...x...|x...x...X.......", "X...x...x.x.X..."), Timbre("square",
                 decay=0.4, sustain=0.7, cutoff_hz=3000, vibrato_hz=5.5, vibrato_cents=12, drive=2.0),
                 register=71, level_db=-7, pan=0.3, presence=0.75),
        ),
        drums=(
            DrumVoice("kick", ("X.....x.X.......", "X.....x.X.x....."), 0),
            DrumVoice("snare", ("....X.......X...", "....X.......X..x"), -1),
            DrumVoice("hat", (_EIGHTHS, "X.x.X.x.X.x.X.x."), -13, pan=0.25),
            DrumVoice("crash", ("X...............|................|................|................",),
                      -12, pan=-0.3),
        ),
    ),
    Style(
        name="electronic",
        tempo_range=(118.0, 136.0),
        master_drive=1.2,
        reverb_wet=0.14,
        reverb_rt60=1.8,
        parts=(
            Part("root", ("..X...X...X...X.", "..X.x.X...X.x.X."), Timbre("square", decay=0.15,
                 sustain=0.6, release=0.03, cutoff_hz=420), register=38, level_db=-10, gate=0.7),
            Part("chord", (_WHOLE,), Timbre("saw", attack=0.08, decay=0.8, sustain=0.6, release=0.3,
                 cutoff_hz=5200, unison=3, detune_cents=18), register=62, level_db=-1, gate=1.0),
            Part("arp", ("XoxoXoxoXoxoXoxo", "X.xoX.xoX.xoX.xo"), Timbre("square", decay=0.08,
                 sustain=0.2, release=0.03, cutoff_hz=4500), register=72, level_db=-9, pan=0.3,
                 gate=0.6),
        ),
        drums=(
            DrumVoice("kick", ("X...X...X...X...",), 0),
            DrumVoice("clap", ("....X.......X...",), -10),  # any louder and trackers hear half time
            DrumVoice("open_hat", ("..x...x...x...x.",), -13, pan=0.2),
            DrumVoice("hat", ("-.-.-.-.-.-.-.-.", "----------------"), -19, pan=-0.2),
        ),
    ),
    Style(
        name="jazz",
        tempo_range=(100.0, 136.0),
        swing=0.15,
        sevenths=True,
        reverb_wet=0.18,
        reverb_rt60=1.4,
        noise_db=(-60.0, -50.0),
        parts=(
            Part("walk", (_QUARTERS,), Timbre("triangle", attack=0.008, decay=0.35, sustain=0.25,
                 release=0.08, cutoff_hz=1100), register=41, level_db=-6, gate=0.95),
            Part("chord", ("x.....x.........", "......x.....x...", "X.......x.......",
                           "x.......x.....x."), Timbre("fm", attack=0.004, decay=0.9, sustain=0.15,
                 release=0.25, cutoff_hz=3200, fm_ratio=1.0, fm_index=1.2, fm_decay=0.3),
                 register=62, level_db=-2, pan=-0.25, gate=1.0),
            Part("melody", ("x.x.x.x.X.......|X...x.x.x...x...", "X.....x.x.x.X..."), Timbre("sine",
                 attack=0.01, decay=0.6, sustain=0.3, release=0.2, vibrato_hz=6, vibrato_cents=10),
                 register=72, level_db=-7, pan=0.3, presence=0.75),
        ),
        drums=(
            DrumVoice("ride", ("X...X.o.X...X.o.", "X...X...X...X.o."), -9, pan=0.3),
            DrumVoice("hat", ("....o.......o...",), -16, pan=-0.2),
            DrumVoice("kick", ("x...x...x...x...",), -10),
            DrumVoice("brush", ("..-.....-.-...-.", "......-.....-.-."), -14, pan=-0.1),
        ),
    ),
    Style(
        name="hip-hop",
        tempo_range=(85.0, 100.0),
        swing=0.05,
        reverb_wet=0.08,
        reverb_rt60=1.0,
        texture="vinyl",
        noise_db=(-58.0, -48.0),
        parts=(
            Part("root", ("X.........X.....", "X.......X.......|X.........X....."), Timbre("sine",
                 attack=0.004, decay=0.9, sustain=0.5, release=0.15, cutoff_hz=300, drive=1.2),
                 register=36, level_db=-9, gate=1.0),
            Part("chord", ("X.......x.......", "X.........x....."), Timbre("fm", attack=0.006,
                 decay=1.2, sustain=0.35, release=0.3, cutoff_hz=2000, fm_ratio=1.0, fm_index=0.8,
                 fm_decay=0.4), register=60, level_db=-2, pan=-0.2, gate=1.0),
            Part("melody", ("x.......x...x...|................", "X.....x.........|x...x..........."),
                 Timbre("fm", attack=0.003, decay=0.5, sustain=0.1, release=0.3, cutoff_hz=3500,
                 fm_ratio=4.0, fm_index=1.5, fm_decay=0.2), register=74, level_db=-9, pan=0.35,
                 presence=0.75),
        ),
        drums=(
            DrumVoice("kick", ("X......x..X.....", "X.........X..x..", "X......xX.......",), 0),
            DrumVoice("snare", ("....X.......X...",), 0),
            DrumVoice("hat", (_EIGHTHS, "x-x-x-x-x-x-x-x-"), -14, pan=0.2),
        ),
    ),
    Style(
        name="classical",
        tempo_range=(85.0, 112.0),
        reverb_wet=0.32,
        reverb_rt60=2.2,
        noise_db=(-64.0, -54.0),
        parts=(
            Part("root_fifth", (_QUARTERS,), Timbre("saw", attack=0.003, decay=0.22, sustain=0.0,
                 release=0.1, cutoff_hz=1300), register=43, level_db=-3, gate=0.8),
            Part("chord", (_WHOLE,), Timbre("saw", attack=0.25, decay=1.0, sustain=0.8, release=0.4,
                 cutoff_hz=2600, unison=3, detune_cents=10, vibrato_hz=5.5, vibrato_cents=6),
                 register=60, level_db=-4, pan=-0.3, gate=1.0),
            Part("arp", ("X.x.X.x.X.x.X.x.", "X.x.X.x.X.xxX.x."), Timbre("triangle", attack=0.002, decay=0.35,
                 sustain=0.0, release=0.2, cutoff_hz=5000), register=67, level_db=-7, pan=0.3),
            Part("melody", ("X.......x...x...", "X...x...x.......|X.......X......."), Timbre("triangle",
                 attack=0.06, decay=0.5, sustain=0.7, release=0.15, cutoff_hz=4000, vibrato_hz=5.0,
                 vibrato_cents=18), register=76, level_db=-6, pan=0.1, presence=0.75),
        ),
        drums=(),
    ),
    Style(
        name="ambient",
        tempo_range=(85.0, 100.0),
        reverb_wet=0.5,
        reverb_rt60=3.5,
        texture="wind",
        noise_db=(-62.0, -52.0),
        parts=(
            Part("root", (_WHOLE,), Timbre("sine", attack=0.4, decay=2.0, sustain=0.8, release=0.8,
                 cutoff_hz=500), register=38, level_db=-12, gate=1.0),
            Part("chord", (_WHOLE,), Timbre("saw", attack=0.9, decay=2.0, sustain=0.8, release=1.0,
                 cutoff_hz=1300, unison=3, detune_cents=14), register=60, level_db=-1, gate=1.0),
            Part("arp", (_QUARTERS, "X...x...x...x...|x...x...X...x..."), Timbre("fm", attack=0.002,
                 decay=1.2, sustain=0.0, release=0.8, cutoff_hz=3000, fm_ratio=2.0, fm_index=1.0,
                 fm_decay=0.6), register=72, level_db=-7, pan=0.25),
        ),
        drums=(
            DrumVoice("kick", ("x...x...x...x...",), -8),
            DrumVoice("shaker", ("o.-.o.-.o.-.o.-.", "o...o...o...o..."), -18, pan=0.3),
        ),
    ),
)

STYLE_SPECS: dict[str, Style] = {style.name: style for style in _STYLES}
STYLES: tuple[str, ...] = tuple(STYLE_SPECS)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class TrackPlan:
    """Everything that fixes a track's audio."""

    style: str
    tempo_bpm: float
    tonic: int  # pitch class, 0 = C
    mode: str
    duration_s: float
    seed: int  # everything else (progression, patterns, timbres, mix) is drawn from it

    @property
    def key(self) -> str:
        return PITCH_CLASSES[self.tonic]

    @property
    def n_samples(self) -> int:
        return round(self.duration_s * SAMPLE_RATE)


def min_duration_s(style: str) -> float:
    """Shortest duration that still fits tonic, dominant and final tonic at the slowest tempo."""
    return 3 * BEATS_PER_BAR * 60.0 / STYLE_SPECS[style].tempo_range[0] + 1.0


def plan_track(style: str, tonic: int, mode: str, duration_range: tuple[float, float],
               rng: np.random.Generator) -> TrackPlan:
    """Draw tempo (within the style's range), duration and the track's own seed."""
    low, high = STYLE_SPECS[style].tempo_range
    tempo = round(rng.uniform(low, high) * 2) / 2  # half-BPM steps, like a DAW setting
    duration = round(rng.uniform(*duration_range), 2)
    return TrackPlan(style, tempo, tonic, mode, duration, int(rng.integers(2**63 - 1)))


# --------------------------------------------------------------------------- harmony


def chord_pitch_classes(tonic: int, mode: str, degree: int, sevenths: bool = False,
                        cadence: bool = False) -> tuple[int, ...]:
    """Stacked diatonic thirds on ``degree``; a minor key's cadential V takes the leading tone."""
    scale = _SCALES["harmonic_minor" if mode == "minor" and cadence else mode]
    steps = (0, 2, 4, 6) if sevenths else (0, 2, 4)
    return tuple((tonic + scale[(degree + s) % 7]) % 12 for s in steps)


def _progression_chords(n_bars: int, progression: tuple[int, ...], tonic: int, mode: str,
                        sevenths: bool) -> list[tuple[int, ...]]:
    """One chord per bar: the looped progression, then V and the final tonic."""
    body = [chord_pitch_classes(tonic, mode, progression[b % len(progression)], sevenths)
            for b in range(n_bars - 2)]
    dominant = chord_pitch_classes(tonic, mode, 4, sevenths, cadence=True)
    return body + [dominant, chord_pitch_classes(tonic, mode, 0, sevenths)]


def _nearest_midi(pitch_class: int, centre: float) -> int:
    centre = int(round(centre))
    return centre + ((pitch_class - centre + 6) % 12) - 6


def _midi_hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69) / 12)


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class _Grid:
    tempo_bpm: float
    n_bars: int
    n_samples: int
    swing: float

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return self.beat_s * BEATS_PER_BAR

    def step_time(self, bar: int, step: int) -> float:
        beat, sixteenth = divmod(step, 4)
        t = bar * self.bar_s + (beat + sixteenth / 4) * self.beat_s
        if sixteenth == 2:  # off-beat eighth
            t += self.swing * self.beat_s
        elif sixteenth % 2:  # off-beat sixteenths follow the swung eighth halfway
            t += self.swing * self.beat_s / 2
        return t


def _parse(pattern: str) -> list[str]:
    bars = pattern.split("|")
    if any(len(b) != STEPS_PER_BAR or set(b) - set(_VELOCITY) for b in bars):
        raise ValueError(f"bad pattern {pattern!r}")
    return bars


def _onsets(pattern: str, grid: _Grid, rng: np.random.Generator,
            jitter_s: float) -> list[tuple[int, float, float]]:
    """(bar, time, velocity) of every hit; the last bar only keeps a downbeat that rings out."""
    bars = _parse(pattern)
    hits = []
    for bar in range(grid.n_bars - 1):
        for step, char in enumerate(bars[bar % len(bars)]):
            if _VELOCITY[char] > 0:
                hits.append((bar, grid.step_time(bar, step), _VELOCITY[char]))
    hits.append((grid.n_bars - 1, grid.step_time(grid.n_bars - 1, 0), 0.9))
    times = np.array([t for _, t, _ in hits]) + rng.normal(0.0, jitter_s, len(hits))
    times[0] = max(times[0], 0.0)
    velocity = np.array([v for _, _, v in hits]) * rng.uniform(0.88, 1.0, len(hits))
    return [(bar, float(t), float(v)) for (bar, _, _), t, v in zip(hits, times, velocity)]


# --------------------------------------------------------------------------- oscillators


def _polyblep(phase: np.ndarray, dt: float) -> np.ndarray:
    """Band-limiting correction around a saw's wrap point (removes most aliasing)."""
    out = np.zeros_like(phase)
    low = phase < dt
    x = phase[low] / dt
    out[low] = 2 * x - x * x - 1
    high = phase > 1 - dt
    x = (phase[high] - 1) / dt
    out[high] = x * x + 2 * x + 1
    return out


def _saw(cycles: np.ndarray, dt: float) -> np.ndarray:
    phase = cycles - np.floor(cycles)
    return 2 * phase - 1 - _polyblep(phase, dt)


def _oscillator(timbre: Timbre, cycles: np.ndarray, t: np.ndarray, dt: float) -> np.ndarray:
    if timbre.wave == "sine":
        return np.sin(2 * np.pi * cycles)
    if timbre.wave == "triangle":
        return 4 * np.abs(cycles - np.floor(cycles) - 0.5) - 1
    if timbre.wave == "saw":
        return _saw(cycles, dt)
    if timbre.wave == "square":
        return 0.5 * (_saw(cycles, dt) - _saw(cycles + 0.5, dt))
    if timbre.wave == "fm":
        index = timbre.fm_index * np.exp(-t / timbre.fm_decay)
        return np.sin(2 * np.pi * cycles + index * np.sin(2 * np.pi * timbre.fm_ratio * cycles))
    raise ValueError(f"unknown wave {timbre.wave!r}")


def _envelope(timbre: Timbre, t: np.ndarray, held_s: float) -> np.ndarray:
    def adsr(x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x)
        decay = timbre.sustain + (1 - timbre.sustain) * np.exp(-(x - timbre.attack) / timbre.decay)
        return np.where(x < timbre.attack, x / timbre.attack, decay)

    held = adsr(t)
    # -60 dB once the release time has passed
    released = adsr(held_s) * np.exp(-np.maximum(t - held_s, 0) * (6.9 / timbre.release))
    return np.where(t < held_s, held, released)


def _note(timbre: Timbre, hz: float, held_s: float, phases: np.ndarray) -> np.ndarray:
    """One note with its release tail; ``phases`` start the unison voices (decorrelates them)."""
    n = int((held_s + timbre.release) * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    if timbre.vibrato_cents:
        depth = timbre.vibrato_cents * np.log(2) / 1200
        t_bent = t + depth / (2 * np.pi * timbre.vibrato_hz) * np.sin(2 * np.pi * timbre.vibrato_hz * t)
    else:
        t_bent = t
    spread = np.linspace(-1, 1, timbre.unison) if timbre.unison > 1 else np.zeros(1)
    out = np.zeros(n)
    for offset, phase in zip(spread, phases):
        f = hz * 2 ** (offset * timbre.detune_cents / 1200)
        out += _oscillator(timbre, f * t_bent + phase, t, f / SAMPLE_RATE)
    return out * (_envelope(timbre, t, held_s) / np.sqrt(timbre.unison))


# --------------------------------------------------------------------------- filters & fx


def _filter(x: np.ndarray, kind: str, hz: float | tuple[float, float], order: int = 2) -> np.ndarray:
    """Butterworth filter along the last axis, keeping float32 input float32."""
    edges = np.clip(np.asarray(hz, dtype=float), 10.0, SAMPLE_RATE / 2 * 0.95)
    sos = signal.butter(order, edges, btype=kind, fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos.astype(x.dtype if x.dtype == np.float32 else np.float64), x, axis=-1)


def _drive(x: np.ndarray, amount: float) -> np.ndarray:
    if amount <= 0:
        return x
    return np.tanh(amount * x) * (1 / float(np.tanh(amount)))  # python floats keep float32 float32


def _pan_gains(pan: float) -> np.ndarray:
    angle = (pan + 1) * np.pi / 4  # constant power
    return np.array([np.cos(angle), np.sin(angle)])


def _reverb(send: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Stereo tail, shape (2, n), from two decorrelated exponentially decaying noise responses.

    A reverb tail is dark and diffuse, so it is convolved at a quarter of the sample rate
    (16x less work) with box-filter decimation and sample-and-hold back up: their artefacts
    sit under the tail.
    """
    factor = 4
    rate = SAMPLE_RATE / factor
    n_ir = int(min(rt60, 3.0) * rate)
    ir = rng.standard_normal((2, n_ir)) * np.exp(-6.9 * np.arange(n_ir) / rate / rt60)
    ir /= np.sqrt((ir**2).sum(axis=1, keepdims=True))
    n_low = -(-len(send) // factor)
    low = np.zeros(n_low * factor, dtype=send.dtype)
    low[: len(send)] = send
    low = low.reshape(n_low, factor).mean(axis=1)
    wet = signal.oaconvolve(low[None, :], ir.astype(np.float32), axes=1)[:, :n_low]
    wet = np.repeat(wet, factor, axis=1)
    predelay = int(0.012 * SAMPLE_RATE)
    out = np.zeros((2, len(send)), dtype=np.float32)
    out[:, predelay:] = wet[:, : len(send) - predelay]
    return out


# --------------------------------------------------------------------------- drums


def _drum_shot(kind: str, tonic: int, rng: np.random.Generator) -> np.ndarray:
    """One hit of a synthetic drum; the kick is tuned to the tonic, as producers often do."""
    lengths = {"kick": 0.45, "snare": 0.3, "clap": 0.3, "hat": 0.08, "open_hat": 0.35,
               "ride": 0.9, "crash": 1.6, "shaker": 0.12, "brush": 0.2}
    n = int(lengths[kind] * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    noise = rng.standard_normal(n)
    u = rng.uniform
    if kind == "kick":
        low = _midi_hz(_nearest_midi(tonic, 31))  # 41-62 Hz
        hz = low + u(90, 160) * np.exp(-t / u(0.006, 0.012))  # a fast sweep: a thump, not a pitch
        body = np.sin(2 * np.pi * np.cumsum(hz) / SAMPLE_RATE) * np.exp(-t / u(0.12, 0.25))
        click = _filter(noise, "highpass", 1200.0) * np.exp(-t / 0.004) * u(0.4, 0.7)  # beater attack
        return _drive(body + click, u(0.3, 1.0))
    if kind == "snare":
        tone = np.sin(2 * np.pi * u(170, 240) * t) * np.exp(-t / 0.05) * u(0.3, 0.6)
        rattle = _filter(noise, "bandpass", (u(900, 1500), u(7000, 10000))) * np.exp(-t / u(0.08, 0.16))
        return tone + rattle
    if kind == "clap":
        bursts = sum(np.exp(-np.clip(t - d, 0, None) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
        tail = np.exp(-np.clip(t - 0.022, 0, None) / u(0.08, 0.15)) * (t >= 0.022)
        return _filter(noise, "bandpass", (u(900, 1300), u(3000, 5000))) * (bursts + tail) * 0.7
    if kind in ("hat", "open_hat"):
        decay = u(0.02, 0.04) if kind == "hat" else u(0.12, 0.22)
        return _filter(noise, "highpass", u(6500, 9000), order=4) * np.exp(-t / decay)
    if kind == "ride":
        partials = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0]) * u(1.8, 2.4)
        metal = np.sign(np.sin(2 * np.pi * partials[:, None] * t)).sum(axis=0) / 6
        shimmer = _filter(metal + 0.5 * noise, "highpass", u(4000, 6000), order=4)
        return shimmer * (np.exp(-t / 0.015) + 0.5 * np.exp(-t / u(0.4, 0.7)))
    if kind == "crash":
        return _filter(noise, "highpass", u(3500, 5000), order=4) * np.exp(-t / u(0.6, 1.0))
    if kind == "shaker":
        return _filter(noise, "bandpass", (5000, 12000)) * np.minimum(t / 0.01, 1) * np.exp(-t / 0.05)
    if kind == "brush":
        return _filter(noise, "bandpass", (2000, 8000)) * np.minimum(t / 0.02, 1) * np.exp(-t / 0.09)
    raise ValueError(f"unknown drum {kind!r}")


def _render_drums(voice: DrumVoice, grid: _Grid, tonic: int, rng: np.random.Generator) -> np.ndarray:
    """Synthesised hits placed at every onset.

    Like a sampler's round robin, hits rotate over a few takes: one noise burst repeated all
    track long would stamp its random spectral peaks onto the chroma.
    """
    pattern = voice.patterns[rng.integers(len(voice.patterns))]
    takes = [_drum_shot(voice.kind, tonic, rng) for _ in range(_DRUM_TAKES)]
    takes = [(take / np.abs(take).max()).astype(np.float32) for take in takes]
    out = np.zeros(grid.n_samples, dtype=np.float32)
    for i, (_, start, velocity) in enumerate(_onsets(pattern, grid, rng, jitter_s=0.002)):
        first = round(start * SAMPLE_RATE)
        hit = takes[i % _DRUM_TAKES][: grid.n_samples - first]
        out[first : first + len(hit)] += velocity * hit
    return out


# --------------------------------------------------------------------------- pitched parts


def _part_pitches(role: str, hits: list[tuple[int, float, float]], chords: list[tuple[int, ...]],
                  scale: list[int], register: int, rng: np.random.Generator) -> list[list[int]]:
    """MIDI notes sounding at each hit, chosen from the bar's chord (and scale for lines)."""
    notes: list[list[int]] = []
    previous = register
    index_in_bar = 0
    for i, (bar, _, _) in enumerate(hits):
        chord = chords[bar]
        index_in_bar = 0 if i == 0 or hits[i - 1][0] != bar else index_in_bar + 1
        last = bar == len(chords) - 1
        if role == "chord":  # the third doubled an octave up makes each chord's quality plain
            voicing = [_nearest_midi(pc, register) for pc in chord]
            notes.append(voicing + [_nearest_midi(chord[1], register + 12)])
            continue
        if last or role == "root" or (role in ("root_fifth", "walk") and index_in_bar == 0):
            pitch = _nearest_midi(chord[0], register if role != "melody" else previous)
        elif role == "root_fifth":  # root, octave, fifth, octave: the fifth must not rival the root
            pitch = _nearest_midi(chord[2], register) if index_in_bar % 4 == 2 else \
                _nearest_midi(chord[0], register) + 12 * (index_in_bar % 2)
        elif role == "walk":
            if index_in_bar == 3 and bar + 1 < len(chords):  # diatonic step into the next root
                target = _nearest_midi(chords[bar + 1][0], register)
                pitch = min((p for p in scale if abs(p - target) in (1, 2)), key=lambda p: abs(p - previous))
            else:
                pitch = _nearest_midi(chord[rng.integers(1, len(chord))], previous)
        elif role == "arp":
            tones = sorted(_nearest_midi(pc, register) for pc in chord)
            tones += [p + 12 for p in tones]
            pitch = tones[index_in_bar % len(tones)]
        elif role == "melody":
            if index_in_bar % 2 == 0:  # a chord tone, most often the third, as melodies do
                degree = rng.choice(len(chord), p=_MELODY_CHORD_TONE_WEIGHTS[len(chord)])
                pitch = _nearest_midi(chord[degree], previous)
            else:
                near = [p for p in scale if 0 < abs(p - previous) <= 2]
                pitch = near[rng.integers(len(near))]
            if abs(pitch - register) > 7:  # fold back into the part's range
                pitch = _nearest_midi(pitch % 12, register)
        else:
            raise ValueError(f"unknown role {role!r}")
        previous = pitch
        notes.append([pitch])
    return notes


def _render_part(part: Part, grid: _Grid, chords: list[tuple[int, ...]], scale: list[int],
                 rng: np.random.Generator) -> np.ndarray:
    """One part's mono bus: notes at its pattern's onsets, normalised, driven and filtered."""
    pattern = part.patterns[rng.integers(len(part.patterns))]
    hits = _onsets(pattern, grid, rng, jitter_s=0.003)
    pitches = _part_pitches(part.role, hits, chords, scale, part.register, rng)
    phases = rng.uniform(size=part.timbre.unison)
    end_s = grid.n_samples / SAMPLE_RATE
    out = np.zeros(grid.n_samples, dtype=np.float32)
    # Parts repeat the same pitch and length many times: synthesise each (pitch, 10 ms) once.
    rendered: dict[tuple[int, int], np.ndarray] = {}
    for i, ((_, start, velocity), midis) in enumerate(zip(hits, pitches)):
        if i + 1 < len(hits):
            held = max((hits[i + 1][1] - start) * part.gate, 0.03)
        else:  # the final note rings to the end of the track
            held = max(end_s - start - part.timbre.release, 0.05)
        centis = round(held * 100)
        first = round(start * SAMPLE_RATE)
        for midi in midis:
            if (midi, centis) not in rendered:
                note = _note(part.timbre, float(_midi_hz(midi)), centis / 100, phases)
                rendered[midi, centis] = note.astype(np.float32)
            note = rendered[midi, centis][: grid.n_samples - first]
            out[first : first + len(note)] += velocity * note
    out = _drive(out / max(np.abs(out).max(), 1e-9), part.timbre.drive)
    return _filter(out, "lowpass", part.timbre.cutoff_hz)


def _vary(timbre: Timbre, rng: np.random.Generator) -> Timbre:
    """Per-track timbre jitter: brightness, envelope times, detune, drive."""
    return replace(
        timbre,
        cutoff_hz=timbre.cutoff_hz * 2 ** rng.uniform(-0.4, 0.4),
        attack=timbre.attack * rng.uniform(0.7, 1.4),
        decay=timbre.decay * rng.uniform(0.7, 1.4),
        detune_cents=timbre.detune_cents * rng.uniform(0.6, 1.4),
        drive=timbre.drive * rng.uniform(0.7, 1.3),
        fm_index=timbre.fm_index * rng.uniform(0.7, 1.3),
    )


def _texture(kind: str | None, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "vinyl":  # sparse clicks over hiss
        clicks = np.zeros(n, dtype=np.float32)
        where = rng.integers(0, n, size=int(n / SAMPLE_RATE * 25))
        clicks[where] = rng.uniform(-1, 1, len(where)) ** 3
        hiss = rng.standard_normal(n, dtype=np.float32)
        return _filter(clicks, "highpass", 1500.0) * 0.3 + _filter(hiss, "bandpass", (800, 6000)) * 0.01
    if kind == "wind":  # slowly swelling band of noise
        phase = 2 * np.pi * rng.uniform(0.05, 0.12) * np.arange(n, dtype=np.float32) / SAMPLE_RATE
        swell = 0.6 + 0.4 * np.sin(phase + np.float32(rng.uniform(0, 6.3)))
        noise = rng.standard_normal(n, dtype=np.float32)
        return _filter(noise, "bandpass", (rng.uniform(250, 400), rng.uniform(900, 1400))) * swell * 0.02
    raise ValueError(f"unknown texture {kind!r}")


# --------------------------------------------------------------------------- track


def render_track(plan: TrackPlan) -> np.ndarray:
    """Render a plan to float32 stereo samples, shape (n_samples, 2), peak below -1 dBFS."""
    style = STYLE_SPECS[plan.style]
    rng = np.random.default_rng(plan.seed)
    n = plan.n_samples
    bar_s = BEATS_PER_BAR * 60.0 / plan.tempo_bpm
    n_bars = int(plan.duration_s // bar_s)
    if n_bars < 3:
        raise ValueError(f"{plan.duration_s} s holds fewer than 3 bars at {plan.tempo_bpm} BPM")
    grid = _Grid(plan.tempo_bpm, n_bars, n, style.swing * rng.uniform(0.8, 1.2))

    progression = _PROGRESSIONS[plan.mode][rng.integers(len(_PROGRESSIONS[plan.mode]))]
    chords = _progression_chords(n_bars, progression, plan.tonic, plan.mode, style.sevenths)
    scale_pcs = {(plan.tonic + s) % 12 for s in _SCALES[plan.mode]}
    scale = [m for m in range(24, 108) if m % 12 in scale_pcs]

    mix = np.zeros((2, n), dtype=np.float32)  # channel-first: every pass runs on contiguous rows
    send = np.zeros(n, dtype=np.float32)

    def mix_in(bus: np.ndarray, level_db: float, pan: float, send_level: float) -> None:
        level = 10 ** (level_db / 20)
        gain_left, gain_right = level * _pan_gains(float(np.clip(pan, -1, 1)))
        mix[0] += np.float32(gain_left) * bus
        mix[1] += np.float32(gain_right) * bus
        send[:] += np.float32(send_level * level) * bus

    for part in style.parts:
        if rng.uniform() >= part.presence:
            continue
        part = replace(part, timbre=_vary(part.timbre, rng))
        bus = _render_part(part, grid, chords, scale, rng)
        mix_in(bus, part.level_db + rng.uniform(-3, 3), part.pan + rng.uniform(-0.15, 0.15), 1.0)
    for voice in style.drums:
        bus = _render_drums(voice, grid, plan.tonic, rng)
        mix_in(bus, voice.level_db + rng.uniform(-2.5, 2.5), voice.pan, 0.4)  # drums stay drier

    wet_level = style.reverb_wet * rng.uniform(0.7, 1.3)
    mix += np.float32(wet_level) * _reverb(send, style.reverb_rt60 * rng.uniform(0.8, 1.2), rng)
    mix = _filter(mix, "highpass", 25.0)
    mix += np.float32(rng.uniform(-0.5, 0.5)) * _filter(mix, "highpass", 2500.0)  # mastering tilt
    mix /= np.abs(mix).max()
    mix = _drive(mix, style.master_drive * rng.uniform(0.8, 1.2))
    if style.texture:
        texture = _texture(style.texture, n, rng)
        for channel, gain in enumerate(_pan_gains(rng.uniform(-0.3, 0.3))):
            mix[channel] += float(gain) * texture
    noise_level = np.float32(10 ** (rng.uniform(*style.noise_db) / 20))
    mix += rng.standard_normal((2, n), dtype=np.float32) * noise_level

    fade_in, fade_out = int(0.005 * SAMPLE_RATE), int(min(1.0, plan.duration_s / 10) * SAMPLE_RATE)
    mix[:, :fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    mix[:, n - fade_out :] *= np.linspace(1, 0, fade_out, dtype=np.float32) ** 2
    peak_db = rng.uniform(-6.0, -1.0)
    mix *= np.float32(10 ** (peak_db / 20)) / np.abs(mix).max()
    return np.ascontiguousarray(mix.T)
