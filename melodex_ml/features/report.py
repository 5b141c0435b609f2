"""`melodex features PATH...`: analyse files or folders and print or save the descriptors and
the MusiCNN tags and embeddings.

Read-only with respect to the store: nothing is written to DuckDB.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from melodex_ml.audio.files import audio_files
from melodex_ml.features.config import ExtractorConfig
from melodex_ml.features.records import FEATURES_TABLE, HEADS_TABLE, SEGMENTS_TABLE, FeatureFailure
from melodex_ml.settings import MelodexSettings, get_settings

if TYPE_CHECKING:
    from melodex_ml.features.batch import Outcome

Format = Literal["table", "json", "csv"]
_TABLE_COLUMNS = ("duration_s", "tempo_bpm", "key", "mode", "integrated_lufs", "danceability_dfa")


def analyze_paths(
    paths: Sequence[Path | str],
    *,
    fmt: Format = "table",
    output: Path | str | None = None,
    settings: MelodexSettings | None = None,
    tags: bool = True,
    background_tags: bool = False,
) -> list[tuple[str, Outcome]]:
    """Analyse every audio file under ``paths`` with a progress bar; write the report to ``output``
    (or stdout) and return (path, FeatureResult | FeatureFailure) per file. With ``tags``, MusiCNN
    (both networks, loaded once) tags every file too: after the descriptors, or with
    ``background_tags`` in a second process that runs beside them (what a fresh command wants: see
    :mod:`melodex_ml.embeddings.musicnn.background`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    settings = settings or get_settings()
    files = audio_files(paths)
    background = None
    if tags and background_tags and files:
        from melodex_ml.embeddings.musicnn.background import BackgroundTagging

        background = BackgroundTagging(files, settings)  # started before the descriptors' imports
    from melodex_ml.features.batch import extract_batch

    config = ExtractorConfig.from_settings(settings)
    outcomes: list[tuple[str, Outcome]] = []
    columns = (TextColumn("features"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with background or nullcontext(), Progress(*columns, TextColumn("{task.description}"), transient=True) as progress:
        task = progress.add_task("", total=len(files))
        for key, outcome in extract_batch(((str(f), f) for f in files), config, settings.workers):
            outcomes.append((key, outcome))
            progress.update(task, advance=1, description=Path(key).name)
        order = {str(f): i for i, f in enumerate(files)}
        outcomes.sort(key=lambda item: order[item[0]])  # workers finish out of order
        analysed = {key for key, outcome in outcomes if not isinstance(outcome, FeatureFailure)}
        if background is not None:
            progress.update(task, description="MusiCNN tags")
            musicnn = {key: result for key, result in background.results().items() if key in analysed}
        else:
            musicnn = musicnn_results([Path(key) for key, _ in outcomes if key in analysed], settings) if tags else {}
    text = {"table": render_table, "json": render_json, "csv": render_csv}[fmt](outcomes, musicnn)
    if output is None:
        sys.stdout.write(text)
    else:
        # surrogateescape: a file name that is not valid UTF-8 is written back as its own bytes.
        Path(output).write_text(text, encoding="utf-8", errors="surrogateescape")
    return outcomes


def musicnn_results(files: Sequence[Path], settings: MelodexSettings) -> dict[str, object]:
    """path -> MusicnnResult, or the Failure of a file MusiCNN could not analyse."""
    if not files:
        return {}
    from melodex_ml.embeddings.musicnn.tagger import MusicnnTagger

    tagger = MusicnnTagger.from_settings(settings, batch_size=settings.musicnn_batch_size)
    batch = tagger.analyse_tracks([(str(f), f) for f in files], stage="features")
    return {r.key: r for r in batch.results} | {f.item: f for f in batch.failures}


def _tag_fields(result) -> dict:
    """The JSON fields of one file's MusiCNN result: tags per model, the msd-musicnn embedding."""
    if result is None:
        return {}
    if not hasattr(result, "outputs"):
        return {"tags_error": {"type": result.error_type, "message": result.message}}
    return {
        "tags": {model: {k: round(v, 6) for k, v in out.tag_probabilities().items()} for model, out in result.outputs.items()},
        "embeddings": {"msd-musicnn": [round(float(v), 6) for v in result.outputs["msd-musicnn"].embedding]}
        if "msd-musicnn" in result.outputs else {},
        "tag_flags": list(result.flags),
    }


def top_tags(result, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable tags over both networks (a label both name counts once, its best)."""
    if result is None or not hasattr(result, "outputs"):
        return []
    best: dict[str, float] = {}
    for output in result.outputs.values():
        for label, p in output.tag_probabilities().items():
            best[label.casefold()] = max(best.get(label.casefold(), 0.0), p)
    return sorted(best.items(), key=lambda item: -item[1])[:k]


def _track_row(key: str, outcome: Outcome) -> dict:
    if isinstance(outcome, FeatureFailure):
        return {"path": key, "error_type": outcome.error_type, "error": outcome.message}
    return outcome.rows(key)[FEATURES_TABLE][0]


def render_json(outcomes: Sequence[tuple[str, Outcome]], musicnn: dict | None = None) -> str:
    musicnn = musicnn or {}
    records = []
    for key, outcome in outcomes:
        if isinstance(outcome, FeatureFailure):
            records.append({"path": key, "error": {"type": outcome.error_type, "message": outcome.message}})
            continue
        rows = outcome.rows(key)
        records.append(
            {
                "path": key,
                "features": rows[FEATURES_TABLE][0],
                "issues": [{"code": i.code, "message": i.message} for i in outcome.issues],
                "segments": rows[SEGMENTS_TABLE],
                "heads": rows[HEADS_TABLE],
                **_tag_fields(musicnn.get(key)),
            }
        )
    return json.dumps(records, indent=2, default=str) + "\n"


def render_csv(outcomes: Sequence[tuple[str, Outcome]], musicnn: dict | None = None) -> str:
    """One row per file (track-level columns, then the top MusiCNN tags); lists as JSON; failures
    fill error_type and error."""
    musicnn = musicnn or {}
    rows = [_track_row(key, outcome) | {"top_tags": [label for label, _ in top_tags(musicnn.get(key))]}
            for key, outcome in outcomes]  # fmt: skip
    header = list(dict.fromkeys(["path", "error_type", "error"] + [k for row in rows for k in row]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()})
    return buffer.getvalue()


def render_table(outcomes: Sequence[tuple[str, Outcome]], musicnn: dict | None = None) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    musicnn = musicnn or {}
    table = Table("file", "duration", "tempo", "key", "LUFS", "dance (DFA)", "top tags", "issues / error")
    for key, outcome in outcomes:
        name = escape(Path(key).name)  # file names are data, not markup
        if isinstance(outcome, FeatureFailure):
            table.add_row(name, "", "", "", "", "", "", f"[red]{escape(f'{outcome.error_type}: {outcome.message}')}[/red]")
            continue
        row = outcome.rows(key)[FEATURES_TABLE][0]
        duration, tempo, key_name, mode, lufs, dance = (row[c] for c in _TABLE_COLUMNS)
        table.add_row(
            name,
            f"{duration:.1f} s",
            "" if tempo is None else f"{tempo:.1f}",
            "" if key_name is None else f"{key_name} {mode}",
            "" if lufs is None else f"{lufs:.1f}",
            "" if dance is None else f"{dance:.2f}",
            escape(", ".join(f"{label} {p:.2f}" for label, p in top_tags(musicnn.get(key)))),
            ", ".join(i.code for i in outcome.issues),
        )
    console = Console(file=io.StringIO(), width=140, force_terminal=False)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]
