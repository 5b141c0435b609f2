"""Resources the assets use: cached model loading on the right device, and MLflow.

The settings object itself is a plain resource (``settings: dg.ResourceParam[MelodexSettings]``):
it is read once per process by whoever builds the Definitions and passed down from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from melodex_ml.models.cache import DeviceUnavailable, ModelCache, process_cache, resolve_device
from melodex_ml.settings import MelodexSettings


class ModelLoaderResource(dg.ConfigurableResource):
    """Loads each model once per process and frees it at teardown; ``device`` is the MELODEX_DEVICE spec.

    Assets that use it also share the ``gpu`` concurrency pool, so two never fill one card. The
    spec is resolved by the model stages themselves: a device that cannot be used here (``cuda``
    on a machine without CUDA) skips those stages with that reason while the CPU-only ones go on.
    """

    device: str = "auto"
    _cache: ModelCache = PrivateAttr(default_factory=process_cache)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._cache = process_cache()
        if context.log:
            try:
                context.log.info(f"models will run on {resolve_device(self.device)}")
            except DeviceUnavailable as exc:
                context.log.warning(f"{exc}; model stages will be skipped")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if context.log and self._cache.load_seconds:
            loads = ", ".join(f"{k}: {v:.2f}s" for k, v in self._cache.load_seconds.items())
            context.log.info(f"model load times: {loads}")
        self._cache.clear()

    @property
    def cache(self) -> ModelCache:
        return self._cache

    def load_report(self) -> dict[str, float]:
        """Seconds each model took to load in this process, for asset metadata."""
        return {f"load_s {key}": round(seconds, 3) for key, seconds in self._cache.load_seconds.items()}


class MlflowResource(dg.ConfigurableResource):
    """MLflow called directly (dagster-mlflow is unmaintained); runs carry their Dagster origin."""

    experiment: str | None = None

    @contextmanager
    def start_run(self, context: dg.AssetExecutionContext, settings: MelodexSettings, run_name: str) -> Iterator[Any]:
        from melodex_ml import tracking

        if self.experiment:
            settings = settings.with_overrides(mlflow_experiment=self.experiment)
        with tracking.start_run(settings, run_name, tags=run_tags(context)) as run:
            yield run


def run_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    tags = {
        "dagster.run_id": context.run.run_id,
        "dagster.job": context.run.job_name,
        "dagster.asset": context.asset_key.to_user_string(),
    }
    if context.has_partition_key:
        tags["dagster.partition"] = context.partition_key
    return tags
