"""Parsers for published research datasets, each yielding ``CatalogRecord | CatalogError``.

One module per dataset, each with a ``parse(root, ...)`` generator (the library adapter takes
rows of the ``tracks`` table instead of a root). ``records`` holds the shared record types.
"""

DATASETS = ("song_describer", "fma", "mtg_jamendo", "jamendo_max_caps", "musiccaps", "gtzan", "library")
