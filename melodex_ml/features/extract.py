"""One pass over a file: decode once, measure levels at the native rate, analyse segment by segment.

    file ─decode (blocks)─┬─ LevelMeter (native rate: EBU R128, peak, clipping, DC)
                          └─ mono ─┬─ soxr 22.05 kHz ─ DC blocker ─ Segmenter ─ STFT ─ every spectral,
                                   │                                           tonal and rhythm frame
                                   └─ soxr 16 kHz (only with heads) ─ TF heads per segment

Only per-frame descriptors (about 50 numbers per 23 ms) and per-100 ms level statistics outlive
a segment, so memory stays bounded on a 2-hour mix; track values are computed from them at the end.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from melodex_ml.audio.decode import AudioStream, allowed_shortfall, open_stream, read_stream
from melodex_ml.features import loudness, rhythm, tonal
from melodex_ml.features.config import ExtractorConfig
from melodex_ml.features.heads import HeadRunner, HeadSpec, SpanPrediction
from melodex_ml.features.jit import prepare_librosa
from melodex_ml.features.records import (
    Descriptors,
    Distribution,
    FeatureResult,
    HeadPrediction,
    Issue,
    Levels,
    Rhythm,
    Segment,
    Timbre,
    Tonality,
)
from melodex_ml.features.resample import DcBlocker, StreamResampler
from melodex_ml.features.segments import SegmentAudio, Segmenter, TimeBuffer
from melodex_ml.features.spectral import Frames, SpectralAnalyzer
from melodex_ml.models.cache import ModelCache

_CLIPPING_RATIO = 1e-3  # more than 0.1 % of samples at full scale is audible clipping
_DC_OFFSET = 0.01  # -40 dBFS of constant offset
_SHORT_S = 3.0  # below this there are too few beats for a tempo


@dataclass
class _Span:
    """What a segment, or the whole track, keeps for its descriptors once its audio is gone."""

    start_s: float
    end_s: float
    frames: Frames
    pitch_hz: np.ndarray
    periodicity: rhythm.OnsetPeriodicity
    danceability: float | None
    dynamic_complexity: float | None
    heads: list[SpanPrediction] = field(default_factory=list)


def quiet_essentia() -> None:
    """Silence Essentia's per-call logging and TensorFlow's start-up chatter (before TF loads)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False


class FeatureExtractor:
    """Built once per process: holds the config, the STFT filter banks and the loaded heads."""

    def __init__(self, config: ExtractorConfig | None = None, *, cache: ModelCache | None = None):
        quiet_essentia()
        self.config = config or ExtractorConfig()
        prepare_librosa(self.config.jit_cache_dir)  # before SpectralAnalyzer's first librosa call
        self.spectral = SpectralAnalyzer(self.config)
        self.heads = HeadRunner.from_folder(self.config.models_dir, self.config.expected_heads, cache)

    def extract(self, path: Path | str) -> FeatureResult:
        """Every descriptor of one file; raises AudioDecodeError for files that cannot be decoded."""
        limits = threadpool_limits(self.config.threads) if self.config.threads else nullcontext()
        with limits:
            stream = open_stream(path, block_frames=self.config.block_frames)
            # A fresh analysis per pass: if FFmpeg takes the file over part-way, nothing libsndfile
            # delivered before it failed stays in the descriptors.
            return read_stream(stream, lambda s: _TrackAnalysis(self, s).run())


