"""The genre timeline of one track: its segments along time, each label's probability stacked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melodex_ml.inference.genre import TrackPrediction


def timeline_figure(prediction: TrackPrediction):
    """A matplotlib Figure: stacked areas, constant over each segment, labels ordered by their mean."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, safe in any thread

    labels = list(prediction.global_prediction.all_probabilities)
    labels.sort(key=lambda label: -prediction.global_prediction.all_probabilities[label])
    # Each segment is drawn as a flat step from its start to its end.
    times = np.array([t for s in prediction.segments for t in (s.start_time, s.end_time)])
    values = np.array([[s.predictions[label] for s in prediction.segments for _ in (0, 1)] for label in labels])
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.stackplot(times, values, labels=labels, alpha=0.9)
    for segment in prediction.segments[1:]:
        axes.axvline(segment.start_time, color="white", linewidth=0.8)
    top = prediction.global_prediction
    axes.set_title(f"{Path(prediction.audio_file).name}: {top.top_labels[0]} ({top.probabilities[0]:.0%} over the track)")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("probability")
    axes.set_xlim(times[0], times[-1])
    axes.set_ylim(0, 1)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return figure


def save_timeline(prediction: TrackPrediction, path: Path | str) -> Path:
    """Write the timeline as an image; the format follows the suffix (png, svg, pdf)."""
    from melodex_ml.store.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        timeline_figure(prediction).savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    return path
