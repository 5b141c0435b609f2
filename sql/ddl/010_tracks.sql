-- Library catalogue, written only by melodex_ml.catalog.scan. Timestamps are naive UTC.
-- One row per track ever seen; a deleted file keeps its row as a tombstone (retired_at set).
CREATE TABLE IF NOT EXISTS tracks (
    track_id                      VARCHAR PRIMARY KEY,  -- stable: survives moves, renames and retagging
    path                          VARCHAR NOT NULL,     -- absolute; bytes that are not UTF-8 shown as U+FFFD
    path_bytes                    BLOB NOT NULL,        -- exact os.fsencode(path); open files with os.fsdecode(path_bytes)
    root                          VARCHAR NOT NULL,     -- library root the file was found under
    size_bytes                    BIGINT NOT NULL,
    mtime_ns                      BIGINT NOT NULL,
    audio_hash                    VARCHAR NOT NULL,     -- BLAKE2b-128 of the audio payload only (tags excluded)
    hash_scheme                   VARCHAR NOT NULL,     -- payload layout: flac | ogg | riff | aiff | mp4 | asf | stream
    file_format                   VARCHAR NOT NULL,     -- container: mp3 | flac | ogg | mp4 | wav | aiff | asf | ...
    codec                         VARCHAR,              -- mp3 | flac | vorbis | opus | aac | alac | pcm | ...
    duration_s                    DOUBLE,
    sample_rate                   INTEGER,
    channels                      INTEGER,
    bit_rate_kbps                 INTEGER,
    title                         VARCHAR,              -- tag values: sanitised, at most 1024 characters each
    artist                        VARCHAR,
    album                         VARCHAR,
    album_artist                  VARCHAR,
    genres                        VARCHAR[] NOT NULL,
    year                          INTEGER,
    track_number                  INTEGER,
    disc_number                   INTEGER,
    musicbrainz_recording_id      VARCHAR,              -- Picard's "MusicBrainz Track Id"
    musicbrainz_release_track_id  VARCHAR,
    musicbrainz_album_id          VARCHAR,
    musicbrainz_artist_id         VARCHAR,
    musicbrainz_album_artist_id   VARCHAR,
    replaygain_track_gain_db      DOUBLE,
    replaygain_track_peak         DOUBLE,
    replaygain_album_gain_db      DOUBLE,
    replaygain_album_peak         DOUBLE,
    first_seen_at                 TIMESTAMP NOT NULL,
    last_seen_at                  TIMESTAMP NOT NULL,   -- last scan that listed (or read) the file
    changed_at                    TIMESTAMP NOT NULL,   -- last time the audio changed (first sight included)
    retired_at                    TIMESTAMP             -- NULL while live; set when the file disappeared
);

-- What downstream stages read: results of retired tracks are no longer served.
CREATE OR REPLACE VIEW live_tracks AS
SELECT * FROM tracks WHERE retired_at IS NULL;

-- Identical audio at several paths: each path is its own track; this view groups them.
CREATE OR REPLACE VIEW duplicate_audio AS
SELECT audio_hash,
       count(*)                       AS copies,
       list(track_id ORDER BY path)   AS track_ids,
       list(path ORDER BY path)       AS paths
FROM live_tracks
GROUP BY audio_hash
HAVING count(*) > 1;

-- Scan batches: new, changed and restored tracks of one scan, at most settings.batch_size per batch.
-- Downstream assets are partitioned by batch_id (Dagster dynamic partitions).
CREATE TABLE IF NOT EXISTS track_batches (
    batch_id    VARCHAR NOT NULL,    -- sortable: <scan start, UTC>-<sequence>, e.g. 20261124T031500-0001
    track_id    VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    scan_id     VARCHAR NOT NULL,
    PRIMARY KEY (batch_id, track_id)
);

CREATE TABLE IF NOT EXISTS scan_history (
    scan_id          VARCHAR PRIMARY KEY,  -- scan-<start, UTC>-<sequence>
    roots            VARCHAR[] NOT NULL,
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP NOT NULL,
    seen_files       INTEGER NOT NULL,     -- audio files listed = new + changed + moved + retagged
    new_files        INTEGER NOT NULL,     --   + restored + unchanged + failed
    changed_files    INTEGER NOT NULL,
    moved_files      INTEGER NOT NULL,
    retagged_files   INTEGER NOT NULL,
    restored_files   INTEGER NOT NULL,
    deleted_files    INTEGER NOT NULL,     -- tracks retired by this scan
    unchanged_files  INTEGER NOT NULL,
    failed_files     INTEGER NOT NULL,     -- files only; unreadable folders and roots are in failures
    batch_ids        VARCHAR[] NOT NULL
);
