"""Reference outputs of the original TensorFlow musicnn, for the parity tests of Melodex's PyTorch port.

README
======
Run from the repository root with the project's interpreter::

    uv run python scripts/musicnn_reference.py                 # venv in /tmp/musicnn-tf, data in tests/data/musicnn
    uv run python scripts/musicnn_reference.py --venv DIR --out DIR

It builds a throwaway virtual environment OUTSIDE the repository (never part of the project's lock), then
re-runs itself inside it (``--inside``) to drive the original code: ``musicnn.extractor.extractor`` (the
published pipeline: librosa load/resample, log-mel, 3 s patches, TF graph) and the graph of
``musicnn.models.define_model`` restored from the shipped checkpoints. The environment is pinned to:

* Python 3.11, ``tensorflow-cpu==2.15.1`` (Keras 2 is still built in, so ``tf.compat.v1.layers`` work and
  neither ``tf_keras`` nor ``TF_USE_LEGACY_KERAS`` is needed); oneDNN is switched off
  (``TF_ENABLE_ONEDNN_OPTS=0``) so the plain Eigen kernels produce the numbers;
* ``numpy==1.26.4``: musicnn casts the mel spectrogram to float16 and computes ``log10(10000 * x + 1)``;
  under numpy 1.x the Python int promotes that product to float32, under numpy 2 it stays float16 and
  overflows to inf (Melodex never copies the cast: it computes the log in float32);
* ``librosa==0.10.2.post1``: resamples with ``soxr_hq`` (as Melodex does, through soxr; the default since
  librosa 0.10) and pads centred frames with zeros (``pad_mode='constant'``, the default since 0.9).
  musicnn 0.1.0 was published and trained with librosa 0.6/0.7, whose centred frames were reflect-padded
  and whose resampler was resampy's ``kaiser_best``; the pad mode changes the first frame of a file only,
  and Melodex exposes it (default ``reflect``, as in training);
* ``musicnn==0.1.0`` installed with ``--no-deps`` (its metadata asks for numpy<1.17).

The exact versions found are written to ``reference.json`` with the data.

What is written (about 0.5 MB):

* ``reference.json``: versions; the clips; for both checkpoints, every tensor's dtype, shape and sha256 as
  TensorFlow's own ``tf.train.load_checkpoint`` reads it (the reader test compares bit for bit);
* ``reference.npz``: a few input spectrogram patches (as musicnn's ``batch_data`` made them, plus a silent
  one) with the TF graph's tags (sigmoid) and embeddings (``model/dense/BiasAdd``, Essentia's embedding
  layer) for each model; and per clip, the taggram of the unmodified ``extractor`` plus the embeddings of
  every patch, for the from-audio test.

The clips are synthesised below with numpy alone (no random generator: noise comes from an integer hash),
so the tests rebuild exactly the same audio by importing :func:`reference_clips` from this file.

``--time-extractor FILE...`` (inside the environment) times the original extractor per file, with TF's
default settings (oneDNN on), and prints JSON; ``benchmarks/bench_musicnn.py`` uses it as its baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path("/tmp/musicnn-tf")
DEFAULT_OUT = REPO / "tests" / "data" / "musicnn"
PINS = ["tensorflow-cpu==2.15.1", "numpy==1.26.4", "librosa==0.10.2.post1", "soundfile"]
MODELS = ("MSD_musicnn", "MTT_musicnn")
PATCH_FRAMES = 187
# (clip name, patch index) of the spectrogram patches stored for the network-only test.
STORED_PATCHES = (("piano", 0), ("drums", 1), ("pad", 2))


@dataclass(frozen=True)
class Clip:
    name: str
    samples: np.ndarray  # float32 (channels, n)
    sample_rate: int


def _hash_noise(n: int, seed: int) -> np.ndarray:
    """Uniform noise in [-1, 1) from a splitmix64-style hash of the sample index (identical on any numpy)."""
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 52) - 1.0


def _harmonic_note(t: np.ndarray, hz: float, n_harmonics: int, decay_s: float, sample_rate: int) -> np.ndarray:
    out = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        if k * hz < sample_rate / 2:
            out += np.sin(2 * np.pi * k * hz * t) * np.exp(-t * k / decay_s) / k
    return out


def _piano(sample_rate: int = 16_000, seconds: float = 10.0) -> np.ndarray:
    n = int(seconds * sample_rate)
    out = np.zeros(n)
    melody = [60, 64, 67, 72, 71, 67, 64, 62, 60, 65, 69, 72, 70, 65, 62, 60]  # MIDI notes, 0.6 s apart
    for i, midi in enumerate(melody * 2):
        start = int(i * 0.6 * sample_rate)
        if start >= n:
            break
        t = np.arange(min(n - start, int(2.5 * sample_rate))) / sample_rate
        note = _harmonic_note(t, 440.0 * 2 ** ((midi - 69) / 12), 8, 0.8, sample_rate)
        out[start : start + len(t)] += note * np.minimum(t / 0.004, 1.0)
    return (0.3 * out / np.abs(out).max())[None].astype(np.float32)


def _drums(sample_rate: int = 44_100, seconds: float = 10.0) -> np.ndarray:
    n = int(seconds * sample_rate)
    noise = _hash_noise(n + 1, seed=7)
    left, right = np.zeros(n), np.zeros(n)
    beat = 0.5  # 120 BPM
    for i in range(int(seconds / beat * 2)):
        start = int(i * beat / 2 * sample_rate)
        length = min(n - start, int(0.4 * sample_rate))
        t = np.arange(length) / sample_rate
        hat = np.diff(noise[start : start + length + 1]) * np.exp(-t / 0.02) * 0.25
        left[start : start + length] += hat
        right[start : start + length] += 0.6 * hat
        if i % 4 == 0:  # kick on beats 1 and 3
            sweep = 2 * np.pi * (50 * t + 100 * 0.04 * (1 - np.exp(-t / 0.04)))
            kick = np.sin(sweep) * np.exp(-t / 0.15)
            left[start : start + length] += kick
            right[start : start + length] += kick
        if i % 4 == 2:  # snare on beats 2 and 4
            snare = (0.6 * noise[start : start + length] + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.08)
            left[start : start + length] += 0.7 * snare
            right[start : start + length] += 0.9 * snare
    t = np.arange(n) / sample_rate
    bass_hz = np.where((t // 2) % 2 == 0, 55.0, 73.42)
    bass = sum(np.sin(2 * np.pi * k * np.cumsum(bass_hz) / sample_rate) / k for k in range(1, 6))
    stereo = np.stack([left + 0.3 * bass, right + 0.3 * bass])
    return (0.5 * stereo / np.abs(stereo).max()).astype(np.float32)


def _pad(sample_rate: int = 22_050, seconds: float = 10.0) -> np.ndarray:
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    chords = [(57, 60, 64), (53, 57, 60), (55, 59, 62), (52, 55, 59)]
    for i, chord in enumerate(chords * 2):
        start, stop = int(i * 1.25 * sample_rate), min(n, int((i + 1) * 1.25 * sample_rate))
        tt = t[: stop - start]
        fade = np.minimum(1.0, np.minimum(tt, tt[-1] - tt + 1e-3) / 0.1)
        for midi in chord:
            for detune in (-0.08, 0.08):
                hz = 440.0 * 2 ** ((midi - 69 + detune) / 12)
                for k in range(1, 12):
                    if k * hz < sample_rate / 2:
                        out[start:stop] += fade * np.sin(2 * np.pi * k * hz * tt + k) / k
    out *= 1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)
    out += 0.02 * _hash_noise(n, seed=3)
    return (0.4 * out / np.abs(out).max())[None].astype(np.float32)


def reference_clips() -> list[Clip]:
    """Three 10 s clips: piano-like melody (16 kHz mono), drums and bass (44.1 kHz stereo), synth pad (22.05 kHz)."""
    return [Clip("piano", _piano(), 16_000), Clip("drums", _drums(), 44_100), Clip("pad", _pad(), 22_050)]


# --------------------------------------------------------------------------- inside the TF environment


def _tf_setup(*, reference_numbers: bool = True):
    """Import TF (and musicnn.extractor); for reference numbers with oneDNN off, for timing as users run it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if reference_numbers:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf
    from musicnn import extractor  # noqa: F401  (disables eager execution, as the original does)

    return tf


