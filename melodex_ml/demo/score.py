"""How well Melodex predicted the demo library's untagged tracks, against its ground truth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from melodex_ml.demo.library import load_ground_truth
from melodex_ml.settings import MelodexSettings
from melodex_ml.store import connect


@dataclass(frozen=True)
class UntaggedScore:
    right: int
    total: int
    wrong: tuple[tuple[str, str, str], ...]  # (path, truth, predicted)
    by_genre: dict[str, tuple[int, int]]  # genre -> (right, total)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else float("nan")


def untagged_score(root: Path, settings: MelodexSettings) -> UntaggedScore:
    """Top predicted label of every untagged demo track (genre_predictions) against its true genre."""
    truth = {str(Path(root) / t.path): t.genre for t in load_ground_truth(Path(root)) if not t.tagged}
    with connect(settings.duckdb_path, read_only=True) as con:
        rows = con.execute(
            "SELECT t.path, p.global_prediction.top_labels[1] FROM genre_predictions p JOIN live_tracks t USING (track_id)"
        ).fetchall()
    predicted = {path: label for path, label in rows if path in truth}
    right, totals, wrong = Counter(), Counter(), []
    for path, genre in sorted(truth.items()):
        totals[genre] += 1
        label = predicted.get(path, "")
        if label.casefold() == genre.casefold():
            right[genre] += 1
        else:
            wrong.append((path, genre, label or "(no prediction)"))
    return UntaggedScore(sum(right.values()), len(truth), tuple(wrong),
                         {g: (right[g], totals[g]) for g in sorted(totals)})  # fmt: skip
