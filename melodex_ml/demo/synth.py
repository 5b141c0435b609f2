"""Vectorised synthesis of structured demo tracks whose style, tempo and key are known.

A track is a 4/4 chord progression in one key that starts on the tonic and ends with a
V-I (major) or V-i (minor, harmonic-minor dominant) cadence, played by a few pitched parts
(bass on chord roots, chords, arpeggio or melody) over a drum pattern on a 16-step grid.
Styles differ in tempo range, swing, drum kit, oscillator timbres, filter brightness,
reverb and master saturation; every track also draws its own tempo, key, progression,
pattern variants, timbre jitter, mix levels and noise floor, so a genre classifier has
something to learn but not a constant to memorise.

Tempo ranges all lie inside 80-160 BPM (one octave), so an estimator restricted to that
octave has no half/double ambiguity; quarter notes carry the strongest onsets in every style.
Python loops run over notes and drum voices, never over samples.
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
# closes with V-I. No III/bVII in minor and no vi ending in major: they would lend weight
# to the relative key.
_PROGRESSIONS = {
    "major": ((0, 3, 4, 0), (0, 5, 3, 4), (0, 1, 4, 0), (0, 3, 0, 4), (0, 5, 1, 4)),
    "minor": ((0, 3, 4, 0), (0, 5, 3, 4), (0, 1, 4, 0), (0, 3, 0, 4), (0, 5, 1, 4)),
}
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
                 release=0.05, cutoff_hz=900, drive=1.5), register=40, level_db=-4),
            Part("chord", ("X.x.x.x.X.x.x.x.", "X.x.x.x.X.x.X.x."), Timbre("saw", decay=0.15, sustain=0.8,
                 release=0.04, cutoff_hz=3800, unison=2, detune_cents=9, drive=5.0), register=57,
                 level_db=-9, pan=-0.35, gate=0.8),
            Part("melody", ("X.......x...x...|x...x...X.......", "X...x...x.x.X..."), Timbre("square",
                 decay=0.4, sustain=0.7, cutoff_hz=3000, vibrato_hz=5.5, vibrato_cents=12, drive=2.0),
                 register=71, level_db=-13, pan=0.3),
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
                 sustain=0.6, release=0.03, cutoff_hz=420), register=38, level_db=-3, gate=0.7),
            Part("chord", (_WHOLE,), Timbre("saw", attack=0.08, decay=0.8, sustain=0.6, release=0.3,
                 cutoff_hz=5200, unison=3, detune_cents=18), register=62, level_db=-14, gate=1.0),
            Part("arp", ("xxxxxxxxxxxxxxxx", "x.xxx.xxx.xxx.xx"), Timbre("square", decay=0.08,
                 sustain=0.2, release=0.03, cutoff_hz=4500), register=72, level_db=-15, pan=0.3,
                 gate=0.6),
        ),
        drums=(
            DrumVoice("kick", ("X...X...X...X...",), 0),
            DrumVoice("clap", ("....X.......X...",), -5),
            DrumVoice("open_hat", ("..x...x...x...x.",), -13, pan=0.2),
            DrumVoice("hat", ("-.-.-.-.-.-.-.-.", "----------------"), -17, pan=-0.2),
        ),
    ),
    Style(
        name="jazz",
        tempo_range=(104.0, 148.0),
        swing=0.15,
        sevenths=True,
        reverb_wet=0.18,
        reverb_rt60=1.4,
        noise_db=(-60.0, -50.0),
        parts=(
            Part("walk", (_QUARTERS,), Timbre("triangle", attack=0.008, decay=0.35, sustain=0.25,
                 release=0.08, cutoff_hz=1100), register=41, level_db=-3, gate=0.95),
            Part("chord", ("x.....x.........", "......x.....x...", "X.......x.......",
                           "x.......x.....x."), Timbre("fm", attack=0.004, decay=0.9, sustain=0.15,
                 release=0.25, cutoff_hz=3200, fm_ratio=1.0, fm_index=1.2, fm_decay=0.3),
                 register=62, level_db=-10, pan=-0.25, gate=1.0),
            Part("melody", ("x.x.x.x.X.......|X...x.x.x...x...", "X.....x.x.x.X..."), Timbre("sine",
                 attack=0.01, decay=0.6, sustain=0.3, release=0.2, vibrato_hz=6, vibrato_cents=10),
                 register=72, level_db=-12, pan=0.3),
        ),
        drums=(
            DrumVoice("ride", ("x...X.x.x...X.x.",), -9, pan=0.3),
            DrumVoice("hat", ("....x.......x...",), -14, pan=-0.2),
            DrumVoice("kick", ("o...o...o...o...",), -9),
            DrumVoice("brush", ("..-.....-.-...-.", "......-.....-.-."), -14, pan=-0.1),
        ),
    ),
    Style(
        name="hip-hop",
        tempo_range=(84.0, 100.0),
        swing=0.05,
        reverb_wet=0.08,
        reverb_rt60=1.0,
        texture="vinyl",
        noise_db=(-58.0, -48.0),
        parts=(
            Part("root", ("X.........X.....", "X.......X.......|X.........X....."), Timbre("sine",
                 attack=0.004, decay=0.9, sustain=0.5, release=0.15, cutoff_hz=600, drive=1.8),
                 register=36, level_db=-2, gate=1.0),
            Part("chord", ("X.......x.......", "X.........x....."), Timbre("fm", attack=0.006,
                 decay=1.2, sustain=0.35, release=0.3, cutoff_hz=2000, fm_ratio=1.0, fm_index=0.8,
                 fm_decay=0.4), register=60, level_db=-11, pan=-0.2, gate=1.0),
            Part("melody", ("x.......x...x...|................", "X.....x.........|x...x..........."),
                 Timbre("fm", attack=0.003, decay=0.5, sustain=0.1, release=0.3, cutoff_hz=3500,
                 fm_ratio=4.0, fm_index=1.5, fm_decay=0.2), register=74, level_db=-16, pan=0.35),
        ),
        drums=(
            DrumVoice("kick", ("X......x..X.....", "X.........X..x..", "X......xX.......",), 0),
            DrumVoice("snare", ("....X.......X...",), 0),
            DrumVoice("hat", (_EIGHTHS, "x-x-x-x-x-x-x-x-"), -14, pan=0.2),
        ),
    ),
    Style(
        name="classical",
        tempo_range=(80.0, 112.0),
        reverb_wet=0.32,
        reverb_rt60=2.2,
        noise_db=(-64.0, -54.0),
        parts=(
            Part("root_fifth", (_QUARTERS,), Timbre("saw", attack=0.003, decay=0.22, sustain=0.0,
                 release=0.1, cutoff_hz=1300), register=43, level_db=-2, gate=0.8),
            Part("chord", (_WHOLE,), Timbre("saw", attack=0.25, decay=1.0, sustain=0.8, release=0.4,
                 cutoff_hz=2600, unison=3, detune_cents=10, vibrato_hz=5.5, vibrato_cents=14),
                 register=60, level_db=-11, pan=-0.3, gate=1.0),
            Part("arp", (_EIGHTHS, "x.x.x.x.x.xxx.x."), Timbre("triangle", attack=0.002, decay=0.35,
                 sustain=0.0, release=0.2, cutoff_hz=5000), register=67, level_db=-10, pan=0.3),
            Part("melody", ("X.......x...x...", "X...x...x.......|X.......X......."), Timbre("triangle",
                 attack=0.06, decay=0.5, sustain=0.7, release=0.15, cutoff_hz=4000, vibrato_hz=5.0,
                 vibrato_cents=18), register=76, level_db=-13, pan=0.1),
        ),
        drums=(),
    ),
    Style(
        name="ambient",
        tempo_range=(80.0, 96.0),
        reverb_wet=0.5,
        reverb_rt60=3.5,
        texture="wind",
        noise_db=(-62.0, -52.0),
        parts=(
            Part("root", (_WHOLE,), Timbre("sine", attack=0.4, decay=2.0, sustain=0.8, release=0.8,
                 cutoff_hz=500), register=38, level_db=-6, gate=1.0),
            Part("chord", (_WHOLE,), Timbre("saw", attack=0.9, decay=2.0, sustain=0.8, release=1.0,
                 cutoff_hz=1300, unison=3, detune_cents=14), register=60, level_db=-9, gate=1.0),
            Part("arp", (_QUARTERS, "X...x...x...x...|x...x...X...x..."), Timbre("fm", attack=0.002,
                 decay=1.2, sustain=0.0, release=0.8, cutoff_hz=3000, fm_ratio=2.0, fm_index=1.0,
                 fm_decay=0.6), register=72, level_db=-12, pan=0.25),
        ),
        drums=(
            DrumVoice("kick", ("x...x...x...x...",), -8),
            DrumVoice("shaker", ("-.o.-.o.-.o.-.o.",), -18, pan=0.3),
        ),
    ),
)

STYLE_SPECS: dict[str, Style] = {style.name: style for style in _STYLES}
STYLES: tuple[str, ...] = tuple(STYLE_SPECS)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class TrackPlan:
    """Everything that fixes a track's audio: the rest is drawn from ``seed``."""

    style: str
    tempo_bpm: float
    tonic: int  # pitch class, 0 = C
    mode: str
    duration_s: float
    seed: int

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
    low, high = STYLE_SPECS[style].tempo_range
    tempo = round(rng.uniform(low, high) * 2) / 2  # half-BPM steps, like a DAW setting
    duration = round(rng.uniform(*duration_range), 2)
    return TrackPlan(style, tempo, tonic, mode, duration, int(rng.integers(2**63 - 1)))


