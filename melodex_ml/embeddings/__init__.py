"""Learned embeddings: transformer audio encoders, caption text encoders, and their HDF5 storage.

Modules are imported on demand (``melodex_ml.embeddings.audio`` etc.) so that reading stored
embeddings never pays for importing torch or transformers.
"""
