-- Who wrote a stage_runs row, so that a `running` row left by a killed process can be told from
-- one whose process still works (melodex_ml.store.recovery marks the former failed, "interrupted").
ALTER TABLE stage_runs ADD COLUMN IF NOT EXISTS started_at TIMESTAMP;  -- naive UTC; when the stage began
ALTER TABLE stage_runs ADD COLUMN IF NOT EXISTS pid INTEGER;           -- process that wrote the row
ALTER TABLE stage_runs ADD COLUMN IF NOT EXISTS host VARCHAR;          -- its host (melodex_ml.store.owners.host_name)