class _TrackAnalysis:
    def __init__(self, extractor: FeatureExtractor, stream: AudioStream):
        self.config = config = extractor.config
        self.spectral = extractor.spectral
        self.heads = extractor.heads
        self.stream = stream
        info = stream.info
        self.sr, self.hop = config.analysis_rate, config.hop_length
        self.levels = loudness.LevelMeter(info.sample_rate, info.channels)
        self.to_analysis = StreamResampler(info.sample_rate, self.sr)
        self.dc_blocker = DcBlocker(self.sr)
        self.to_heads = {rate: StreamResampler(info.sample_rate, rate) for rate in self.heads.sample_rates}
        self.head_audio = {rate: TimeBuffer(rate) for rate in self.heads.sample_rates}
        self.segmenter = Segmenter(config.segment_frames * self.hop, self.spectral.context)
        self.segments: list[_Span] = []
        self.head_errors: list[str] = []
        self._previous_mel_db: np.ndarray | None = None

    def run(self) -> FeatureResult:
        for block in self.stream:
            self.levels.update(block)
            self._feed(block.mean(axis=0), last=False)
        self._feed(np.zeros(0, np.float32), last=True)
        for segment in self.segmenter.finish():
            self._analyze(segment, last=True)
        return self._result()

    def _feed(self, mono: np.ndarray, last: bool) -> None:
        for rate, resample in self.to_heads.items():
            self.head_audio[rate].push(resample(mono, last=last))
        analysis = self.dc_blocker(self.to_analysis(mono, last=last))
        for segment in self.segmenter.push(analysis):
            self._analyze(segment, last=False)

    def _analyze(self, segment: SegmentAudio, last: bool) -> None:
        n_frames = math.ceil((segment.stop - segment.start) / self.hop)
        spectral = self.spectral.analyze(segment.padded, n_frames, self._previous_mel_db)
        self._previous_mel_db = spectral.last_mel_db
        samples = segment.samples
        heads: list[SpanPrediction] = []
        if self.heads.heads:
            start_s, stop_s = segment.start / self.sr, None if last else segment.stop / self.sr
            audio = {rate: buffer.take(start_s, stop_s) for rate, buffer in self.head_audio.items()}
            heads, errors = self.heads.predict(audio)
            self.head_errors.extend(errors)
        self.segments.append(
            _Span(
                start_s=segment.start / self.sr,
                end_s=segment.stop / self.sr,
                frames=spectral.frames,
                pitch_hz=spectral.pitch_hz,
                periodicity=rhythm.OnsetPeriodicity.of(spectral.frames.onset),
                danceability=rhythm.danceability(samples, self.sr),
                dynamic_complexity=loudness.dynamic_complexity(samples, self.sr),
                heads=heads,
            )
        )

    # -- track assembly ------------------------------------------------------------------------

    def _result(self) -> FeatureResult:
        info, segments = self.stream.info, self.segments
        duration = self.stream.frames_read / info.sample_rate
        track = _Span(
            start_s=0.0,
            end_s=duration,
            frames=Frames.concat([s.frames for s in segments]),
            pitch_hz=np.concatenate([s.pitch_hz for s in segments]),
            periodicity=sum((s.periodicity for s in segments[1:]), segments[0].periodicity),
            danceability=self._segment_mean([s.danceability for s in segments]),
            dynamic_complexity=self._segment_mean([s.dynamic_complexity for s in segments]),
        )
        onset = track.frames.onset
        bpm = rhythm.prior_tempo(track.periodicity, self.sr, self.hop)
        describe = partial(
            self._describe,
            self.levels.finish(),
            rhythm.track_beats(onset, bpm, self.sr, self.hop),
            rhythm.track_onsets(onset, self.sr, self.hop),
        )
        track_descriptors = describe(track)
        return FeatureResult(
            info=info,
            duration_s=duration,
            track=track_descriptors,
            segments=tuple(
                Segment(i, s.start_s, min(s.end_s, duration), describe(s)) for i, s in enumerate(segments)
            ),
            heads=tuple(self._head_predictions()),
            heads_unavailable=self.heads.unavailable,
            issues=tuple(self._issues(track_descriptors, duration)),
            nonfinite_samples=self.stream.nonfinite_samples,
            extractor_version=self.config.version,
        )

    def _segment_mean(self, values: list[float | None]) -> float | None:
        """Duration-weighted mean over the segments that have a value.

        Danceability and dynamic complexity are Essentia's, run on each segment; running them
        again on the whole track would double their cost and hold the whole signal in memory.
        The track's macro-dynamics (quiet verse, loud chorus) are in loudness_range_lu.
        """
        known = [(s.end_s - s.start_s, v) for s, v in zip(self.segments, values) if v is not None]
        if not known:
            return None
        weights, measured = zip(*known)
        return float(np.average(measured, weights=weights))

    def _describe(self, blocks: loudness.SubBlocks, beats: np.ndarray, onsets: np.ndarray, span: _Span) -> Descriptors:
        start_s, end_s, frames = span.start_s, min(span.end_s, blocks.duration_s), span.frames
        beats = beats[(beats >= start_s) & (beats < end_s)]
        onset_count = int(np.count_nonzero((onsets >= start_s) & (onsets < end_s)))
        voiced = frames.rms_db > self.config.silence_db
        silent = not voiced.any()
        measured = loudness.span_levels(blocks, start_s, end_s)
        mean_power = float(np.mean(10.0 ** (frames.rms_db.astype(np.float64) / 10.0)))
        levels = Levels(
            integrated_lufs=measured.integrated_lufs,
            loudness_range_lu=measured.loudness_range_lu,
            peak_dbfs=measured.peak_dbfs,
            clipped_ratio=measured.clipped_ratio,
            dc_offset=measured.dc_offset,
            rms_dbfs=10.0 * math.log10(mean_power) if mean_power > 0 else None,
            rms_db=Distribution.of(frames.rms_db),
            dynamic_complexity=None if silent else span.dynamic_complexity,
        )
        tempo = rhythm.tempo_from_beats(beats)
        rhythm_stats = Rhythm(
            tempo_bpm=tempo,
            tempo_confidence=rhythm.pulse_clarity(span.periodicity, tempo, self.sr, self.hop),
            beat_count=int(beats.size),
            onset_rate=onset_count / (end_s - start_s) if end_s > start_s else None,
            danceability_dfa=None if silent else span.danceability,
        )
        if silent:
            return Descriptors(levels, rhythm_stats, Tonality(), Timbre())
        sounding = frames[voiced]
        chroma = sounding.chroma.mean(axis=1)
        key = tonal.estimate_key(chroma)
        tonality = Tonality(
            key=key.name if key else None,
            key_pitch_class=key.pitch_class if key else None,
            mode=key.mode if key else None,
            key_strength=key.strength if key else None,
            tuning_hz=tonal.tuning_hz(self.spectral.tuning(span.pitch_hz)) if span.pitch_hz.size else None,
            chroma=tuple(float(c) for c in chroma),
        )
        timbre = Timbre(
            spectral_centroid_hz=Distribution.of(sounding.centroid),
            spectral_bandwidth_hz=Distribution.of(sounding.bandwidth),
            spectral_rolloff_hz=Distribution.of(sounding.rolloff),
            spectral_flatness=Distribution.of(sounding.flatness),
            zero_crossing_rate=Distribution.of(sounding.zero_crossing_rate),
            spectral_contrast_db=tuple(float(v) for v in sounding.contrast.mean(axis=1)),
            mfcc_mean=tuple(float(v) for v in sounding.mfcc.mean(axis=1)),
            mfcc_std=tuple(float(v) for v in sounding.mfcc.std(axis=1)),
        )
        return Descriptors(levels, rhythm_stats, tonality, timbre)

    def _head_predictions(self) -> list[HeadPrediction]:
        """Rows per segment, then per track: the patch-weighted mean over all segments."""
        rows: list[HeadPrediction] = []
        totals: dict[str, tuple[HeadSpec, np.ndarray, int]] = {}

        def add(spec: HeadSpec, segment_index: int | None, probabilities: np.ndarray) -> None:
            rows.extend(HeadPrediction(spec.head, spec.model, segment_index, label, float(p))
                        for label, p in zip(spec.classes, probabilities))  # fmt: skip

        for index, segment in enumerate(self.segments):
            for p in segment.heads:
                add(p.spec, index, p.mean)
                _, total, patches = totals.get(p.spec.model, (p.spec, 0.0, 0))
                totals[p.spec.model] = (p.spec, total + p.mean * p.patches, patches + p.patches)
        for spec, total, patches in totals.values():
            add(spec, None, total / patches)
        return rows

    def _issues(self, track: Descriptors, duration: float) -> list[Issue]:
        info, levels, nonfinite = self.stream.info, track.levels, self.stream.nonfinite_samples
        issues = self._decode_issues()
        if nonfinite:
            issues.append(Issue("nonfinite_samples", f"{nonfinite} NaN/Inf samples were replaced by silence"))
        if track.timbre.mfcc_mean is None:
            threshold = self.config.silence_db
            issues.append(Issue("silent", f"no frame above {threshold:g} dBFS: tempo, key and timbre are empty"))
        if levels.clipped_ratio and levels.clipped_ratio > _CLIPPING_RATIO:
            issues.append(Issue("clipping", f"{levels.clipped_ratio:.2%} of samples are at full scale"))
        if levels.dc_offset is not None and abs(levels.dc_offset) > _DC_OFFSET:
            offset = levels.dc_offset
            issues.append(Issue("dc_offset", f"DC offset {offset:+.3f} of full scale, removed before analysis"))
        if info.sample_rate < self.sr:
            rate = info.sample_rate
            issues.append(Issue("low_sample_rate", f"{rate} Hz: no content above {rate // 2} Hz"))
        if duration < _SHORT_S:
            issues.append(Issue("too_short", f"{duration:.2f} s is too short for tempo and danceability"))
        issues += [Issue("head_failed", error) for error in dict.fromkeys(self.head_errors)]
        return issues

    def _decode_issues(self) -> list[Issue]:
        stream, issues = self.stream, []
        if stream.fallback_reason:
            issues.append(Issue("decoder_fallback", f"{stream.fallback_reason}; decoded with FFmpeg"))
        if short := stream.shortfall_frames:
            rate, declared = stream.info.sample_rate, stream.info.frames
            issues.append(
                Issue(
                    "decoded_short",
                    f"decoding ended {short} frames ({short / rate * 1000:.1f} ms) before the {declared / rate:.2f} s "
                    f"the header declares (accepted up to {allowed_shortfall(declared, stream.info.codec)} frames: encoder padding "
                    "or end trimming)",
                )
            )
        return issues