# --------------------------------------------------------------------------- harmony


def chord_pitch_classes(tonic: int, mode: str, degree: int, sevenths: bool = False) -> tuple[int, ...]:
    """Stacked diatonic thirds on ``degree``; minor keys take V from harmonic minor."""
    scale = _SCALES["harmonic_minor" if mode == "minor" and degree == 4 else mode]
    steps = (0, 2, 4, 6) if sevenths else (0, 2, 4)
    return tuple((tonic + scale[(degree + s) % 7]) % 12 for s in steps)


def _chord_degrees(n_bars: int, progression: tuple[int, ...]) -> list[int]:
    body = [progression[b % len(progression)] for b in range(n_bars - 2)]
    return body + [4, 0]


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


def _onsets(pattern: str, grid: _Grid, rng: np.random.Generator, jitter_s: float) -> list[tuple[int, float, float]]:
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
    phase = cycles % 1.0
    return 2 * phase - 1 - _polyblep(phase, dt)


def _oscillator(timbre: Timbre, cycles: np.ndarray, t: np.ndarray, dt: float) -> np.ndarray:
    if timbre.wave == "sine":
        return np.sin(2 * np.pi * cycles)
    if timbre.wave == "triangle":
        return 4 * np.abs(cycles % 1.0 - 0.5) - 1
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
    released = adsr(held_s) * np.exp(-(t - held_s) * (6.9 / timbre.release))  # -60 dB at release
    return np.where(t < held_s, held, released)


