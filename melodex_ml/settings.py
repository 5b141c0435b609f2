"""One typed settings object for the whole project.

Every knob is read from a ``MELODEX_*`` environment variable (or passed explicitly in
tests); nothing else in the code base reads the environment for configuration.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError


class ConfigurationError(ValueError):
    """A ``MELODEX_*`` value that cannot be used. ``str(exc)`` names the variable, the bad value and
    what is allowed, one line per variable, so the command line can print it as it is."""


class MelodexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MELODEX_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".melodex"), description="State folder for every embedded default.")
    library_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Music folders to scan; os.pathsep- or comma-separated in the environment. "
        "Empty means the demo library under home.",
    )
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N | mps")
    batch_size: int = Field(default=500, ge=1, description="Tracks per scan-batch partition.")
    segment_seconds: float = Field(default=30.0, gt=0, description="Segment length for per-segment results.")
    workers: int = Field(default=1, ge=1, description="Worker processes for feature extraction.")
    scan_cron: str | None = Field(
        default=None,
        description="Optional cron of full rescans. Without it a scan runs whenever the library's stat "
        "fingerprint changes (checked every sensor_interval_seconds), which catches every change a scan would.",
    )
    train_cron: str = Field(default="0 4 * * *", description="Cron schedule of genre-classifier retraining.")
    sensor_interval_seconds: int = Field(
        default=60, ge=30, description="How often the daemon takes the library's stat fingerprint."
    )
    failure_warn_share: float = Field(
        default=0.2, ge=0, le=1, description="Share of failed tracks in a batch above which its check warns."
    )
    model_metric_floor: float = Field(
        default=0.5, ge=0, le=1,
        description="Held-out macro F1 the champion model must reach before inference uses it.",
    )
    mlflow_ui_url: str = Field(
        default="http://127.0.0.1:5000", description="Where `mlflow ui` serves, for links in Dagster metadata."
    )
    dataset_roots: Annotated[dict[str, Path], NoDecode] = Field(
        default_factory=dict,
        description='Research dataset folders by name, JSON in the environment: {"fma": "/data/fma", ...}.',
    )
    essentia_models_dir: Path | None = Field(
        default=None, description="Folder of Essentia TensorFlow heads (.pb + .json)."
    )
    allow_downloads: bool = Field(
        default=False,
        description="Let model loaders download missing weights from the hub. Off by default: weights "
        "come from local folders and caches, and a missing one is reported at once instead of retried.",
    )
    demucs_model: str = Field(default="htdemucs", description="Demucs model name.")
    demucs_repo: Path | None = Field(
        default=None, description="Local folder of Demucs weights (offline). None uses the torch hub cache."
    )
    audio_encoder: str | None = Field(
        default=None, description="Hugging Face id or local path of an audio encoder (e.g. m-a-p/MERT-v1-95M)."
    )
    audio_encoder_pooling: Literal["last", "layers"] = Field(
        default="last",
        description="last: time-mean of the last hidden state (dim,); layers: time-mean of every hidden state "
        "(layers, dim), the layer-wise features MERT users probe.",
    )
    audio_encoder_trust_remote_code: bool = Field(
        default=False, description="Run model code shipped with the encoder's repo (MERT needs it)."
    )
    embedding_batch_size: int = Field(default=4, ge=1, description="Audio segments per encoder forward pass.")
    musicnn_batch_size: int = Field(default=32, ge=1, description="3-second patches per MusiCNN forward pass.")
    musicnn_workers: int = Field(
        default=0, ge=0, description="DataLoader worker processes decoding audio for MusiCNN (0: in the main process)."
    )
    inference_batch_size: int = Field(default=16, ge=1, description="Segments per forward pass of the genre model.")
    inference_workers: int = Field(
        default=0, ge=0,
        description="DataLoader worker processes decoding audio for genre inference (0: in the main process).",
    )
    text_encoder: str | None = Field(
        default=None, description="Sentence encoder id or path; None uses the bundled all-MiniLM-L6-v2."
    )
    label_field: str = Field(
        default="genres",
        description="Tag field whose values the classifiers learn (a text or list column of `tracks`, e.g. "
        "genres); a multi-valued tag trains on its first value.",
    )
    classifier_encoder: str | None = Field(
        default=None,
        description="wav2vec2-family encoder (Hugging Face id or local folder) to fine-tune as a genre "
        "classifier; none: that candidate is skipped.",
    )
    genre_model_name: str = Field(default="melodex-genre-classifier", description="MLflow registered model name.")
    mlflow_experiment: str = Field(default="melodex")
    seed: int = 42

    @field_validator("library_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for chunk in value.split(os.pathsep) for p in chunk.split(",")]
            return [p.strip() for p in parts if p.strip()]
        return value

    @field_validator("dataset_roots", mode="before")
    @classmethod
    def _parse_dataset_roots(cls, value: object) -> object:
        # Parsed here rather than by the environment source, so bad JSON is a validation error of
        # this field (named after its variable) like any other bad value.
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc}); {_DATASET_ROOTS_FORMAT}") from None
        return value

    @field_validator("scan_cron", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("scan_cron", "train_cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_cron(value):
            raise ValueError(
                "not a cron schedule: 5 fields (minute hour day-of-month month day-of-week, e.g. '0 4 * * *') "
                "or @hourly, @daily, @weekly, @monthly, @yearly"
            )
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        base, _, index = value.partition(":")
        if base not in {"auto", "cpu", "cuda", "mps"} or (index and not index.isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, not {value!r}")
        return value

    @cached_property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def duckdb_path(self) -> Path:
        return self.home_dir / "melodex.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home_dir / "dagster"

    @property
    def demo_library(self) -> Path:
        return self.home_dir / "demo-library"

    @property
    def stems_dir(self) -> Path:
        return self.home_dir / "stems"

    @property
    def embeddings_dir(self) -> Path:
        return self.home_dir / "embeddings"

    @property
    def predictions_dir(self) -> Path:
        return self.home_dir / "predictions"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.home_dir / "mlartifacts"

    @property
    def mlflow_tracking_uri(self) -> str:
        # MLflow's own variable wins so users can point at a shared tracking server.
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def mlflow_store_exists(self) -> bool:
        """Whether a tracking store may hold runs already (checked without importing MLflow)."""
        return bool(os.environ.get("MLFLOW_TRACKING_URI")) or (self.home_dir / "mlflow.db").exists()

    @property
    def roots(self) -> list[Path]:
        """Library roots to scan: the configured ones, or the demo library."""
        return [Path(p).expanduser() for p in self.library_roots] or [self.demo_library]

    def with_overrides(self, **changes: object) -> MelodexSettings:
        return type(self).model_validate({**self.model_dump(), **changes})


_DATASET_ROOTS_FORMAT = 'a JSON object of dataset name to folder, e.g. {"fma": "/data/fma"}'


def is_valid_cron(expression: str) -> bool:
    """Whether Dagster accepts ``expression`` as a schedule (the rules of its ``is_valid_cron_string``:
    croniter syntax, exactly five fields, no February 30 or 31), checked without importing Dagster."""
    from croniter import croniter

    if not croniter.is_valid(expression):
        return False
    fields, *_ = croniter.expand(expression)
    return len(fields) == 5 and not (fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in {30, 31})


def get_settings() -> MelodexSettings:
    """The settings of this process's ``MELODEX_*`` environment; ConfigurationError for a bad value."""
    try:
        return MelodexSettings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from exc
    except _SourceError as exc:  # a value the environment source itself could not decode
        match = re.search(r'field "(\w+)"', str(exc))
        if match is None:
            raise
        cause = exc.__cause__
        raise ConfigurationError(_line(match[1], None, f"cannot be decoded ({cause or exc})")) from exc


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad setting: ``MELODEX_X='value': what is wrong; allowed: what would do``."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        info = MelodexSettings.model_fields.get(field)
        if error["type"] == "value_error":  # our own validators say what is allowed themselves
            reason = str(error["msg"]).removeprefix("Value error, ")
        else:
            reason = _lower_first(str(error["msg"]))
            if info is not None:
                reason += f"; allowed: {allowed_values(info)}"
        lines.append(_line(field, error.get("input"), reason))
    return "\n".join(dict.fromkeys(lines))


def env_name(field: str) -> str:
    return f"{MelodexSettings.model_config['env_prefix']}{field}".upper()


def _line(field: str, value: object, reason: str) -> str:
    name = env_name(field)
    raw = next((v for k, v in os.environ.items() if k.upper() == name), None)
    shown = raw if raw is not None else value
    return f"{name}={shown!r}: {reason}" if shown is not None else f"{name}: {reason}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def allowed_values(info) -> str:
    """What a field accepts, from its type and constraints (e.g. "a whole number >= 1")."""
    kind = _describe_type(info.annotation)
    bounds = []
    for constraint in info.metadata:
        for attribute, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(constraint, attribute, None)  # annotated_types.Ge(ge=1) and friends
            if isinstance(bound, int | float):
                bounds.append(f"{symbol} {bound:g}")
    return " ".join([kind, " and ".join(bounds)]).strip()


def _describe_type(annotation: object) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _describe_type(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [_describe_type(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" (or unset)" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is dict:
        return _DATASET_ROOTS_FORMAT if args == (str, Path) else "a JSON object"
    if origin is list:
        return f"{_describe_type(args[0])}s separated by {os.pathsep!r} or ','"
    return {int: "a whole number", float: "a number", bool: "true or false", Path: "a path", str: "text"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )
