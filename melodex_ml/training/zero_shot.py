"""The zero-shot candidate: genre predictions from MusiCNN tags before anything is trained.

Each of the user's genre names is matched to MusiCNN tags by text similarity
(:func:`melodex_ml.search.zero_shot_genre.map_genres`, with the bundled sentence encoder), and a
segment's genre probabilities are the normalised probabilities of the tags its genres matched. No
labelled track is used to build it: the train side of the split is not read at all, so what the
trained candidates gain over this one is what the user's labels taught them. It is scored on the
split's test tracks exactly as they are (segments averaged per track, track-level macro F1, test
tracks without stored tags counted as misses) and competes for champion on the same footing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from melodex_ml.embeddings.segment_tags import TAG_MODELS, SegmentTags
from melodex_ml.models.genre_model import TAGS
from melodex_ml.models.zero_shot import CANDIDATE, ZeroShotGenreModel, column_name
from melodex_ml.search.text_search import MatchConfig
from melodex_ml.search.vocabulary import Encode, TagVocabulary, musicnn_tag_sets
from melodex_ml.search.zero_shot_genre import GENRE_MATCH, GenreMapping, map_genres
from melodex_ml.training.candidate import CandidateResult, base_notes, check_split, score, split_counts
from melodex_ml.training.evaluation_split import EvaluationSplit
from melodex_ml.training.labels import NotEnoughData, Taxonomy

MAPPING_ARTIFACT = "zero_shot/genre_mapping.json"


@dataclass(frozen=True)
class ZeroShotConfig:
    match: MatchConfig = GENRE_MATCH  # stricter than search: a genre the tags lack matches nothing


def train_zero_shot(
    tags: SegmentTags,
    taxonomy: Taxonomy,
    split: EvaluationSplit,
    encode: Encode,
    *,
    text_encoder: str,
    config: ZeroShotConfig = ZeroShotConfig(),
) -> CandidateResult:
    """Map the taxonomy's labels to tags with ``encode`` (the sentence encoder ``text_encoder``) and
    score the mapping on the split's test tracks; raises NotEnoughData when no test track has tags."""
    check_split(taxonomy, split)
    available = tags.tracks()
    missing = [t for t in split.test_track_ids if t not in available]
    if len(missing) == len(split.test_track_ids):
        raise NotEnoughData(f"{CANDIDATE}: no test track has stored MusiCNN segment tags", taxonomy.report)
    started = time.perf_counter()
    vocabulary = TagVocabulary.build(encode, musicnn_tag_sets(TAG_MODELS))  # the columns of a tag vector
    mapping = map_genres(taxonomy.labels, encode, vocabulary, config.match)
    model = ZeroShotGenreModel.from_mapping(mapping, taxonomy.task, text_encoder=text_encoder,
                                            min_similarity=config.match.min_similarity)  # fmt: skip
    test = tags.rows_of(split.test_track_ids)
    evaluation = score(model, taxonomy, model.predict_segments(test.values), test.track_ids, missing)
    notes = [*base_notes(taxonomy, split, missing), *mapping_notes(mapping, text_encoder, config, split)]
    if tags.n_incomplete:
        notes.append(f"{tags.n_incomplete} segment(s) lack one network's tags and are left out")
    return CandidateResult(
        candidate=CANDIDATE, task=taxonomy.task, model=model, evaluation=evaluation, split=split, taxonomy=taxonomy,
        params={"model": "zero_shot_tag_mapping", "input_kind": TAGS, "level": "segment", "text_encoder": text_encoder,
                "fitted_on_train_tracks": False, "unmatched_labels": ", ".join(mapping.unmatched) or "none",
                **asdict(config.match)},
        counts=split_counts(split, taxonomy, tags.track_ids)
        | {"n_features": tags.dim, "n_model_tracks": 0, "n_unmatched_labels": len(mapping.unmatched)},
        train_seconds=time.perf_counter() - started,
        notes=tuple(notes),
        input_example=(test if len(test) else tags).values[:3],
        extra_artifacts={MAPPING_ARTIFACT: json.dumps(
            {"matches": model.card.extra["matches"], "unmatched": list(mapping.unmatched),
             "text_encoder": text_encoder, "match": asdict(config.match)}, indent=1)},
    )  # fmt: skip


def mapping_notes(
    mapping: GenreMapping, text_encoder: str, config: ZeroShotConfig, split: EvaluationSplit
) -> list[str]:
    """What the mapping is, what each genre stands for, and which genres it cannot predict."""
    notes = [
        f"zero-shot: nothing was fitted, the {len(split.train_track_ids)} train tracks were not used; each genre "
        f"name is matched to MusiCNN tags by text similarity ({text_encoder}, similarity >= "
        f"{config.match.min_similarity}) and a segment's genre probabilities are its matched tags' probabilities, "
        "normalised over the genres"
    ]
    for genre, matches in zip(mapping.genres, mapping.matches, strict=True):
        if matches:
            tags = ", ".join(f"{column_name(m.tag)} ({m.similarity:.2f}, weight {m.weight:.2f})" for m in matches)
            notes.append(f"'{genre}' -> {tags}")
    if mapping.unmatched:
        notes.append(
            "no MusiCNN tag matches " + ", ".join(f"'{g}'" for g in mapping.unmatched) + ": such a genre gets no "
            "evidence, so it is never predicted where another genre has some, and its test tracks count as misses"
        )
    return notes
