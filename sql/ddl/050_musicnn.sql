-- MusiCNN tags and embeddings, written by the embeddings stage (melodex_ml/stages/embeddings.py).
-- Models: msd-musicnn (50 Million Song Dataset tags: genres, moods, eras, vocals) and mtt-musicnn
-- (50 MagnaTagATune tags: instruments, tempo, genre), the trained checkpoints of the musicnn package.
-- Track values are means over the track's 3-second patches; segment values over the patches whose
-- centre lies in the ~30 s segment (the same segments as segment_features). The same vectors are in
-- HDF5 under embeddings/<model>/<batch>.h5. Re-analysing a track replaces its rows.

CREATE TABLE IF NOT EXISTS track_embeddings (
    track_id           VARCHAR NOT NULL,
    model              VARCHAR NOT NULL,    -- msd-musicnn | mtt-musicnn
    embedding          FLOAT[200] NOT NULL, -- pre-activation of the 200-unit dense layer (Essentia's model/dense/BiasAdd)
    layer              VARCHAR NOT NULL,
    checkpoint_sha256  VARCHAR NOT NULL,    -- of the checkpoint's .data file
    n_patches          INTEGER NOT NULL,
    flags              VARCHAR[] NOT NULL,  -- padded (shorter than one 3 s patch), nonfinite_samples
    batch_id           VARCHAR NOT NULL,
    analyzed_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (track_id, model)
);

CREATE TABLE IF NOT EXISTS segment_embeddings (
    track_id       VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,
    segment_index  INTEGER NOT NULL,
    start_s        DOUBLE NOT NULL,
    end_s          DOUBLE NOT NULL,
    embedding      FLOAT[200] NOT NULL,
    PRIMARY KEY (track_id, model, segment_index)
);

-- Tag probabilities (sigmoid outputs, 0..1, independent per tag: they do not sum to 1).
CREATE TABLE IF NOT EXISTS track_tags (
    track_id     VARCHAR NOT NULL,
    model        VARCHAR NOT NULL,
    label        VARCHAR NOT NULL,
    probability  DOUBLE NOT NULL,
    PRIMARY KEY (track_id, model, label)
);

CREATE TABLE IF NOT EXISTS segment_tags (
    track_id       VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,
    segment_index  INTEGER NOT NULL,
    label          VARCHAR NOT NULL,
    probability    DOUBLE NOT NULL,
    PRIMARY KEY (track_id, model, segment_index, label)
);

-- The five most probable tags of every live track, per model, best first (rank 1..5).
CREATE OR REPLACE VIEW top_track_tags AS
SELECT track_id, model, label, probability, rank
FROM (
    SELECT g.*, row_number() OVER (PARTITION BY g.track_id, g.model ORDER BY g.probability DESC, g.label) AS rank
    FROM track_tags g SEMI JOIN live_tracks t USING (track_id)
)
WHERE rank <= 5;
