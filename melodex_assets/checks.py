"""Asset checks shared by the per-batch stages: a yellow light for a batch with many failed tracks,
a red one for a table that holds a track twice."""


import dagster as dg

from melodex_assets.partitions import scan_batches
from melodex_ml.settings import MelodexSettings


def failure_share_check(asset: dg.AssetsDefinition, stage: str) -> dg.AssetChecksDefinition:
    """WARN when more than MELODEX_FAILURE_WARN_SHARE of a batch's tracks failed the stage."""

    @dg.asset_check(
        asset=asset, name="failure_share", partitions_def=scan_batches,
        description=f"Warns when more than MELODEX_FAILURE_WARN_SHARE of the batch's tracks failed the {stage} "
        "stage (the failures table says which and why); no result while the stage is skipped.",
    )
    def failure_share(context: dg.AssetCheckExecutionContext, settings: dg.ResourceParam[MelodexSettings]):
        from melodex_ml.stages.common import stage_counts

        counts = stage_counts(settings, stage, context.partition_key)
        n_ok, n_failed = counts or (0, 0)
        share = n_failed / (n_ok + n_failed) if n_ok + n_failed else 0.0
        return dg.AssetCheckResult(
            passed=share <= settings.failure_warn_share,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{n_failed} of {n_ok + n_failed} tracks failed; see table failures, stage '{stage}'",
            metadata={"failed_share": round(share, 4), "threshold": settings.failure_warn_share,
                      "failed": n_failed, "ok": n_ok},
        )

    return failure_share


def one_row_per_track_check(asset: dg.AssetsDefinition, keys: dict[str, str]) -> dg.AssetChecksDefinition:
    """ERROR when a result is stored or served twice: ``keys`` maps a name to a query of the key that
    must be unique (re-running a batch must replace its rows, a view must serve a track once)."""

    @dg.asset_check(
        asset=asset, name="one_row_per_track",
        description=f"Fails when a track is stored or served twice in {', '.join(keys)}: re-running a batch must "
        "replace its rows, and a changed track is served from its newest batch only.",
    )
    def one_row_per_track(settings: dg.ResourceParam[MelodexSettings]):
        from melodex_ml.stages.common import duplicated_keys

        duplicates = {name: duplicated_keys(settings, query) for name, query in keys.items()}
        return dg.AssetCheckResult(
            passed=not any(duplicates.values()),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                **{f"duplicated in {name}": len(found) for name, found in duplicates.items()},
                "examples": ", ".join(k for found in duplicates.values() for k in found[:5]) or "none",
            },
        )

    return one_row_per_track
