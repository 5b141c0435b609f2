from melodex_ml.catalog.captions import caption_from_tags, categorize_tags, display_genre, synthesize_caption


def test_reference_examples_are_reproduced_exactly():
    # The two FMA examples of the reference unification script.
    assert (
        caption_from_tags(["Electronic"], ["synthesizer", "upbeat"])
        == "An upbeat Electronic track featuring synthesizer"
    )
    assert (
        caption_from_tags(["Rock"], ["guitar", "drums", "energetic"])
        == "An energetic Rock track featuring guitar and drums"
    )


def test_free_tags_are_sorted_into_moods_instruments_and_the_rest():
    groups = categorize_tags(["Synth", "UPBEAT", "acoustic guitar", "lo-fi", "upbeat", "Acoustic-Guitar"])
    assert groups.moods == ("upbeat",)
    assert groups.instruments == ("synthesizer", "acoustic guitar")
    assert groups.other == ("lo-fi",)


def test_sentence_shape_for_partial_tag_sets():
    assert synthesize_caption() == "A music track"
    assert synthesize_caption(["rock"]) == "A Rock track"
    assert synthesize_caption(moods=["Calm"]) == "A calm track"
    assert synthesize_caption(instruments=["piano"]) == "A music track featuring piano"
    assert synthesize_caption(["Electronic"]) == "An Electronic track"


def test_mtg_style_names_and_limits():
    caption = synthesize_caption(
        ["electronic", "hiphop", "ambient"],
        ["happy", "dark", "sad"],
        ["acousticguitar", "drummachine", "piano", "bass"],
    )
    # At most two genres, two moods and three instruments; MTG's run-together names are spelled out.
    assert caption == "A happy, dark Electronic and Hip-Hop track featuring acoustic guitar, drum machine and piano"


def test_synthesis_is_deterministic_and_order_sensitive():
    first = caption_from_tags(["Folk"], ["piano", "violin", "calm"])
    assert first == caption_from_tags(["Folk"], ["piano", "violin", "calm"])
    assert first == "A calm Folk track featuring piano and violin"
    assert caption_from_tags(["Folk"], ["violin", "piano", "calm"]) == "A calm Folk track featuring violin and piano"


def test_genre_display_names():
    assert display_genre("hiphop") == "Hip-Hop"
    assert display_genre("rnb") == "R&B"
    assert display_genre("Old-Time / Historic") == "Old-Time / Historic"  # FMA titles stay as written
    assert display_genre("jazz") == "Jazz"
