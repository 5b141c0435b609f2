"""Every candidate as an MLflow pyfunc around its saved folder, loading back into a GenreModel.

``mlflow.pyfunc.load_model(uri).predict(x)`` returns a DataFrame of segment probabilities, one
column per label, for ``x`` in the model's input kind: (n, dim) vectors, (n_segments, n_windows,
1, frames, n_mfcc) MFCC windows, or (n_segments, n_samples) audio. Inference takes the richer
path, :func:`unwrap_genre_model`, to get the :class:`GenreModel` itself (embeddings, prepare).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from melodex_ml.models.genre_model import AUDIO, MFCC, GenreModel, load_model_folder

ARTIFACT_KEY = "genre_model"
PROJECTION_KEY = "projection"


class GenreModelPyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self) -> None:
        self.model: GenreModel | None = None

    def load_context(self, context: Any) -> None:
        self.model = load_model_folder(context.artifacts[ARTIFACT_KEY])

    # model_input is hinted with a type MLflow derives no schema from (it warns, in colour, when
    # there is no hint at all): the signature comes from the real input example.
    def predict(self, context: Any, model_input: np.ndarray, params: dict | None = None) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("the genre model was not loaded (load_context was not called)")
        values = model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else np.asarray(model_input)
        if self.model.input_kind == AUDIO:
            values = [np.asarray(row, dtype=np.float32) for row in values]
        elif self.model.input_kind == MFCC:
            values = np.asarray(values, dtype=np.float32)
        return pd.DataFrame(self.model.predict_segments(values), columns=list(self.model.labels))


class ProjectionPyfunc(mlflow.pyfunc.PythonModel):
    """predict(text-encoder vectors (n, text_dim)) -> joint-space vectors; unwrap for audio too."""

    def __init__(self) -> None:
        self.model = None

    def load_context(self, context: Any) -> None:
        from melodex_ml.models.projection import ProjectionModel

        self.model = ProjectionModel.load(context.artifacts[PROJECTION_KEY])

    def predict(self, context: Any, model_input: np.ndarray, params: dict | None = None) -> np.ndarray:
        values = model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else np.asarray(model_input)
        return self.model.project_text(values)


def unwrap_genre_model(loaded: mlflow.pyfunc.PyFuncModel) -> GenreModel:
    python_model = loaded.unwrap_python_model()
    if not isinstance(python_model, GenreModelPyfunc) or python_model.model is None:
        raise TypeError(f"{type(python_model).__name__} is not a Melodex genre model")
    return python_model.model


def pip_requirements(model: GenreModel) -> list[str]:
    """What the pyfunc needs installed besides Melodex itself (which is no PyPI package)."""
    packages = ["numpy", "pandas", "scikit-learn", "joblib"]
    if model.card.kind not in ("sklearn", "zero-shot"):  # the zero-shot mapping is a numpy matrix product
        packages += ["torch"]
    if model.input_kind == MFCC:
        packages += ["librosa"]
    if model.card.kind == "wav2vec2":
        packages += ["transformers"]
    return pip_requirements_for(packages)


def pip_requirements_for(packages: list[str]) -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in packages]
