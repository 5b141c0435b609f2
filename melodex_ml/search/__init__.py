"""Finding tracks: nearest neighbours over track embeddings, and zero-shot text search and genres over tags.

Pure functions over arrays (``similarity`` needs numpy only); the caller loads the vectors and, for text,
passes the sentence encoder's ``encode`` (``melodex_ml.embeddings.text.TextEncoder``).
"""
