"""Caption synthesis from tags: genre + mood + instruments -> one natural sentence.

Datasets without human captions (FMA, MTG-Jamendo, GTZAN, the user's library) get a templated
caption such as "An upbeat Electronic track featuring synthesizer". The output depends only on the
tags and their order, so re-running a unification gives the same captions. Human and model
captions are never passed through here.

Free-form tags (FMA's user tags) are sorted into moods and instruments with the MTG-Jamendo
vocabularies (the largest public mood/instrument tag sets), matched case- and space-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Adjective-like MTG-Jamendo mood/theme tags (themes such as "film" or "christmas" do not read as
# adjectives in "A ... track", so they stay plain tags), plus common synonyms from free tagging.
MOODS = frozenset(
    """
    calm cool dark deep dramatic dreamy emotional energetic epic fast fun funny groovy happy heavy
    hopeful inspiring meditative melancholic melodic motivational positive powerful relaxing retro
    romantic sad sexy slow soft upbeat uplifting chill chillout mellow aggressive angry peaceful
    atmospheric ambient dreamlike gentle joyful melancholy moody nostalgic playful quiet serene
    sentimental tender warm bright lively intense haunting mysterious eerie somber cheerful
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# MTG-Jamendo's 40 instrument tags (written without spaces) and common free-tag spellings,
# mapped to how they read in a sentence.
INSTRUMENTS = {
    "accordion": "accordion",
    "acousticbassguitar": "acoustic bass guitar",
    "acousticguitar": "acoustic guitar",
    "bass": "bass",
    "bassguitar": "bass guitar",
    "beat": "beat",
    "bell": "bells",
    "bells": "bells",
    "bongo": "bongos",
    "brass": "brass",
    "cello": "cello",
    "clarinet": "clarinet",
    "classicalguitar": "classical guitar",
    "computer": "computer",
    "doublebass": "double bass",
    "drummachine": "drum machine",
    "drums": "drums",
    "electricguitar": "electric guitar",
    "electricpiano": "electric piano",
    "flute": "flute",
    "guitar": "guitar",
    "harmonica": "harmonica",
    "harp": "harp",
    "horn": "horn",
    "keyboard": "keyboard",
    "oboe": "oboe",
    "orchestra": "orchestra",
    "organ": "organ",
    "pad": "pad",
    "percussion": "percussion",
    "piano": "piano",
    "pipeorgan": "pipe organ",
    "rhodes": "Rhodes",
    "sampler": "sampler",
    "saxophone": "saxophone",
    "sax": "saxophone",
    "strings": "strings",
    "synth": "synthesizer",
    "synthesizer": "synthesizer",
    "synthesiser": "synthesizer",
    "trombone": "trombone",
    "trumpet": "trumpet",
    "ukulele": "ukulele",
    "viola": "viola",
    "violin": "violin",
    "voice": "vocals",
    "vocals": "vocals",
    "vocal": "vocals",
    "banjo": "banjo",
    "mandolin": "mandolin",
    "turntables": "turntables",
}

# Genre spellings that plain title-casing gets wrong.
GENRE_DISPLAY = {
    "hiphop": "Hip-Hop",
    "hip-hop": "Hip-Hop",
    "rnb": "R&B",
    "edm": "EDM",
    "idm": "IDM",
    "triphop": "Trip-Hop",
    "drumnbass": "Drum & Bass",
    "dnb": "Drum & Bass",
    "easylistening": "Easy Listening",
    "newage": "New Age",
    "postrock": "Post-Rock",
    "punkrock": "Punk Rock",
    "poprock": "Pop Rock",
    "rocknroll": "Rock 'n' Roll",
    "singersongwriter": "Singer-Songwriter",
}

MAX_MOODS = 2
MAX_GENRES = 2
MAX_INSTRUMENTS = 3


@dataclass(frozen=True)
class TagGroups:
    moods: tuple[str, ...]
    instruments: tuple[str, ...]  # display names
    other: tuple[str, ...]


def _compact(tag: str) -> str:
    return "".join(ch for ch in tag.casefold() if ch.isalnum())


def _unique(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in values:
        value = " ".join(str(value).split())
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return out


def categorize_tags(tags: Iterable[str]) -> TagGroups:
    """Sort free-form tags into moods, instruments and the rest, keeping their order."""
    moods, instruments, other = [], [], []
    for tag in _unique(tags):
        key = _compact(tag)
        if key in MOODS:
            moods.append(tag.casefold())
        elif key in INSTRUMENTS:
            instruments.append(INSTRUMENTS[key])
        else:
            other.append(tag)
    return TagGroups(tuple(_unique(moods)), tuple(_unique(instruments)), tuple(other))


def display_genre(genre: str) -> str:
    """``rock`` -> ``Rock``, ``hiphop`` -> ``Hip-Hop``; already-capitalised names (FMA) stay as they are."""
    genre = " ".join(genre.split())
    if genre in GENRE_DISPLAY.values():
        return genre
    special = GENRE_DISPLAY.get(_compact(genre))
    if special:
        return special
    return genre if any(ch.isupper() for ch in genre) else genre.title()


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def synthesize_caption(genres: Iterable[str] = (), moods: Iterable[str] = (), instruments: Iterable[str] = ()) -> str:
    """ "An upbeat Electronic track featuring synthesizer" from its parts; "A music track" from nothing."""
    mood_words = _unique(m.casefold() for m in moods)[:MAX_MOODS]
    genre_words = _unique(display_genre(g) for g in genres)[:MAX_GENRES]
    instrument_words = _unique(INSTRUMENTS.get(_compact(i), i) for i in instruments)[:MAX_INSTRUMENTS]
    head = " ".join(
        part for part in (", ".join(mood_words), " and ".join(genre_words) or ("" if mood_words else "music")) if part
    )
    article = "An" if head[:1].casefold() in "aeiou" else "A"
    sentence = f"{article} {head} track"
    if instrument_words:
        sentence += f" featuring {_join(instrument_words)}"
    return sentence


def caption_from_tags(genres: Iterable[str], tags: Iterable[str]) -> str:
    """Caption for a dataset that gives genres and free tags (FMA, the library)."""
    groups = categorize_tags(tags)
    return synthesize_caption(genres, groups.moods, groups.instruments)
