-- audio_features: the fields Spotify's audio-features endpoint used to serve, from what Melodex
-- measures itself. Applied once per store as the migration sql/ddl/051_audio_features_view.sql
-- (a link to this file); after changing the view, give the link the next free number so every
-- store applies it again. A field is NULL where it cannot be derived honestly: no number here is
-- a guess dressed up as Spotify's.
--
--   field              source                                                   Spotify's definition
--   track_id           features.track_id                                        (their id)
--   duration_ms        decoded duration, rounded to ms                          same
--   tempo              features.tempo_bpm: beat tracking on the spectral-flux   same (BPM)
--                      onset envelope, mean of regular inter-beat intervals
--   tempo_confidence   pulse clarity 0..1 (onset autocorrelation at the beat)   (their track-analysis field)
--   key                pitch class 0 = C ... 11 = B; -1 when no key was found   same
--   mode               1 = major, 0 = minor; NULL when no key was found         same
--   key_confidence     Essentia Key strength 0..1 (temperley2005 profiles)      (their track-analysis field)
--   loudness           EBU R128 integrated loudness, LUFS (K-weighted, gated)   "average loudness in dB",
--                                                                                typically -60..0: same scale,
--                                                                                a standardised definition
--   danceability       probability of the class "danceable" of the Essentia     0..1 "how suitable for
--                      danceability head(s); NULL when no such head is           dancing"
--                      installed. The DFA value (~0..3) is features.danceability_dfa,
--                      on another scale: it is not copied here.
--   acousticness       probability of "acoustic" from the mood_acoustic head;   0..1 confidence the track
--                      without it, MusiCNN's msd-musicnn "acoustic" tag          is acoustic
--                      (track_tags; trained on Last.fm tags of the Million
--                      Song Dataset: a listener-tag proxy, not a measurement)
--   instrumentalness   probability of "instrumental" from voice_instrumental;    0..1 likelihood of no vocals
--                      without it, the mean of msd-musicnn "instrumental" and
--                      the largest of mtt-musicnn "no vocals", "no vocal",
--                      "no voice" (MagnaTagATune annotators' no-vocal tags)
--   energy, valence,   NULL: Spotify's are outputs of their own undisclosed models; a loudness or
--   speechiness,       mood formula would only pretend to be them. Valence would need a valence
--   liveness           regression head, speechiness a speech detector, liveness an audience detector.
--   time_signature     NULL: Melodex does not estimate metre.
--
-- When several models of one head are installed (e.g. a MusiCNN and an EffNet danceability head)
-- their track-level probabilities are averaged. Essentia heads, trained for exactly these
-- questions, win over the MusiCNN tag proxies.
CREATE OR REPLACE VIEW audio_features AS
WITH tags AS (
    SELECT
        track_id,
        max(probability) FILTER (WHERE model = 'msd-musicnn' AND label = 'acoustic') AS acoustic,
        max(probability) FILTER (WHERE model = 'msd-musicnn' AND label = 'instrumental') AS msd_instrumental,
        max(probability) FILTER (WHERE model = 'mtt-musicnn' AND label IN ('no vocals', 'no vocal', 'no voice'))
            AS mtt_no_vocals
    FROM track_tags
    GROUP BY track_id
),
heads AS (
    SELECT
        track_id,
        avg(probability) FILTER (WHERE head = 'danceability' AND label = 'danceable') AS danceable,
        avg(probability) FILTER (WHERE head = 'mood_acoustic' AND label = 'acoustic') AS acoustic,
        avg(probability) FILTER (WHERE head = 'voice_instrumental' AND label = 'instrumental') AS instrumental
    FROM head_predictions
    WHERE segment_index IS NULL
    GROUP BY track_id
)
SELECT
    f.track_id,
    CAST(round(f.duration_s * 1000) AS BIGINT)              AS duration_ms,
    f.tempo_bpm                                             AS tempo,
    f.tempo_confidence,
    COALESCE(f.key_pitch_class, -1)                         AS "key",
    CASE f.mode WHEN 'major' THEN 1 WHEN 'minor' THEN 0 END AS mode,
    f.key_strength                                          AS key_confidence,
    f.integrated_lufs                                       AS loudness,
    h.danceable                                             AS danceability,
    COALESCE(h.acoustic, g.acoustic)                        AS acousticness,
    COALESCE(h.instrumental, (g.msd_instrumental + g.mtt_no_vocals) / 2) AS instrumentalness,
    CAST(NULL AS DOUBLE)                                    AS energy,
    CAST(NULL AS DOUBLE)                                    AS valence,
    CAST(NULL AS DOUBLE)                                    AS speechiness,
    CAST(NULL AS DOUBLE)                                    AS liveness,
    CAST(NULL AS INTEGER)                                   AS time_signature
FROM features AS f
LEFT JOIN heads AS h USING (track_id)
LEFT JOIN tags AS g USING (track_id)
-- Tombstoned (retired) tracks are no longer served.
WHERE f.track_id NOT IN (SELECT track_id FROM tracks WHERE retired_at IS NOT NULL);
