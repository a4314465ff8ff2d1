"""Work in batches: the one helper that slices a list, a tuple or a pandas frame into consecutive parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

IN_LIST = 1000  # ids per IN (...) list in a query: well below every dialect's limit on bound parameters

Batchable = TypeVar("Batchable")  # a sequence (sliced) or a pandas DataFrame/Series (sliced by position)


def chunked(values: Batchable, size: int) -> Iterator[Batchable]:
    """`values` in order, at most `size` at a time, each part of the same type; nothing for empty input.

    Frames and Series are sliced by position (`.iloc`), whatever their index, so a 100,000-row load or a long
    IN (...) list never has to be built in one piece.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    slicer = values.iloc if hasattr(values, "iloc") else values
    for start in range(0, len(values), size):
        yield slicer[start:start + size]
