"""The model registry: which version is the champion, and how the candidates compare.

The ``champion`` alias goes to the best version by a declared metric (test macro F1 by
default) *among versions scored on the same split*. A retrain that is not strictly better
leaves the alias where it is; when the data changed (a new split), the champion's score is no
longer comparable and the best of the new split takes over. The registry keeps every version.
Each version carries, as tags, what this choice compares (task, candidate, split, score), so it
needs no run lookups. Logging candidates and loading models is :mod:`melodex_ml.experiments`;
this module needs only the MLflow client, so checks and ``melodex models compare`` start fast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from melodex_ml import tracking
from melodex_ml.settings import MelodexSettings
from melodex_ml.training.tasks import GENRE, TEXT_PROJECTION

log = logging.getLogger(__name__)

CHAMPION = tracking.CHAMPION
SELECTION_METRIC = "test_macro_f1"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # a machine-learning experiment
NOTE = "mlflow.note.content"  # what the MLflow UI shows as a description
EXPERIMENT_NOTE = (
    "Melodex model candidates: one run per trained candidate, scored on the task's shared held-out split "
    "(tag melodex.split_hash), registered as a version; the `champion` alias of each registered model is the "
    "best by the selection metric (tag melodex.selection_metric) and is what inference uses."
)
TAG_TASK, TAG_CANDIDATE, TAG_SPLIT, TAG_SCORE, TAG_METRIC = (
    "melodex.task",
    "melodex.candidate",
    "melodex.split_hash",
    "melodex.score",
    "melodex.metric",
)


@dataclass(frozen=True)
class ChampionDecision:
    name: str
    champion: str | None  # version holding the alias afterwards
    previous: str | None
    moved: bool
    reason: str


@dataclass(frozen=True)
class CandidateRow:
    candidate: str
    version: str
    run_id: str
    accuracy: float
    macro_f1: float
    train_seconds: float
    n_test_tracks: int
    split_hash: str
    champion: bool


def registered_name(settings: MelodexSettings, task: str) -> str:
    if task == GENRE:
        return settings.genre_model_name
    return "melodex-text-projection" if task == TEXT_PROJECTION else f"melodex-{task}-classifier"


def ensure_experiment(settings: MelodexSettings) -> str:
    """The experiment id, created if needed and marked as model development (runs, not traces)."""
    experiment_id = tracking.use_store(settings)
    client = MlflowClient()
    tags = client.get_experiment(experiment_id).tags
    for key, value in (EXPERIMENT_KIND, (NOTE, EXPERIMENT_NOTE)):
        if tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
    return experiment_id


def set_projection_champion(settings: MelodexSettings, version: str | None) -> str:
    """Give the projection's alias to ``version``, or (None: it does not beat zero-shot search) take
    it away; returns what happened, in words."""
    client, name = MlflowClient(), registered_name(settings, TEXT_PROJECTION)
    if version is not None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return f"{name} v{version} answers `melodex search`: it retrieves better than the zero-shot tag search"
    if _champion(client, name) is not None:
        client.delete_registered_model_alias(name, CHAMPION)
    return "the zero-shot tag search answers `melodex search`: no projection retrieves better on held-out tracks"


def _versions(client: MlflowClient, name: str) -> list:
    try:
        return list(client.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return []


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _score(version) -> float | None:
    value = version.tags.get(TAG_SCORE)
    return float(value) if value is not None else None


def promote_champion(
    settings: MelodexSettings, task: str = GENRE, *, split_hash: str | None = None, metric: str = SELECTION_METRIC
) -> ChampionDecision:
    """Give the alias to the best version on ``split_hash`` (default: the newest version's split)."""
    ensure_experiment(settings)
    client, name = MlflowClient(), registered_name(settings, task)
    versions = [v for v in _versions(client, name) if v.tags.get(TAG_METRIC) == metric and _score(v) is not None]
    if not versions:
        return ChampionDecision(name, None, None, False, f"no version of {name} carries a {metric} score yet")
    if split_hash is None:
        split_hash = max(versions, key=lambda v: int(v.version)).tags[TAG_SPLIT]
    on_split = [v for v in versions if v.tags.get(TAG_SPLIT) == split_hash]
    if not on_split:
        raise LookupError(f"no version of {name} was scored on split {split_hash}")
    best = max(on_split, key=lambda v: (_score(v), -int(v.version)))  # ties: the earliest version
    current = _champion(client, name)
    previous = str(current.version) if current else None
    if (
        current is not None
        and current.tags.get(TAG_SPLIT) == split_hash
        and current.tags.get(TAG_METRIC) == metric
    ):
        if _score(best) <= _score(current):
            reason = (f"v{previous} stays champion: {metric} {_score(current):.4f} on split {split_hash}; "
                      f"the best other version scores {_score(best):.4f}")  # fmt: skip
            describe_champion(client, name, reason)
            return ChampionDecision(name, previous, previous, False, reason)
        reason = (f"v{best.version} beats v{previous} on split {split_hash}: "
                  f"{metric} {_score(best):.4f} > {_score(current):.4f}")  # fmt: skip
    elif current is not None:
        reason = (f"v{best.version} ({best.tags.get(TAG_CANDIDATE)}, {metric} {_score(best):.4f}) "
                  f"replaces v{previous}, "
                  f"which was scored on another split: the data changed, so the scores are not comparable")  # fmt: skip
    else:
        reason = f"v{best.version} ({best.tags.get(TAG_CANDIDATE)}) is the first champion: {metric} {_score(best):.4f}"
    tied = sum(_score(v) == _score(best) for v in on_split) - 1
    if tied:
        reason += f" (tied with {tied} other version(s) on this split: the earliest registered wins)"
    client.set_registered_model_alias(name, CHAMPION, str(best.version))
    describe_champion(client, name, reason)
    log.info("champion of %s: %s", name, reason)
    return ChampionDecision(name, str(best.version), previous, str(best.version) != previous, reason)


def describe_champion(client: MlflowClient, name: str, reason: str) -> None:
    """The registered model's description says which version holds the alias and why (the MLflow UI
    shows it on the model's page)."""
    client.update_registered_model(
        name, description=f"Candidates scored on one shared held-out split; `@{CHAMPION}` is the best. {reason}."
    )


@dataclass(frozen=True)
class ChampionInfo:
    name: str
    version: str
    candidate: str
    split_hash: str
    score: float | None  # its SELECTION_METRIC on its split

    @property
    def identity(self) -> str:
        """``<registered model>@<version>``: the data version of the genre_classifier asset."""
        return f"{self.name}@{self.version}"


def champion_score(settings: MelodexSettings, task: str = GENRE) -> ChampionInfo | None:
    """The version holding the alias and its held-out score, None when there is no champion."""
    tracking.use_store(settings)
    name = registered_name(settings, task)
    current = _champion(MlflowClient(), name)
    if current is None:
        return None
    return ChampionInfo(name, str(current.version), current.tags.get(TAG_CANDIDATE, ""),
                        current.tags.get(TAG_SPLIT, ""), _score(current))  # fmt: skip


def repair_champion(settings: MelodexSettings, task: str = GENRE) -> str | None:
    """Apply the champion rule to the newest split, as the champion stage would: a process killed
    after registering candidates and before choosing among them leaves the alias behind."""
    tracking.use_store(settings)
    if not _versions(MlflowClient(), registered_name(settings, task)):
        return None
    return promote_champion(settings, task).champion


def compare_candidates(
    settings: MelodexSettings, task: str = GENRE, *, split_hash: str | None = None
) -> list[CandidateRow]:
    """The newest version of each candidate on ``split_hash`` (default: the champion's, else the newest split)."""
    ensure_experiment(settings)
    client, name = MlflowClient(), registered_name(settings, task)
    versions = [v for v in _versions(client, name) if v.tags.get(TAG_SPLIT)]
    if not versions:
        return []
    current = _champion(client, name)
    if split_hash is None:
        newest = max(versions, key=lambda v: int(v.version))
        split_hash = (current.tags.get(TAG_SPLIT) if current else None) or newest.tags[TAG_SPLIT]
    latest: dict[str, object] = {}
    for v in sorted((v for v in versions if v.tags.get(TAG_SPLIT) == split_hash), key=lambda v: int(v.version)):
        latest[v.tags.get(TAG_CANDIDATE, "?")] = v
    rows = []
    for candidate, v in latest.items():
        data = client.get_run(v.run_id).data
        rows.append(CandidateRow(
            candidate=candidate, version=str(v.version), run_id=v.run_id,
            accuracy=data.metrics.get("test_accuracy", float("nan")),
            macro_f1=data.metrics.get("test_macro_f1", float("nan")),
            train_seconds=data.metrics.get("train_seconds", float("nan")),
            n_test_tracks=int(data.params.get("n_test_tracks", 0)), split_hash=split_hash,
            champion=current is not None and str(current.version) == str(v.version),
        ))  # fmt: skip
    return sorted(rows, key=lambda r: (-r.macro_f1, r.candidate))


def format_comparison(rows: list[CandidateRow]) -> str:
    if not rows:
        return "no candidates registered yet"
    header = f"{'candidate':<40} {'version':>7} {'accuracy':>9} {'macro F1':>9} {'train s':>8}  champion"
    lines = [f"split {rows[0].split_hash}, {rows[0].n_test_tracks} test tracks", header]
    lines += [f"{r.candidate:<40} {r.version:>7} {r.accuracy:>9.3f} {r.macro_f1:>9.3f} {r.train_seconds:>8.1f}  "
              f"{'*' if r.champion else ''}" for r in rows]  # fmt: skip
    return "\n".join(lines)
