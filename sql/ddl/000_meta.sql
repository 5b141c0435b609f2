-- Bookkeeping shared by every stage.
-- Failures of any stage, one row per (stage, track or item): users query this to see what went wrong.
CREATE TABLE IF NOT EXISTS failures (
    stage        VARCHAR NOT NULL,      -- scan | catalog | stems | features | embeddings | inference | ...
    item         VARCHAR NOT NULL,      -- track_id, file path or dataset record id
    path         VARCHAR,               -- file involved, when there is one
    error_type   VARCHAR NOT NULL,      -- exception class or validation reason code
    message      VARCHAR NOT NULL,
    batch_id     VARCHAR,               -- scan-batch partition, when the failure happened in one
    run_id       VARCHAR,               -- Dagster run id, when run under Dagster
    failed_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One row per (stage, partition): the latest outcome of a stage on a scan batch, including
-- stages that were skipped because their model is not available offline.
CREATE TABLE IF NOT EXISTS stage_runs (
    stage        VARCHAR NOT NULL,      -- stems | features | embeddings | models | inference | ...
    batch_id     VARCHAR NOT NULL,      -- scan-batch partition ('' for unpartitioned stages)
    status       VARCHAR NOT NULL,      -- ok | partial | skipped | failed
    detail       VARCHAR,               -- reason for skipped, model version, output path ...
    n_ok         INTEGER NOT NULL DEFAULT 0,
    n_failed     INTEGER NOT NULL DEFAULT 0,
    run_id       VARCHAR,
    finished_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
