"""HLS engine: the layout of a file (part sizes and offsets) and its store.

A layout records the plaintext size of every part of one variant, in file
order, so that a byte offset maps to a part by bisection over the cumulative
sizes. Layouts never change for a given media, so `LayoutStore` keeps them
on disk for good, each with a fingerprint of the segment list it describes:
a stored layout is used only for a playlist with the same fingerprint.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toutvfs.hls.playlist import Part
from toutvfs.hls.storage import VariantFileStore, make_private_dir, write_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def fingerprint(parts: Sequence[Part]) -> str:
    """Return a hash of the segment list that ignores URL queries."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part.identity()).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Layout:
    """The plaintext sizes of the parts of one variant.

    Attributes:
        sizes: plaintext bytes of each part, in file order.
        cipher_lengths: bytes of each part as served (ciphertext for an
            encrypted part), used to check fetched bodies.
        fingerprint: `fingerprint` of the parts this layout describes.
    """

    sizes: tuple[int, ...]
    cipher_lengths: tuple[int, ...]
    fingerprint: str

    def __post_init__(self) -> None:
        starts = [0]
        for size in self.sizes:
            starts.append(starts[-1] + size)
        object.__setattr__(self, "_starts", tuple(starts))

    @property
    def starts(self) -> tuple[int, ...]:
        """Offset of each part in the file, followed by the file size."""
        starts: tuple[int, ...] = self.__dict__["_starts"]
        return starts

    @property
    def total(self) -> int:
        """Size of the whole file in bytes."""
        return self.starts[-1]

    def locate(self, offset: int) -> int:
        """Return the position of the part that contains byte *offset*.

        Parts of size 0 are skipped, so the part returned always has data.
        """
        if not 0 <= offset < self.total:
            raise ValueError(f"offset {offset} is outside 0..{self.total - 1}")
        return bisect.bisect_right(self.starts, offset) - 1

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "fingerprint": self.fingerprint,
                "sizes": list(self.sizes),
                "cipher_lengths": list(self.cipher_lengths),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Layout:
        """Parse `to_json` output; raise ValueError for anything else."""
        record = json.loads(text)
        if not isinstance(record, dict) or record.get("version") != FORMAT_VERSION:
            raise ValueError("not a layout record of a known version")
        sizes = tuple(int(size) for size in record["sizes"])
        lengths = tuple(int(length) for length in record["cipher_lengths"])
        if len(sizes) != len(lengths) or any(size < 0 for size in sizes):
            raise ValueError("inconsistent sizes in a layout record")
        return cls(sizes, lengths, str(record["fingerprint"]))


class LayoutStore(VariantFileStore):
    """Layouts on disk, one JSON file per media and variant.

    Args:
        directory: where the files go, or None to keep layouts in memory only.
    """

    def __init__(self, directory: Path | None) -> None:
        super().__init__(directory)
        self._memory: dict[tuple[str, str], Layout] = {}

    def load(self, media_key: str, variant_key: str) -> Layout | None:
        """Return the stored layout, or None. Blocks on a small file read."""
        layout = self._memory.get((media_key, variant_key))
        if layout is not None:
            return layout
        path = self._path(media_key, variant_key)
        if path is None:
            return None
        try:
            layout = Layout.from_json(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the unreadable layout %s: %s", path, exc)
            return None
        self._memory[(media_key, variant_key)] = layout
        return layout

    def save(self, media_key: str, variant_key: str, layout: Layout) -> None:
        """Store *layout*. Blocks on a small file write."""
        self._memory[(media_key, variant_key)] = layout
        path = self._path(media_key, variant_key)
        if path is None:
            return
        make_private_dir(path.parent)
        write_atomic(path, layout.to_json().encode())
