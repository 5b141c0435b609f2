"""The names of the learning tasks, shared by training and the model registry (no heavy imports)."""

GENRE = "genre"
TEXT_PROJECTION = "text-projection"
