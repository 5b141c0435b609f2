"""Each dataset parser on fixtures written in the dataset's real published layout."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from fixtures_datasets import (
    FmaTrack,
    SongDescriberCaption,
    fma_audio_path,
    musiccaps_row,
    write_audio,
    write_fma,
    write_gtzan,
    write_jamendo_max_caps_parquet,
    write_jsonl,
    write_mtg_jamendo,
    write_musiccaps,
    write_song_describer,
)

from melodex_ml.catalog.datasets import fma, gtzan, jamendo_max_caps, library, mtg_jamendo, musiccaps, song_describer
from melodex_ml.catalog.datasets.records import CatalogError, CatalogRecord, Reason


def split(parsed):
    parsed = list(parsed)
    records = {p.id: p for p in parsed if isinstance(p, CatalogRecord)}
    errors = [p for p in parsed if isinstance(p, CatalogError)]
    assert len(records) + len(errors) == len(parsed)
    return records, errors


# --- Song Describer -------------------------------------------------------------------------------


def test_song_describer_groups_captions_per_track_and_finds_the_2min_audio(tmp_path):
    human = 'Café jazz, “smooth”, with a "quoted" sax\nand a second line '
    write_song_describer(
        tmp_path,
        [
            SongDescriberCaption(10, 1051748, "An invalid but human caption", is_valid_subset=False),
            SongDescriberCaption(11, 1051748, human),
            SongDescriberCaption(12, 1051748, "Second valid caption"),
            SongDescriberCaption(13, 214, "A short rock song", artist_id=14, duration=95.5),
        ],
    )
    records, errors = split(song_describer.parse(tmp_path))
    assert errors == []
    assert set(records) == {"song_describer_1051748", "song_describer_214"}
    long = records["song_describer_1051748"]
    assert long.caption == human  # human captions are kept byte for byte
    assert long.alt_captions == ("Second valid caption", "An invalid but human caption")
    assert long.caption_source == "human"
    assert long.audio_path == str(tmp_path / "audio" / "48" / "1051748.2min.mp3")
    assert os.path.isabs(long.audio_path)
    assert long.duration == 120.0  # the CSV's 200 s is the full track; the audio is a 2-minute crop
    assert long.track_key == "jamendo:1051748" and long.artist_key == "jamendo-artist:7"
    short = records["song_describer_214"]
    assert short.audio_path == str(tmp_path / "audio" / "14" / "214.2min.mp3")
    assert short.duration == 95.5 and short.alt_captions == ()


def test_song_describer_accepts_full_length_audio_at_the_csv_path(tmp_path):
    write_song_describer(tmp_path, [SongDescriberCaption(1, 214, "Rock", duration=300.0)], with_audio=set())
    write_audio(tmp_path / "audio" / "14" / "214.mp3", 0.2)
    records, errors = split(song_describer.parse(tmp_path))
    assert errors == []
    assert records["song_describer_214"].audio_path == str(tmp_path / "audio" / "14" / "214.mp3")
    assert records["song_describer_214"].duration == 300.0


# --- FMA ------------------------------------------------------------------------------------------


FMA_TRACKS = [
    FmaTrack(2, "Hip-Hop", [21, 811], tags=["upbeat", "synth"], artist="AWOL", title="Food", split="training"),
    FmaTrack(5, "", [12, 25, 15, 236], subset="small", split="validation", artist="Kurt Vile"),
    FmaTrack(140001, "Rock", [12], subset="small", split="test", artist="Big Id"),
    FmaTrack(7, "Electronic", [15], subset="medium", split="training"),
    FmaTrack(9, "Rock", [12, 25], subset="large", split="training"),
]


def test_fma_fixture_has_the_real_three_line_header(tmp_path):
    write_fma(tmp_path, FMA_TRACKS[:2])
    path = tmp_path / "fma_metadata" / "tracks.csv"
    lines = path.read_text().splitlines()
    assert lines[0].startswith(",album,album,artist")
    assert lines[2].startswith("track_id,")
    frame = pd.read_csv(path, header=[0, 1], index_col=0)  # how the FMA authors load it
    assert frame.loc[2, ("track", "genre_top")] == "Hip-Hop"


def test_fma_small_parses_genres_paths_splits_and_synthesises_captions(tmp_path):
    write_fma(tmp_path, FMA_TRACKS, audio_seconds=0.4)
    records, errors = split(fma.parse(tmp_path, size="small"))
    assert errors == []
    assert set(records) == {"fma_2", "fma_5", "fma_140001"}  # medium and large tracks are not in fma_small
    hiphop = records["fma_2"]
    assert hiphop.audio_path == str(tmp_path / "fma_small" / "000" / "000002.mp3")
    assert hiphop.genres == ("Hip-Hop", "Hip-Hop Beats")
    assert hiphop.caption == "An upbeat Hip-Hop track featuring synthesizer"
    assert hiphop.caption_source == "tags"
    assert hiphop.tags == ("upbeat", "synth")
    assert hiphop.artist == "AWOL" and hiphop.title == "Food" and hiphop.artist_key == "name:awol"
    assert hiphop.license == "Attribution-NonCommercial-ShareAlike 3.0 International"
    assert hiphop.official_split == "train"
    # fma_small ships 30 s clips; tracks.csv says 250 s for the full track, so the file is read.
    assert hiphop.duration == pytest.approx(0.4, abs=0.05)
    # No genre_top (several top genres): caption from the top-level genres, labels from genres_all.
    multi = records["fma_5"]
    assert multi.caption == "A Rock and Electronic track"
    assert multi.genres == ("Rock", "Punk", "Electronic", "Ambient Electronic")
    assert multi.official_split == "val"
    assert records["fma_140001"].audio_path == str(fma_audio_path(tmp_path, 140001))
    assert records["fma_140001"].official_split == "test"


def test_fma_sizes_nest_and_full_uses_metadata_duration(tmp_path):
    write_fma(tmp_path, FMA_TRACKS, size="medium")
    records, _ = split(fma.parse(tmp_path, size="medium"))
    assert set(records) == {"fma_2", "fma_5", "fma_140001", "fma_7"}

    write_fma(tmp_path, FMA_TRACKS, size="full")
    records, errors = split(fma.parse(tmp_path, size="full"))
    assert errors == [] and set(records) == {f"fma_{t.track_id}" for t in FMA_TRACKS}
    assert records["fma_9"].duration == 250.0


# --- MTG-Jamendo ----------------------------------------------------------------------------------


def test_mtg_jamendo_reads_spilled_tags(tmp_path):
    write_mtg_jamendo(
        tmp_path,
        [
            (
                214,
                14,
                124.6,
                [
                    "genre---rock",
                    "genre---punkrock",
                    "mood/theme---energetic",
                    "mood/theme---film",
                    "instrument---electricguitar",
                ],
            ),
            (1051748, 7, 212.0, ["instrument---piano"]),
        ],
    )
    records, errors = split(mtg_jamendo.parse(tmp_path))
    assert errors == []
    rock = records["mtg_jamendo_214"]
    assert rock.audio_path == str(tmp_path / "14" / "214.mp3")
    assert rock.duration == 124.6
    assert rock.genres == ("rock", "punkrock")
    assert rock.tags == ("rock", "punkrock", "energetic", "film", "electricguitar")
    assert rock.caption == "An energetic Rock and Punk Rock track featuring electric guitar"
    assert rock.track_key == "jamendo:214" and rock.artist_key == "jamendo-artist:14"
    assert records["mtg_jamendo_1051748"].caption == "A music track featuring piano"


def test_mtg_jamendo_low_quality_suffix_and_repository_layout(tmp_path):
    write_mtg_jamendo(tmp_path / "audio", [(214, 14, 124.6, ["genre---rock"])], suffix=".low.mp3")
    (tmp_path / "data").mkdir()
    (tmp_path / "audio" / "autotagging.tsv").rename(tmp_path / "data" / "autotagging.tsv")
    records, errors = split(mtg_jamendo.parse(tmp_path, audio_dir=tmp_path / "audio", audio_suffix=".low.mp3"))
    assert errors == [] and records["mtg_jamendo_214"].audio_path.endswith("14/214.low.mp3")
    _, errors = split(mtg_jamendo.parse(tmp_path, audio_dir=tmp_path / "audio"))
    assert [e.reason for e in errors] == [Reason.MISSING_AUDIO]


# --- JamendoMaxCaps-style exports -----------------------------------------------------------------


def test_jamendo_max_caps_parquet_with_audio_struct_and_jsonl_by_id(tmp_path):
    write_audio(tmp_path / "audio" / "123.mp3", 0.25)
    write_audio(tmp_path / "audio" / "sub" / "456.wav", 0.5)
    write_jamendo_max_caps_parquet(
        tmp_path / "data" / "train-00000-of-00002.parquet",
        [
            {"id": "123", "caption": "An energetic rock track", "audio": {"bytes": b"\x00" * 64, "path": "123.mp3"}},
            {"id": "123", "caption": "Loud guitars", "audio": {"bytes": None, "path": "123.mp3"}},
        ],
    )
    write_jsonl(tmp_path / "captions.jsonl", [{"track_id": 456, "caption": "A calm piano piece", "duration": 31.5}])
    records, errors = split(jamendo_max_caps.parse(tmp_path))
    assert errors == []
    rock = records["jamendo_max_caps_123"]
    assert rock.caption == "An energetic rock track" and rock.alt_captions == ("Loud guitars",)
    assert rock.caption_source == "model" and rock.track_key == "jamendo:123"
    assert rock.audio_path == str(tmp_path / "audio" / "123.mp3")
    assert rock.duration == pytest.approx(0.25, abs=0.05)  # no duration column: read from the file
    piano = records["jamendo_max_caps_456"]
    assert piano.audio_path == str(tmp_path / "audio" / "sub" / "456.wav")  # found by id
    assert piano.duration == 31.5


# --- MusicCaps ------------------------------------------------------------------------------------


def test_musiccaps_resolves_every_common_file_naming(tmp_path):
    write_musiccaps(
        tmp_path,
        [
            musiccaps_row("-0Gj8-vB1q4", 30, "A low sounding male voice is rapping.", ["hip hop", "male voice"]),
            musiccaps_row("abc_DEF-123", 0, "Solo piano.", ["piano"], evaluation=True),
            musiccaps_row("clipOnly000", 60, "A choir sings.", []),
            musiccaps_row("fullVideo00", 30, "Drums and bass.", ["drums"]),
        ],
    )
    audio = tmp_path / "audio"
    write_audio(audio / "-0Gj8-vB1q4_30-40.wav", 10)
    write_audio(audio / "nested" / "[abc_DEF-123]-[0-10].flac", 10)
    write_audio(audio / "clipOnly000.mp3", 10)  # already cut to the clip
    write_audio(audio / "fullVideo00.ogg", 45)  # the whole video
    records, errors = split(musiccaps.parse(tmp_path))
    assert errors == []
    rap = records["musiccaps_-0Gj8-vB1q4"]
    assert rap.audio_path == str(audio / "-0Gj8-vB1q4_30-40.wav")
    assert (rap.duration, rap.clip_start) == (10.0, 0.0)
    assert rap.tags == ("hip hop", "male voice") and rap.caption == "A low sounding male voice is rapping."
    assert rap.official_split == "train" and rap.track_key == "youtube:-0Gj8-vB1q4"
    assert records["musiccaps_abc_DEF-123"].audio_path.endswith("[abc_DEF-123]-[0-10].flac")
    assert records["musiccaps_abc_DEF-123"].official_split == "test"
    assert records["musiccaps_clipOnly000"].clip_start == 0.0
    full = records["musiccaps_fullVideo00"]
    assert (full.duration, full.clip_start) == (10.0, 30.0)


def test_musiccaps_full_video_too_short_for_the_clip_is_missing_audio(tmp_path):
    write_musiccaps(tmp_path, [musiccaps_row("shortVideo0", 60, "Strings.", [])])
    write_audio(tmp_path / "shortVideo0.wav", 30)  # longer than a clip, but ends before 70 s
    records, errors = split(musiccaps.parse(tmp_path))
    assert records == {} and [e.reason for e in errors] == [Reason.MISSING_AUDIO]
    assert "70" in errors[0].message


# --- GTZAN and the library --------------------------------------------------------------------------


def test_gtzan_folders_become_genre_labels(tmp_path):
    write_gtzan(tmp_path / "Data" / "genres_original", {"blues": 2, "hiphop": 1}, seconds=0.3)
    (tmp_path / "Data" / "genres_original" / "blues" / "notes.txt").write_text("not audio")
    records, errors = split(gtzan.parse(tmp_path))
    assert errors == []
    assert set(records) == {"gtzan_blues/blues.00000", "gtzan_blues/blues.00001", "gtzan_hiphop/hiphop.00000"}
    hiphop = records["gtzan_hiphop/hiphop.00000"]
    assert hiphop.genres == ("hiphop",) and hiphop.caption == "A Hip-Hop track"
    assert hiphop.duration == pytest.approx(0.3, abs=0.01)
    assert hiphop.artist_key is None  # no artist metadata: grouped by track when splitting


def test_gtzan_original_au_files(tmp_path):
    write_gtzan(tmp_path / "genres", {"jazz": 1}, ext=".au", seconds=0.4)
    records, errors = split(gtzan.parse(tmp_path))
    assert errors == [] and records["gtzan_jazz/jazz.00000"].duration == pytest.approx(0.4, abs=0.01)


def test_library_adapter_uses_genre_tags_as_labels(tmp_path):
    first = write_audio(tmp_path / "lib" / "a.flac", 0.6)
    second = write_audio(tmp_path / "lib" / "b.mp3", 0.2)
    rows = [
        {
            "track_id": "t1",
            "path": str(first),
            "title": "One",
            "artist": "The Band",
            "album": "A",
            "genres": ["rock", "pop"],
            "duration_s": None,
        },
        {
            "track_id": "t2",
            "path": str(second),
            "title": "Two",
            "artist": None,
            "album": None,
            "genres": [],
            "duration_s": 181.5,
        },
        {
            "track_id": "t3",
            "path": str(tmp_path / "lib" / "gone.mp3"),
            "title": "Gone",
            "artist": "X",
            "album": None,
            "genres": ["jazz"],
            "duration_s": 100.0,
        },
    ]
    records, errors = split(library.parse(rows))
    one = records["library_t1"]
    assert one.genres == ("rock", "pop") and one.caption == "A Rock and Pop track"
    assert one.duration == pytest.approx(0.6, abs=0.01) and one.artist_key == "name:the band"
    assert records["library_t2"].duration == 181.5 and records["library_t2"].caption == "A music track"
    assert [(e.item, e.reason) for e in errors] == [("library_t3", Reason.MISSING_AUDIO)]
