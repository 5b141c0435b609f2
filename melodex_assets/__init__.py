"""Thin asset definitions, one module per stage; the work lives in melodex_ml.stages.

Stage modules are imported inside asset bodies: the code location then loads in about a second,
and torch, MLflow and TensorFlow are imported only by the runs that use them.

What depends on settings (automation crons, the code versions that name model weights) is applied
by :func:`build_assets`, from the one settings object the caller read.
"""

from __future__ import annotations

import dagster as dg

from melodex_assets import catalog, embeddings, features, inference, models, stems
from melodex_assets.automation import automation_conditions
from melodex_ml.settings import MelodexSettings

STAGE_MODULES = [catalog, stems, features, embeddings, models, inference]
STAGE_GROUPS = ["catalog", "stems", "features", "embeddings", "models", "inference"]


def build_assets(settings: MelodexSettings) -> list[dg.AssetsDefinition | dg.SourceAsset]:
    """Every asset of the graph with its automation condition and settings-dependent code version."""
    from melodex_ml.stages.versions import stage_code_versions

    conditions = automation_conditions(settings)
    versions = stage_code_versions(settings)

    def configure(spec: dg.AssetSpec) -> dg.AssetSpec:
        name = spec.key.to_user_string()
        return spec.replace_attributes(
            automation_condition=conditions[name], code_version=versions.get(name, spec.code_version)
        )

    loaded = dg.load_assets_from_modules(STAGE_MODULES)
    materializable = [a for a in loaded if isinstance(a, dg.AssetsDefinition) and a.is_materializable]
    sources = [a for a in loaded if a not in materializable]
    return [*sources, *dg.map_asset_specs(configure, materializable)]


def build_asset_checks() -> list[dg.AssetChecksDefinition]:
    return list(dg.load_asset_checks_from_modules(STAGE_MODULES))