def _checkpoint_prefix(model: str) -> str:
    import musicnn

    return os.path.join(os.path.dirname(musicnn.__file__), model) + "/"


def _checksums(tf) -> dict[str, dict[str, dict]]:
    out = {}
    for model in MODELS:
        # NewCheckpointReader takes the prefix as it is; load_checkpoint would follow the bundled
        # `checkpoint` file, which points into the author's home.
        reader = tf.compat.v1.train.NewCheckpointReader(_checkpoint_prefix(model))
        tensors = {}
        for name in sorted(reader.get_variable_to_shape_map()):
            array = np.asarray(reader.get_tensor(name))  # scalars come back as numpy scalars: keep shape ()
            tensors[name] = {
                "dtype": str(array.dtype),
                "shape": list(array.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
            }
        out[model] = tensors
    return out


class _Graph:
    """musicnn's graph (as ``extractor`` builds it) with the embedding tensor Essentia exports."""

    def __init__(self, tf, model: str):
        from musicnn import models

        self.graph = tf.Graph()
        with self.graph.as_default():
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, 96])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                logits = models.define_model(self.x, self.is_training, model, 50)[0]
                self.tags = tf.nn.sigmoid(logits)
            self.embedding = self.graph.get_tensor_by_name("model/dense/BiasAdd:0")
            self.session = tf.compat.v1.Session(graph=self.graph)
            tf.compat.v1.train.Saver().restore(self.session, _checkpoint_prefix(model))

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {self.x: patches.astype(np.float32), self.is_training: False}
        tags, embedding = self.session.run([self.tags, self.embedding], feed_dict=feed)
        return tags, embedding


