"""Errors the pipeline raises on purpose."""

from __future__ import annotations


class NotRetryableError(ValueError):
    """A failure that retrying cannot fix (settings that do not match the database, a run without a window): the
    task fails at once with this message instead of being retried with backoff."""
