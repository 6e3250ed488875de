"""Counts in messages: ``1 file``, ``2 files``."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return *count* followed by the noun in the number that fits it.

    *plural* defaults to *singular* with an ``s``.
    """
    if count == 1:
        return f"{count} {singular}"
    return f"{count} {plural if plural is not None else singular + 's'}"
