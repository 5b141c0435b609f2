import duckdb
import pytest

from melodex_ml.training.labels import LabelConfig, NotEnoughData, build_taxonomy, label_key, load_track_tags


def test_spellings_of_one_label_merge_and_the_merge_is_reported():
    tags = {"a": ["Hip-Hop"], "b": ["hip hop"], "c": ["HipHop"], "d": ["Hip-Hop"], "e": ["Rock"], "f": ["rock "]}
    taxonomy = build_taxonomy(tags, {t: f"artist {t}" for t in tags})
    assert taxonomy.labels == ("Hip-Hop", "Rock")  # the most common spelling is shown
    assert taxonomy.track_labels == {"a": "Hip-Hop", "b": "Hip-Hop", "c": "Hip-Hop", "d": "Hip-Hop",
                                     "e": "Rock", "f": "Rock"}  # fmt: skip
    merges = {m.label: m for m in taxonomy.report.merges}
    assert merges["Hip-Hop"].spellings == ("Hip-Hop", "HipHop", "hip hop") and merges["Hip-Hop"].tracks == 4
    assert merges["Rock"].spellings == ("Rock", "rock")
    assert any("merged 'Hip-Hop', 'HipHop', 'hip hop' into 'Hip-Hop'" in line for line in taxonomy.report.lines())


def test_label_key_ignores_case_accents_and_punctuation_but_not_words():
    assert label_key("Électro") == label_key("electro")
    assert label_key("Drum & Bass") == label_key("drum and bass") == label_key("Drum-n-Bass".replace("-n-", " and "))
    assert label_key("Rock") != label_key("Pop")


def test_first_value_of_a_multi_valued_field_is_the_label_and_is_counted():
    tags = {"a": ["Jazz", "Fusion"], "b": ["Jazz"], "c": ["Rock", "rock"], "d": ["Rock"]}
    taxonomy = build_taxonomy(tags, {"a": "x", "b": "y", "c": "z", "d": "w"})
    assert taxonomy.track_labels == {"a": "Jazz", "b": "Jazz", "c": "Rock", "d": "Rock"}
    assert taxonomy.report.n_multi_valued == 1  # "Rock; rock" is one label twice, not two values


def test_a_label_with_one_track_is_reported_and_left_out_not_silently_dropped():
    tags = {"a": ["Jazz"], "b": ["Jazz"], "c": ["Rock"], "d": ["Rock"], "e": ["Polka"], "f": []}
    taxonomy = build_taxonomy(tags, {})
    assert taxonomy.labels == ("Jazz", "Rock")
    assert "Polka" in taxonomy.report.excluded and "1 track" in taxonomy.report.excluded["Polka"]
    assert taxonomy.unlabeled == ("f",)
    assert taxonomy.report.rare == {"Jazz": 2, "Rock": 2}


def test_a_single_artist_label_still_trains_and_is_flagged():
    tags = {"a": ["Jazz"], "b": ["Jazz"], "c": ["Rock"], "d": ["Rock"]}
    artists = {"a": "Miles", "b": "Miles", "c": "Band A", "d": "Band B"}
    taxonomy = build_taxonomy(tags, artists)
    assert taxonomy.labels == ("Jazz", "Rock")
    assert taxonomy.report.single_artist == ("Jazz",)


def test_fewer_than_two_labels_is_a_typed_error_with_the_reason():
    with pytest.raises(NotEnoughData, match="need at least 2 labels") as error:
        build_taxonomy({"a": ["Jazz"], "b": ["Jazz"], "c": ["Rock"]}, {})
    assert error.value.report.excluded.keys() == {"Rock"}
    with pytest.raises(NotEnoughData, match="got 0"):
        build_taxonomy({"a": [], "b": None}, {})


def test_tracks_without_inputs_are_left_out_and_counted():
    tags = {"a": ["Jazz"], "b": ["Jazz"], "c": ["Rock"], "d": ["Rock"], "e": ["Rock"]}
    taxonomy = build_taxonomy(tags, {}, with_inputs={"a", "b", "c", "d"})
    assert "e" not in taxonomy.track_labels and taxonomy.report.n_without_inputs == 1
    with pytest.raises(NotEnoughData):
        build_taxonomy(tags, {}, with_inputs={"a", "b", "c"})  # Rock has one track with inputs


def test_tags_come_from_any_text_field_of_the_store():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE live_tracks (track_id VARCHAR, genres VARCHAR[], artist VARCHAR, album VARCHAR, year INT)"
    )
    con.execute("INSERT INTO live_tracks VALUES ('t1', ['Jazz'], 'X', 'Blue', 1999), ('t2', [], NULL, 'Red', 2001)")
    tags, artists = load_track_tags(con)
    assert tags == {"t1": ["Jazz"], "t2": []} and artists == {"t1": "X", "t2": None}
    assert load_track_tags(con, "album")[0] == {"t1": ["Blue"], "t2": ["Red"]}
    with pytest.raises(ValueError, match="not a tag field"):
        load_track_tags(con, "year")
    with pytest.raises(ValueError, match="not a tag field"):
        load_track_tags(con, 'genres"; DROP TABLE live_tracks; --')
    taxonomy = build_taxonomy({"t1": ["Jazz"]} | {"t3": ["Jazz"], "t4": "Rock", "t5": "Rock"}, {},
                              LabelConfig(field="grouping"))  # fmt: skip
    assert taxonomy.report.field == "grouping" and taxonomy.labels == ("Jazz", "Rock")
