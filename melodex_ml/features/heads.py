"""Essentia TensorFlow classifier heads: found in a folder, loaded once per process, run per segment.

A head is a frozen graph ``<model>.pb`` next to Essentia's metadata ``<model>.json``. The json
says everything the code must not guess: the class order ("classes", which differs between
heads), the input and output nodes ("schema"; the output whose purpose is "predictions"), and
how to feed the graph ("inference": the Essentia algorithm and sample rate; heads on embeddings,
TensorflowPredict2D, also name their embedding model, which must sit in the same folder).
Each graph is loaded once per process through `process_cache()`; an embedding model shared by
several heads is loaded and run once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melodex_ml.models.cache import ModelCache, ModelUnavailable, process_cache

log = logging.getLogger(__name__)

_EMBEDDING_INPUT = "TensorflowPredict2D"
# Node names Essentia's own examples use when a json has no schema for them.
_DEFAULT_EMBEDDING_OUTPUT = {
    "TensorflowPredictEffnetDiscogs": "PartitionedCall:1",
    "TensorflowPredictMusiCNN": "model/dense/BiasAdd",
    "TensorflowPredictVGGish": "model/vggish/embeddings",
}
_ALGORITHM_BY_ARCHITECTURE = {
    "musicnn": "TensorflowPredictMusiCNN",
    "vggish": "TensorflowPredictVGGish",
}


@dataclass(frozen=True)
class GraphSpec:
    """One frozen graph and how Essentia runs it."""

    model: str  # file stem
    graph: Path
    algorithm: str  # essentia.standard class, e.g. TensorflowPredictMusiCNN
    input: str | None
    output: str | None
    sample_rate: int

    @property
    def cache_key(self) -> str:
        stat = self.graph.stat()  # a replaced file is a different model
        identity = f"{self.graph.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        return f"essentia-tf:{self.algorithm}:{identity}:{self.input}:{self.output}"

    def build(self):
        import essentia.standard as es

        params = {"graphFilename": str(self.graph)}
        params |= {k: v for k, v in (("input", self.input), ("output", self.output)) if v}
        return getattr(es, self.algorithm)(**params)

    def load(self, cache: ModelCache):
        return cache.get(self.cache_key, self.build)


@dataclass(frozen=True)
class HeadSpec:
    head: str  # task: mood_happy, genre_discogs400, ...
    graph: GraphSpec
    classes: tuple[str, ...]
    embedding: GraphSpec | None = None  # set for heads that classify embeddings

    @property
    def model(self) -> str:
        return self.graph.model

    @property
    def sample_rate(self) -> int:
        return (self.embedding or self.graph).sample_rate


def _schema_node(metadata: dict, kind: str, purpose: str | None = None) -> str | None:
    nodes = metadata.get("schema", {}).get(kind) or []
    if purpose is not None:
        nodes = [n for n in nodes if n.get("output_purpose") == purpose] or ([] if purpose == "embeddings" else nodes)
    return nodes[0]["name"] if nodes and "name" in nodes[0] else None


def _algorithm(metadata: dict, model: str) -> str:
    import essentia.standard as es

    algorithm = metadata.get("inference", {}).get("algorithm")
    if not algorithm:
        architecture = next((a for a in _ALGORITHM_BY_ARCHITECTURE if a in model.lower()), None)
        algorithm = _ALGORITHM_BY_ARCHITECTURE.get(architecture or "")
    if not algorithm:
        raise ModelUnavailable(f"{model}: the json names no inference algorithm")
    if not hasattr(es, algorithm):
        raise ModelUnavailable(f"{model}: this Essentia build has no {algorithm}")
    return algorithm


def read_head(metadata_path: Path) -> HeadSpec:
    """The head described by ``<model>.json``; ModelUnavailable says why it cannot run."""
    model = metadata_path.stem
    graph = metadata_path.with_suffix(".pb")
    if not graph.is_file():
        raise ModelUnavailable(f"{model}: {graph.name} is missing")
    try:
        metadata = json.loads(metadata_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{model}: unreadable metadata: {exc}") from exc
    classes = tuple(metadata.get("classes") or ())
    if not classes:
        raise ModelUnavailable(f"{model}: the json lists no classes")
    inference = metadata.get("inference", {})
    algorithm = _algorithm(metadata, model)
    spec = GraphSpec(
        model=model,
        graph=graph,
        algorithm=algorithm,
        input=_schema_node(metadata, "inputs"),
        output=_schema_node(metadata, "outputs", "predictions"),
        sample_rate=int(inference.get("sample_rate", 16000)),
    )
    embedding = None
    if algorithm == _EMBEDDING_INPUT:
        reference = inference.get("embedding_model") or {}
        embedding = _embedding_spec(metadata_path.parent, reference, model, spec.sample_rate)
    return HeadSpec(head=model.split("-")[0], graph=spec, classes=classes, embedding=embedding)


def _embedding_spec(folder: Path, reference: dict, head_model: str, sample_rate: int) -> GraphSpec:
    name = reference.get("model_name")
    if not name:
        raise ModelUnavailable(f"{head_model}: classifies embeddings but names no embedding model")
    graph = folder / f"{name}.pb"
    if not graph.is_file():
        raise ModelUnavailable(f"{head_model}: needs embedding model {name}.pb, which is missing")
    metadata_path = graph.with_suffix(".json")
    metadata = json.loads(metadata_path.read_text()) if metadata_path.is_file() else {}
    algorithm = reference.get("algorithm") or _algorithm(metadata, name)
    output = _schema_node(metadata, "outputs", "embeddings") or _DEFAULT_EMBEDDING_OUTPUT.get(algorithm)
    if output is None:
        raise ModelUnavailable(f"{head_model}: cannot tell which node of {name} gives embeddings")
    return GraphSpec(name, graph, algorithm, _schema_node(metadata, "inputs"), output, sample_rate)


def discover_heads(models_dir: Path | None) -> tuple[list[HeadSpec], list[str]]:
    """Every runnable head in ``models_dir`` and a reason for each model file that cannot run."""
    if models_dir is None:
        return [], []
    if not Path(models_dir).is_dir():
        return [], [f"models folder {models_dir} does not exist"]
    heads, problems = [], []
    for metadata_path in sorted(Path(models_dir).glob("*.json")):
        try:
            heads.append(read_head(metadata_path))
        except ModelUnavailable as exc:
            problems.append(str(exc))
    return heads, problems


def _matches(head: str, expected: str) -> bool:
    return head == expected or head.startswith(expected + "_")


@dataclass(frozen=True)
class SpanPrediction:
    """Mean activations of one head over a span, and the number of patches they average."""

    spec: HeadSpec
    mean: np.ndarray
    patches: int


class HeadRunner:
    """The heads of a models folder, loaded (once per process) and ready to run on audio."""

    def __init__(self, heads: Sequence[HeadSpec], unavailable: Sequence[str], cache: ModelCache | None = None):
        cache = cache or process_cache()
        self.heads: list[HeadSpec] = []
        self._graphs: dict[str, object] = {}
        self._embedders: dict[str, object] = {}
        missing = list(unavailable)
        for spec in heads:
            try:  # a corrupt graph makes its head unavailable, not the extractor unusable
                self._graphs[spec.model] = spec.graph.load(cache)
                if spec.embedding is not None:
                    self._embedders[spec.embedding.model] = spec.embedding.load(cache)
            except Exception as exc:
                log.warning("Essentia head %s could not be loaded: %s", spec.model, exc)
                missing.append(spec.model)
                continue
            self.heads.append(spec)
        self.unavailable = tuple(missing)

    @classmethod
    def from_folder(
        cls, models_dir: Path | None, expected: Iterable[str], cache: ModelCache | None = None
    ) -> HeadRunner:
        heads, problems = discover_heads(models_dir)
        for problem in problems:
            log.warning("Essentia head unavailable: %s", problem)
        missing = [name for name in expected if not any(_matches(h.head, name) for h in heads)]
        return cls(heads, missing, cache)

    @property
    def sample_rates(self) -> set[int]:
        return {h.sample_rate for h in self.heads}

    def predict(self, audio: dict[int, np.ndarray]) -> tuple[list[SpanPrediction], list[str]]:
        """Run every head on a span given at each rate in `sample_rates`; errors are per head."""
        predictions, errors = [], []
        embeddings: dict[str, np.ndarray] = {}
        for spec in self.heads:
            signal = np.ascontiguousarray(audio[spec.sample_rate], np.float32)
            try:
                if spec.embedding is None:
                    activations = self._graphs[spec.model](signal)
                else:
                    if spec.embedding.model not in embeddings:
                        embeddings[spec.embedding.model] = np.asarray(self._embedders[spec.embedding.model](signal))
                    features = embeddings[spec.embedding.model]
                    activations = self._graphs[spec.model](features) if len(features) else []
            except Exception as exc:  # one broken head must not cost the track its other descriptors
                errors.append(f"{spec.model}: {exc}")
                continue
            activations = np.asarray(activations, np.float64)
            if activations.size == 0:  # shorter than one input patch
                continue
            activations = activations.reshape(-1, activations.shape[-1])
            if activations.shape[1] != len(spec.classes):
                errors.append(f"{spec.model}: {activations.shape[1]} outputs for {len(spec.classes)} classes")
                continue
            predictions.append(SpanPrediction(spec, activations.mean(axis=0), activations.shape[0]))
        return predictions, errors
