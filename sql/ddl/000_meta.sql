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
