"""Scan-batch partitions: each library scan hands its new or changed tracks downstream in
batches of at most ``MELODEX_BATCH_SIZE`` tracks, one dynamic partition per batch.

Batch ids look like ``20261124T031500-0001``: sortable, and free of commas (a comma in a
dynamic partition key breaks backfills from the UI, dagster-io/dagster#15105).
"""

import dagster as dg

scan_batches = dg.DynamicPartitionsDefinition(name="scan_batches")