def _write_wavs(folder: Path) -> dict[str, Path]:
    import soundfile as sf

    paths = {}
    for clip in reference_clips():
        paths[clip.name] = folder / f"{clip.name}.wav"
        sf.write(paths[clip.name], clip.samples.T, clip.sample_rate, subtype="FLOAT")
    return paths


def _versions(tf) -> dict[str, str]:
    from importlib import metadata

    names = ("tensorflow-cpu", "numpy", "librosa", "soxr", "soundfile", "scipy", "musicnn")
    return {"python": sys.version.split()[0], "tensorflow": tf.__version__} | {n: metadata.version(n) for n in names}


def generate(out: Path) -> None:
    tf = _tf_setup()
    from musicnn.extractor import batch_data, extractor

    clips = reference_clips()
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wavs = _write_wavs(Path(tmp))
        batches = {name: batch_data(str(path), PATCH_FRAMES, PATCH_FRAMES)[0] for name, path in wavs.items()}
        stored = [batches[name][index] for name, index in STORED_PATCHES]
        patches = np.stack([*stored, np.zeros((PATCH_FRAMES, 96), np.float32)]).astype(np.float32)
        arrays["patches"] = patches
        for model in MODELS:
            graph = _Graph(tf, model)
            arrays[f"{model}/patch_tags"], arrays[f"{model}/patch_embeddings"] = graph.run(patches)
            for name, path in wavs.items():
                taggram, _labels = extractor(str(path), model=model, extract_features=False)
                arrays[f"{model}/{name}/taggram"] = np.asarray(taggram, np.float32)
                arrays[f"{model}/{name}/embeddings"] = graph.run(batches[name])[1]
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "reference.npz", **arrays)
    meta = {
        "generated_by": "scripts/musicnn_reference.py",
        "versions": _versions(tf),
        "environment": {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")},
        "clips": [{"name": c.name, "sample_rate": c.sample_rate, "shape": list(c.samples.shape)} for c in clips],
        "stored_patches": [list(p) for p in STORED_PATCHES] + [["silence", 0]],
        "embedding_layer": "model/dense/BiasAdd",
        "checkpoints": _checksums(tf),
    }
    (out / "reference.json").write_text(_dump(meta))
    print(f"wrote {out / 'reference.npz'} and {out / 'reference.json'}")


def _dump(meta: dict) -> str:
    """Indented JSON with one line per checkpoint tensor, so the file stays short and diffs stay readable."""
    checkpoints = meta.pop("checkpoints")
    head = json.dumps(meta, indent=1)[:-2]
    models = []
    for model, tensors in checkpoints.items():
        lines = ",\n".join(f"   {json.dumps(name)}: {json.dumps(entry)}" for name, entry in tensors.items())
        models.append(f"  {json.dumps(model)}: {{\n{lines}\n  }}")
    return head + ',\n "checkpoints": {\n' + ",\n".join(models) + "\n }\n}\n"


def time_extractor(files: list[str], model: str) -> None:
    _tf_setup(reference_numbers=False)  # TF's defaults (oneDNN on), as the original is normally run
    from musicnn.extractor import extractor

    seconds = {}
    for path in files:
        start = time.perf_counter()
        extractor(path, model=model, extract_features=False)
        seconds[path] = time.perf_counter() - start
    print(json.dumps({"model": model, "seconds": seconds}))


# --------------------------------------------------------------------------- outside: build the environment


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    python = venv_python(venv)
    if python.exists():
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to build the reference environment")
    # --no-config: run from the checkout, uv would apply the project's override-dependencies (our
    # numpy range) to these pins and install a numpy 2 that TensorFlow 2.15 cannot import.
    subprocess.run([uv, "venv", "--no-config", "--python", "3.11", str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "--no-config", "--python", str(python), *PINS], check=True)
    subprocess.run([uv, "pip", "install", "--no-config", "--python", str(python), "--no-deps", "musicnn==0.1.0"],
                   check=True)  # fmt: skip
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--inside", action="store_true", help="(internal) run inside the TF environment")
    parser.add_argument("--time-extractor", nargs="+", metavar="FILE", help="time the original extractor per file")
    parser.add_argument("--model", default="MSD_musicnn")
    args = parser.parse_args()
    if args.time_extractor:
        time_extractor(args.time_extractor, args.model)
    elif args.inside:
        generate(args.out)
    else:
        python = ensure_venv(args.venv)
        subprocess.run([str(python), __file__, "--inside", "--out", str(args.out)], check=True)


if __name__ == "__main__":
    main()