def _note(timbre: Timbre, hz: float, held_s: float, rng: np.random.Generator) -> np.ndarray:
    n = int((held_s + timbre.release) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    vibrato = 0.0
    if timbre.vibrato_cents:
        depth = timbre.vibrato_cents * np.log(2) / 1200
        vibrato = depth / (2 * np.pi * timbre.vibrato_hz) * np.sin(2 * np.pi * timbre.vibrato_hz * t)
    spread = np.linspace(-1, 1, timbre.unison) if timbre.unison > 1 else np.zeros(1)
    out = np.zeros(n)
    for offset in spread:
        f = hz * 2 ** (offset * timbre.detune_cents / 1200)
        cycles = f * (t + vibrato) + rng.uniform()
        out += _oscillator(timbre, cycles, t, f / SAMPLE_RATE)
    return out * _envelope(timbre, t, held_s) / np.sqrt(timbre.unison)


# --------------------------------------------------------------------------- filters & fx


def _filter(x: np.ndarray, kind: str, hz: float | tuple[float, float], order: int = 2) -> np.ndarray:
    nyquist = SAMPLE_RATE / 2
    edges = np.clip(np.asarray(hz, dtype=float), 10.0, nyquist * 0.95)
    sos = signal.butter(order, edges, btype=kind, fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, x, axis=0)


def _drive(x: np.ndarray, amount: float) -> np.ndarray:
    if amount <= 0:
        return x
    return np.tanh(amount * x) / np.tanh(amount)


def _pan(x: np.ndarray, pan: float) -> np.ndarray:
    angle = (pan + 1) * np.pi / 4  # constant power
    return np.stack([x * np.cos(angle), x * np.sin(angle)], axis=1)


def _reverb(send: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Stereo tail from two decorrelated exponentially decaying noise responses."""
    n_ir = int(min(rt60, 3.0) * SAMPLE_RATE)
    t = np.arange(n_ir) / SAMPLE_RATE
    ir = rng.standard_normal((n_ir, 2)) * np.exp(-6.9 * t / rt60)[:, None]
    ir = _filter(ir, "lowpass", 5000.0)
    ir /= np.sqrt((ir**2).sum(axis=0))
    predelay = int(0.012 * SAMPLE_RATE)
    wet = signal.oaconvolve(send[:, None], ir, axes=0)[: len(send)]
    return np.concatenate([np.zeros((predelay, 2)), wet[: len(send) - predelay]])


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
        hz = low + u(90, 160) * np.exp(-t / u(0.02, 0.04))
        body = np.sin(2 * np.pi * np.cumsum(hz) / SAMPLE_RATE) * np.exp(-t / u(0.12, 0.25))
        click = _filter(noise, "highpass", 2500.0) * np.exp(-t / 0.003) * u(0.1, 0.3)
        return _drive(body + click, u(0.5, 2.0))
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
    """Velocity impulse train convolved with one hit: one FFT convolution per voice."""
    pattern = voice.patterns[rng.integers(len(voice.patterns))]
    hits = _onsets(pattern, grid, rng, jitter_s=0.002)
    train = np.zeros(grid.n_samples)
    positions = np.array([round(t * SAMPLE_RATE) for _, t, _ in hits])
    keep = positions < grid.n_samples
    np.add.at(train, positions[keep], np.array([v for _, _, v in hits])[keep])
    shot = _drum_shot(voice.kind, tonic, rng)
    shot /= np.abs(shot).max()
    return signal.oaconvolve(train, shot)[: grid.n_samples]


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
        if role == "chord":
            notes.append([_nearest_midi(pc, register) for pc in chord])
            continue
        if last or role == "root" or (role in ("root_fifth", "walk") and index_in_bar == 0):
            pitch = _nearest_midi(chord[0], register if role != "melody" else previous)
        elif role == "root_fifth":
            pitch = _nearest_midi(chord[index_in_bar % 2 * 2], register)
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
            if index_in_bar % 2 == 0:  # chord tone nearest the previous note keeps the line smooth
                candidates = [_nearest_midi(pc, previous) for pc in chord]
                pitch = sorted(candidates, key=lambda p: abs(p - previous))[rng.integers(2)]
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
    pattern = part.patterns[rng.integers(len(part.patterns))]
    hits = _onsets(pattern, grid, rng, jitter_s=0.003)
    pitches = _part_pitches(part.role, hits, chords, scale, part.register, rng)
    end_s = grid.n_samples / SAMPLE_RATE
    out = np.zeros(grid.n_samples)
    for i, ((_, start, velocity), midis) in enumerate(zip(hits, pitches)):
        gap = (hits[i + 1][1] if i + 1 < len(hits) else end_s) - start
        last = i + 1 == len(hits)
        held = max(end_s - start - part.timbre.release, 0.05) if last else max(gap * part.gate, 0.03)
        first = round(start * SAMPLE_RATE)
        for midi in midis:
            note = _note(part.timbre, float(_midi_hz(midi)), held, rng)[: grid.n_samples - first]
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
        clicks = np.zeros(n)
        where = rng.integers(0, n, size=int(n / SAMPLE_RATE * 25))
        clicks[where] = rng.uniform(-1, 1, len(where)) ** 3
        return _filter(clicks, "highpass", 1500.0) * 0.3 + _filter(rng.standard_normal(n), "bandpass", (800, 6000)) * 0.01
    if kind == "wind":  # slowly swelling band of noise
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 0.12) * np.arange(n) / SAMPLE_RATE + rng.uniform(0, 6.3))
        return _filter(rng.standard_normal(n), "bandpass", (rng.uniform(250, 400), rng.uniform(900, 1400))) * swell * 0.02
    return np.zeros(n)


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
    degrees = _chord_degrees(n_bars, progression)
    chords = [chord_pitch_classes(plan.tonic, plan.mode, d, style.sevenths) for d in degrees]
    scale_pcs = {(plan.tonic + s) % 12 for s in _SCALES[plan.mode]}
    scale = [m for m in range(24, 108) if m % 12 in scale_pcs]

    dry = np.zeros((n, 2))
    send = np.zeros(n)
    for part in style.parts:
        part = replace(part, timbre=_vary(part.timbre, rng))
        mono = _render_part(part, grid, chords, scale, rng) * 10 ** ((part.level_db + rng.uniform(-3, 3)) / 20)
        dry += _pan(mono, np.clip(part.pan + rng.uniform(-0.15, 0.15), -1, 1))
        send += mono
    for voice in style.drums:
        mono = _render_drums(voice, grid, plan.tonic, rng) * 10 ** ((voice.level_db + rng.uniform(-2.5, 2.5)) / 20)
        dry += _pan(mono, voice.pan)
        send += 0.4 * mono

    wet_level = style.reverb_wet * rng.uniform(0.7, 1.3)
    mix = dry + wet_level * _reverb(send, style.reverb_rt60 * rng.uniform(0.8, 1.2), rng)
    mix = _filter(mix, "highpass", 25.0)
    mix /= np.abs(mix).max()
    mix = _drive(mix, style.master_drive * rng.uniform(0.8, 1.2))
    mix += _pan(_texture(style.texture, n, rng), rng.uniform(-0.3, 0.3))
    mix += rng.standard_normal((n, 2)) * 10 ** (rng.uniform(*style.noise_db) / 20)

    fade = np.ones(n)
    fade_in, fade_out = int(0.005 * SAMPLE_RATE), int(min(1.0, plan.duration_s / 10) * SAMPLE_RATE)
    fade[:fade_in] = np.linspace(0, 1, fade_in)
    fade[n - fade_out :] = np.linspace(1, 0, fade_out) ** 2
    mix *= fade[:, None]
    peak_db = rng.uniform(-6.0, -1.0)
    return (mix * (10 ** (peak_db / 20) / np.abs(mix).max())).astype(np.float32)
