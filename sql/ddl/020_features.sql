-- Tabular audio descriptors, written by the features stage (melodex_ml.features).
-- One row per track in `features`, one per ~30 s segment in `segment_features`, and the class
-- probabilities of Essentia TensorFlow heads in the long table `head_predictions`.
-- Units, definitions and issue codes: sql/features.md. NULL means "not measurable" (silence,
-- too short, head not installed), never zero. Re-running a track replaces its rows.
-- The descriptor columns of `features` and `segment_features` are the same list, in the same
-- order (tests/test_features_extract.py checks both against melodex_ml.features.records).

CREATE TABLE IF NOT EXISTS features (
    track_id                    VARCHAR PRIMARY KEY,
    path                        VARCHAR NOT NULL,
    extractor_version           VARCHAR NOT NULL,   -- definitions changed when this changes
    analyzed_at                 TIMESTAMP NOT NULL DEFAULT current_timestamp,
    -- file
    duration_s                  DOUBLE NOT NULL,    -- decoded duration
    sample_rate                 INTEGER NOT NULL,   -- Hz, as stored in the file
    channels                    INTEGER NOT NULL,
    codec                       VARCHAR NOT NULL,   -- pcm_s16 | pcm_f32 | flac | mp3 | vorbis | opus | aac ...
    container                   VARCHAR NOT NULL,   -- wav | flac | mp3 | ogg | m4a ...
    bit_rate_kbps               DOUBLE,             -- exact for PCM; stream header or size/duration otherwise
    decoder                     VARCHAR NOT NULL,   -- libsndfile | ffmpeg
    segment_count               INTEGER NOT NULL,
    -- levels (raw samples, native rate)
    integrated_lufs             DOUBLE,             -- EBU R128 integrated loudness, LUFS
    loudness_range_lu           DOUBLE,             -- EBU Tech 3342 loudness range, LU
    peak_dbfs                   DOUBLE,             -- sample peak, dBFS
    clipped_ratio               DOUBLE,             -- share of samples at full scale, 0..1
    dc_offset                   DOUBLE,             -- largest per-channel mean, full-scale units
    rms_dbfs                    DOUBLE,             -- RMS level of the mono analysis signal, dBFS
    rms_db_mean                 DOUBLE,             -- frame RMS (2048 samples at 22.05 kHz), dBFS
    rms_db_std                  DOUBLE,
    rms_db_p10                  DOUBLE,
    rms_db_p50                  DOUBLE,
    rms_db_p90                  DOUBLE,
    dynamic_complexity          DOUBLE,             -- Essentia DynamicComplexity, dB (track: segment mean)
    -- rhythm
    tempo_bpm                   DOUBLE,
    tempo_confidence            DOUBLE,             -- pulse clarity 0..1
    beat_count                  INTEGER NOT NULL,
    onset_rate                  DOUBLE,             -- onsets per second
    danceability_dfa            DOUBLE,             -- Essentia Danceability (DFA), ~0..3 (track: segment mean)
    -- tonality
    key                         VARCHAR,            -- C C# D D# E F F# G G# A A# B
    key_pitch_class             INTEGER,            -- 0 = C ... 11 = B
    mode                        VARCHAR,            -- major | minor
    key_strength                DOUBLE,             -- 0..1
    tuning_hz                   DOUBLE,             -- frequency of A4
    chroma                      FLOAT[12],          -- C..B, mean of max-normalised frames
    -- timbre (non-silent frames; Hz where named)
    spectral_centroid_hz_mean   DOUBLE,
    spectral_centroid_hz_std    DOUBLE,
    spectral_centroid_hz_p10    DOUBLE,
    spectral_centroid_hz_p50    DOUBLE,
    spectral_centroid_hz_p90    DOUBLE,
    spectral_bandwidth_hz_mean  DOUBLE,
    spectral_bandwidth_hz_std   DOUBLE,
    spectral_bandwidth_hz_p10   DOUBLE,
    spectral_bandwidth_hz_p50   DOUBLE,
    spectral_bandwidth_hz_p90   DOUBLE,
    spectral_rolloff_hz_mean    DOUBLE,             -- 85 % roll-off
    spectral_rolloff_hz_std     DOUBLE,
    spectral_rolloff_hz_p10     DOUBLE,
    spectral_rolloff_hz_p50     DOUBLE,
    spectral_rolloff_hz_p90     DOUBLE,
    spectral_flatness_mean      DOUBLE,             -- 0 (tonal) .. 1 (white noise)
    spectral_flatness_std       DOUBLE,
    spectral_flatness_p10       DOUBLE,
    spectral_flatness_p50       DOUBLE,
    spectral_flatness_p90       DOUBLE,
    zero_crossing_rate_mean     DOUBLE,             -- sign changes per sample
    zero_crossing_rate_std      DOUBLE,
    zero_crossing_rate_p10      DOUBLE,
    zero_crossing_rate_p50      DOUBLE,
    zero_crossing_rate_p90      DOUBLE,
    spectral_contrast_db        FLOAT[7],           -- mean peak-valley contrast of 6 octave bands + residual, dB
    mfcc_mean                   FLOAT[20],
    mfcc_std                    FLOAT[20],
    -- bookkeeping
    nonfinite_samples           BIGINT NOT NULL,    -- NaN/Inf samples replaced by silence
    issues                      VARCHAR[] NOT NULL, -- codes, see sql/features.md
    heads_unavailable           VARCHAR[] NOT NULL  -- expected heads that were not run for this row
);

