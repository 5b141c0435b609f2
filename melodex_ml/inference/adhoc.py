"""`melodex predict PATH...`: the champion's per-segment genre predictions for any audio files.

Files and folders outside the library are analysed on the fly: the champion model registered in
MLflow under MELODEX_HOME is loaded, its inputs are computed from each file (audio front end,
segment descriptors, or MusiCNN embeddings, see :func:`melodex_ml.inference.stream.feeder_for`)
and streamed through a DataLoader; each line also carries the file's top MusiCNN tags. Nothing
is written to the store. Lines come in the format of the inference asset (JSONL), as a JSON list,
or as CSV with one row per segment (the data behind ``--plot``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, TextIO

from melodex_ml.audio.files import audio_files
from melodex_ml.inference.genre import TrackPrediction
from melodex_ml.inference.stream import PredictionFailure
from melodex_ml.settings import MelodexSettings

Format = Literal["jsonl", "json", "csv"]


class NoChampion(LookupError):
    """No trained genre model in this MELODEX_HOME: one line telling what to run."""


class NoAudio(LookupError):
    """The paths hold no audio file."""


@dataclass(frozen=True)
class AdhocRun:
    files: list[Path]
    champion: object  # experiments.LoadedChampion
    device: str
    lines: Iterator[TrackPrediction | PredictionFailure]  # in the order files finish


def predict_paths(
    settings: MelodexSettings, paths: Iterable[Path | str], *, batch_size: int | None = None,
    num_workers: int | None = None, with_tags: bool = True,
) -> AdhocRun:  # fmt: skip
    """Start predicting every audio file under ``paths``; NoAudio when there is none, NoChampion when
    nothing is trained yet (both said before MLflow and the model are loaded)."""
    paths = list(paths)
    files = audio_files(paths)
    if not files:
        raise NoAudio(f"no audio files in {', '.join(map(str, paths))}")
    if not settings.mlflow_store_exists:
        raise NoChampion(f"no trained genre model in {settings.home_dir}: run `melodex run` (or `melodex demo`) first")
    from melodex_ml import experiments, tracking
    from melodex_ml.inference.stream import FileToPredict, LoaderOptions, feeder_for, inference_device, predict_files

    try:
        champion = experiments.load_champion(settings)
    except tracking.NoRegisteredModel as exc:
        raise NoChampion(f"{exc} (`melodex run` trains them)") from exc
    device = inference_device(settings.device)
    options = LoaderOptions.from_settings(settings, device, batch_size=batch_size, num_workers=num_workers)
    feeder = feeder_for(champion.model, settings, device=device, with_tags=with_tags)
    work = [FileToPredict(str(f), f, str(f)) for f in files]
    return AdhocRun(files, champion, device, predict_files(champion, work, feeder, options))


def segment_rows(prediction: TrackPrediction) -> list[dict[str, object]]:
    """One row per segment: where it is, its top label, and every label's probability."""
    rows = []
    for segment in prediction.segments:
        top = max(segment.predictions, key=segment.predictions.get)
        rows.append({"audio_file": prediction.audio_file, "segment_index": segment.segment_index,
                     "start_time": segment.start_time, "end_time": segment.end_time, "top_label": top,
                     **segment.predictions})  # fmt: skip
    return rows


def write_predictions(predictions: Iterable[TrackPrediction], fmt: Format, handle: TextIO) -> int:
    """Write ``predictions`` as they come (JSONL, CSV) or as one list (JSON); returns how many."""
    count = 0
    if fmt == "json":
        records = [asdict(p) for p in predictions]
        handle.write(json.dumps(records, ensure_ascii=False, indent=1) + "\n")
        return len(records)
    writer = None
    for prediction in predictions:
        count += 1
        if fmt == "jsonl":
            handle.write(json.dumps(asdict(prediction), ensure_ascii=False) + "\n")
            continue
        rows = segment_rows(prediction)
        if writer is None:  # the champion's labels are the same for every file
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
        writer.writerows(rows)
    return count
