"""What a candidate's MLflow run shows besides numbers: figures, flat params, the code version."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from melodex_ml.training.candidate import CandidateResult
from melodex_ml.training.evaluation import EpochRecord, EvaluationResult

_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value


def code_version() -> dict[str, str]:
    """Package version and, when running from a git checkout, its commit (and whether it was dirty)."""
    try:
        version = metadata.version("melodex")
    except metadata.PackageNotFoundError:
        version = "unknown"
    tags = {"melodex.version": version}
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return tags
    tags["mlflow.source.git.commit"] = sha
    tags["melodex.git_dirty"] = str(bool(dirty)).lower()
    return tags


def run_params(result: CandidateResult) -> dict[str, str]:
    """Flat string params: the candidate's settings, every size, the split and the labels."""
    params: dict[str, object] = {
        **result.params,
        **result.counts,
        "task": result.task,
        "candidate": result.candidate,
        "split_hash": result.split.split_hash,
        "split_seed": result.split.seed,
        "label_field": result.taxonomy.report.field,
        "labels": ", ".join(result.taxonomy.labels),
        "input_kind": result.model.input_kind,
        "embedding_source": result.model.embedding_source,
        "device": result.device,
    }
    if result.best_epoch is not None:
        params["best_epoch"] = result.best_epoch
        params["epochs_run"] = len(result.history)
    return {k: str(v)[:_MAX_PARAM_CHARS] for k, v in params.items()}


def confusion_figure(evaluation: EvaluationResult) -> Figure:
    """Track-level confusion matrix, counts in the cells, rows = truth."""
    matrix = np.asarray(evaluation.confusion)
    labels = evaluation.labels
    size = max(4.0, 0.6 * len(labels) + 2.0)
    figure = Figure(figsize=(size, size), layout="constrained")
    FigureCanvasAgg(figure)  # Agg canvas: no display and no global pyplot state needed
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"accuracy {evaluation.accuracy:.3f}, macro F1 {evaluation.macro_f1:.3f}")
    peak = matrix.max() if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    return figure


def curves_figure(history: tuple[EpochRecord, ...], best_epoch: int | None) -> Figure:
    """Loss and accuracy per epoch, train and validation, with the kept epoch marked."""
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    epochs = [h.epoch for h in history]
    for axes, what in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for side in ("train", "val"):
            values = [getattr(h, f"{side}_{what}") for h in history]
            if any(v is not None for v in values):
                axes.plot(epochs, [np.nan if v is None else v for v in values], label=side, marker=".")
        if best_epoch is not None:
            axes.axvline(best_epoch, color="grey", linestyle=":", label="kept")
        axes.set_xlabel("epoch")
        axes.set_title(what)
        axes.legend()
    return figure