CREATE TABLE IF NOT EXISTS segment_features (
    track_id                    VARCHAR NOT NULL,
    segment_index               INTEGER NOT NULL,   -- 0, 1, ... in time order
    start_s                     DOUBLE NOT NULL,
    end_s                       DOUBLE NOT NULL,
    integrated_lufs             DOUBLE,
    loudness_range_lu           DOUBLE,
    peak_dbfs                   DOUBLE,
    clipped_ratio               DOUBLE,
    dc_offset                   DOUBLE,
    rms_dbfs                    DOUBLE,
    rms_db_mean                 DOUBLE,
    rms_db_std                  DOUBLE,
    rms_db_p10                  DOUBLE,
    rms_db_p50                  DOUBLE,
    rms_db_p90                  DOUBLE,
    dynamic_complexity          DOUBLE,
    tempo_bpm                   DOUBLE,
    tempo_confidence            DOUBLE,
    beat_count                  INTEGER NOT NULL,
    onset_rate                  DOUBLE,
    danceability_dfa            DOUBLE,
    key                         VARCHAR,
    key_pitch_class             INTEGER,
    mode                        VARCHAR,
    key_strength                DOUBLE,
    tuning_hz                   DOUBLE,
    chroma                      FLOAT[12],
    spectral_centroid_hz_mean   DOUBLE,
    spectral_centroid_hz_std    DOUBLE,
    spectral_centroid_hz_p10    DOUBLE,
    spectral_centroid_hz_p50    DOUBLE,
    spectral_centroid_hz_p90    DOUBLE,
    spectral_bandwidth_hz_mean  DOUBLE,
    spectral_bandwidth_hz_std   DOUBLE,
    spectral_bandwidth_hz_p10   DOUBLE,
    spectral_bandwidth_hz_p50   DOUBLE,
    spectral_bandwidth_hz_p90   DOUBLE,
    spectral_rolloff_hz_mean    DOUBLE,
    spectral_rolloff_hz_std     DOUBLE,
    spectral_rolloff_hz_p10     DOUBLE,
    spectral_rolloff_hz_p50     DOUBLE,
    spectral_rolloff_hz_p90     DOUBLE,
    spectral_flatness_mean      DOUBLE,
    spectral_flatness_std       DOUBLE,
    spectral_flatness_p10       DOUBLE,
    spectral_flatness_p50       DOUBLE,
    spectral_flatness_p90       DOUBLE,
    zero_crossing_rate_mean     DOUBLE,
    zero_crossing_rate_std      DOUBLE,
    zero_crossing_rate_p10      DOUBLE,
    zero_crossing_rate_p50      DOUBLE,
    zero_crossing_rate_p90      DOUBLE,
    spectral_contrast_db        FLOAT[7],
    mfcc_mean                   FLOAT[20],
    mfcc_std                    FLOAT[20],
    PRIMARY KEY (track_id, segment_index)
);

-- Mean class activation of each Essentia head over a segment (segment_index set) or over the
-- whole track (segment_index NULL). Labels come from each head's .json, in its own order.
CREATE TABLE IF NOT EXISTS head_predictions (
    track_id       VARCHAR NOT NULL,
    segment_index  INTEGER,            -- NULL: whole track (patch-weighted mean of its segments)
    head           VARCHAR NOT NULL,   -- task: danceability, mood_happy, genre_discogs400 ...
    model          VARCHAR NOT NULL,   -- model file stem, e.g. mood_happy-discogs-effnet-1
    label          VARCHAR NOT NULL,   -- class name from the head's json
    probability    DOUBLE NOT NULL     -- softmax/sigmoid activation, 0..1
);
