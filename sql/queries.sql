-- Documented queries over the Melodex feature store (MELODEX_HOME/melodex.duckdb).
-- Run one with:  melodex sql "<query>"   or open the file in the DuckDB CLI.
-- Each query starts with a `-- name:` line; tests/test_pipeline.py runs every one of them.

-- name: library_overview
-- What is in the library: live tracks per first genre tag, with total hours.
SELECT coalesce(genres[1], '(untagged)') AS genre, count(*) AS tracks,
       round(sum(duration_s) / 3600, 2) AS hours
FROM live_tracks GROUP BY ALL ORDER BY tracks DESC;

-- name: tempo_and_key
-- Tempo, key and loudness of every analysed track, fastest first.
SELECT t.artist, t.title, round(f.tempo_bpm, 1) AS bpm, f.key || ' ' || f.mode AS key,
       round(f.integrated_lufs, 1) AS lufs
FROM features f JOIN live_tracks t USING (track_id)
ORDER BY f.tempo_bpm DESC NULLS LAST;

-- name: harmonic_mixing
-- DJ helper: pairs of tracks in the same key and mode within 4 % of each other's tempo.
SELECT ta.title AS track, tb.title AS mixes_into, a.key || ' ' || a.mode AS key,
       round(a.tempo_bpm, 1) AS bpm_a, round(b.tempo_bpm, 1) AS bpm_b
FROM features a JOIN features b ON a.key = b.key AND a.mode = b.mode AND a.track_id < b.track_id
JOIN live_tracks ta ON ta.track_id = a.track_id JOIN live_tracks tb ON tb.track_id = b.track_id
WHERE abs(a.tempo_bpm - b.tempo_bpm) <= 0.04 * a.tempo_bpm
ORDER BY key, bpm_a;

-- name: genre_tag_disagreements
-- Tracks whose predicted genre (champion model, genre_predictions view) differs from their tag.
SELECT t.artist, t.title, t.genres[1] AS tagged, p.global_prediction.top_labels[1] AS predicted,
       round(p.global_prediction.probabilities[1], 2) AS confidence
FROM genre_predictions p JOIN live_tracks t USING (track_id)
WHERE lower(t.genres[1]) <> p.global_prediction.top_labels[1]
ORDER BY confidence DESC;

-- name: top_genre_per_track
-- The champion model's top genre of every live track, with its probability and the runner-up.
SELECT t.artist, t.title, p.global_prediction.top_labels[1] AS genre,
       round(p.global_prediction.probabilities[1], 3) AS probability,
       p.global_prediction.top_labels[2] AS runner_up, p.model.version AS model_version
FROM genre_predictions p JOIN live_tracks t USING (track_id)
ORDER BY genre, probability DESC;

-- name: genre_changes_within_tracks
-- Tracks whose genre shifts within the song: segments whose top label differs from the track's.
WITH segment_top AS (
    SELECT track_id, segment_index, start_time, end_time, arg_max(label, probability) AS segment_genre
    FROM segment_predictions GROUP BY ALL
)
SELECT t.artist, t.title, s.segment_index, s.start_time, s.end_time,
       p.global_prediction.top_labels[1] AS track_genre, s.segment_genre
FROM segment_top s JOIN genre_predictions p USING (track_id) JOIN live_tracks t USING (track_id)
WHERE s.segment_genre <> p.global_prediction.top_labels[1]
ORDER BY t.artist, t.title, s.segment_index;

-- name: genre_distribution
-- The library by predicted genre: tracks, hours, and the mean confidence of the prediction.
SELECT p.global_prediction.top_labels[1] AS genre, count(*) AS tracks,
       round(sum(t.duration_s) / 3600, 2) AS hours,
       round(avg(p.global_prediction.probabilities[1]), 3) AS mean_probability
FROM genre_predictions p JOIN live_tracks t USING (track_id)
GROUP BY ALL ORDER BY tracks DESC;

-- name: similar_tracks
-- What `melodex similar` answers: the 10 live tracks nearest to one track by cosine similarity
-- of their MusiCNN (msd-musicnn) embeddings. Put your track id in place of the subquery.
WITH query AS (
    SELECT track_id, embedding FROM track_embeddings
    WHERE model = 'msd-musicnn' AND track_id = (SELECT min(track_id) FROM track_embeddings)
)
SELECT t.track_id, t.path, t.title, t.artist,
       round(array_cosine_similarity(e.embedding, q.embedding), 4) AS similarity
FROM track_embeddings e JOIN live_tracks t USING (track_id), query q
WHERE e.model = 'msd-musicnn' AND e.track_id <> q.track_id
ORDER BY similarity DESC LIMIT 10;

-- name: failures_by_stage
-- What failed, where, and why: one row per stage and error type, newest first.
SELECT stage, error_type, count(*) AS items, max(failed_at) AS last_seen, any_value(message) AS example
FROM failures GROUP BY ALL ORDER BY last_seen DESC;

-- name: scan_history
-- Every library scan with its counts.
SELECT scan_id, started_at, seen_files, new_files, changed_files, moved_files, retagged_files,
       deleted_files, failed_files, len(batch_ids) AS batches
FROM scan_history ORDER BY started_at DESC;

-- name: retired_tracks
-- Files that disappeared from the library (tombstones), most recent first.
SELECT path, title, artist, retired_at FROM tracks WHERE retired_at IS NOT NULL ORDER BY retired_at DESC;

-- name: catalog_splits
-- The unified dataset catalog: records per dataset and split.
SELECT dataset, split, count(*) AS records, round(avg(duration), 1) AS mean_duration_s
FROM dataset_catalog GROUP BY ALL ORDER BY dataset, split;
