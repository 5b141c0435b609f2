-- Research-dataset catalog built by `melodex catalog unify` (melodex_ml.catalog.unify).
-- One row per audio clip with its text, whatever dataset it came from. A rebuild replaces the rows
-- of the datasets it built, so a dataset whose root was missing keeps its previous rows.
CREATE TABLE IF NOT EXISTS dataset_catalog (
    id              VARCHAR PRIMARY KEY,    -- dataset-prefixed: song_describer_1051748, fma_2, musiccaps_<ytid>
    dataset         VARCHAR NOT NULL,       -- song_describer | fma | mtg_jamendo | jamendo_max_caps | musiccaps | gtzan | library
    source_id       VARCHAR NOT NULL,       -- the dataset's own id
    audio_path      VARCHAR NOT NULL,       -- absolute
    caption         VARCHAR NOT NULL,
    duration        DOUBLE NOT NULL,        -- seconds of the described clip
    caption_source  VARCHAR NOT NULL,       -- human | model | tags (synthesised from tags)
    alt_captions    VARCHAR[] NOT NULL,
    artist          VARCHAR,
    title           VARCHAR,
    tags            VARCHAR[] NOT NULL,
    genres          VARCHAR[] NOT NULL,     -- genre labels; the first one stratifies the split
    license         VARCHAR,
    clip_start      DOUBLE NOT NULL,        -- where the clip starts inside audio_path (MusicCaps full videos)
    track_key       VARCHAR NOT NULL,       -- recording identity across datasets (jamendo:214)
    artist_key      VARCHAR,                -- artist identity across datasets; NULL when unknown
    official_split  VARCHAR,                -- the dataset's own split (FMA set.split), train | val | test
    split           VARCHAR NOT NULL CHECK (split IN ('train', 'val', 'test')),
    built_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Rows, records and datasets that did not make it into dataset_catalog, and why.
CREATE TABLE IF NOT EXISTS catalog_errors (
    dataset      VARCHAR NOT NULL,
    item         VARCHAR NOT NULL,          -- record id, <file>:<line>, or the dataset name for dataset-level errors
    reason       VARCHAR NOT NULL,          -- missing_root | missing_metadata | unreadable_metadata | malformed_row |
                                            -- missing_field | missing_audio | unreadable_duration | duplicate_id |
                                            -- invalid_encoding
    message      VARCHAR NOT NULL,
    path         VARCHAR,                   -- metadata or audio file involved (undecodable bytes as \xNN)
    line         INTEGER,                   -- 1-based line in the metadata file, when known
    raw          VARCHAR,                   -- the offending row's text, clipped
    recorded_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
