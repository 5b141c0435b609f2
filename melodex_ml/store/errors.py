"""What can go wrong with the store, as one family the command line prints in one line each."""

from __future__ import annotations

from pathlib import Path


class StoreError(RuntimeError):
    """Base of every store error: ``str(exc)`` is a complete one-line message for people."""


class StoreBusy(StoreError):
    """The DuckDB file stayed locked by another process for longer than the retry budget."""


class StorageError(StoreError):
    """A write failed because the disk is full or the folder cannot be written.

    Not an OSError on purpose: per-item ``except OSError``/``except Exception`` handlers that turn a
    bad file into a recorded failure must not also swallow a full disk, which fails every item.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason  # no_space | not_writable
        super().__init__(f"no space left in {path}" if reason == "no_space" else f"{path} is not writable")


class ForbiddenQuery(StoreError):
    """``read_only_query`` refused a statement that is not a read-only query."""
