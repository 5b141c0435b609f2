-- MusiCNN track embeddings and tags of research-dataset clips (dataset_catalog rows that are not in
-- the library), computed by the text-to-music projection stage from each record's audio_path; the
-- library's own tracks are in track_embeddings / track_tags. Keyed by dataset_catalog.id.
CREATE TABLE IF NOT EXISTS catalog_embeddings (
    record_id   VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    embedding   FLOAT[200] NOT NULL,
    audio_path  VARCHAR NOT NULL,           -- the file analysed: a changed path is analysed again
    PRIMARY KEY (record_id, model)
);

CREATE TABLE IF NOT EXISTS catalog_tags (
    record_id    VARCHAR NOT NULL,
    model        VARCHAR NOT NULL,
    label        VARCHAR NOT NULL,
    probability  DOUBLE NOT NULL,
    PRIMARY KEY (record_id, model, label)
);
