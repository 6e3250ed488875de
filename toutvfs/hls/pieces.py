"""HLS engine: fetch one part as several ranged pieces over separate connections.

One connection shaped to a fixed rate brings a large part in slowly, and a
player that opens a file waits for most of its first segment before it can
show a frame. Pieces fetched at once each get their own connection, so the
part arrives several times sooner.

Piece 0 requests the part's first `ReadaheadSettings.piece_size` bytes and
decrypts straight into the job's `Progress`. Once the part's ciphertext
length is known (from the layout, or else from piece 0's ``Content-Range``)
the rest is split at block boundaries into at most
`ReadaheadSettings.first_segment_pieces` - 1 more pieces, fetched at once.
Each later piece decrypts into a `Progress` of its own, and its bytes are
copied to the job's `Progress` in order as they arrive, so readers get the
part's bytes as soon as every byte before them is in. The last block of the
last piece, which holds the padding, is copied only once that piece is
checked and its padding removed.

A part with a byte range, or one known to be shorter than two pieces, is
fetched in one request. So is a part whose server ignores ``Range``: piece
0 then receives the whole body and becomes the whole part.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from toutvfs.hls.crypto import BLOCK, Data
from toutvfs.hls.download import PartDownload, Progress
from toutvfs.hls.parts import KeyRing, PartChanged
from toutvfs.hls.playlist import Part, redact

# Runs one download to its end and returns its plaintext, re-signing the
# part's URL when it expired.
RunDownload = Callable[[PartDownload], Awaitable[Data]]


@dataclass(eq=False)
class _Piece:
    """A download after piece 0, and how much of it reached the job."""

    download: PartDownload
    copied: int = 0
    done: bool = False


def piece_bounds(start: int, total: int, count: int) -> list[int]:
    """Return the offsets that split ciphertext *start* to *total* in *count* pieces.

    The first offset is *start* and the last is *total*. Those between are
    multiples of the AES block, where a download can start, and pieces that
    would be empty after that rounding are left out.
    """
    span = total - start
    bounds = [start]
    for index in range(1, count):
        bound = start + (index * span // count) // BLOCK * BLOCK
        if bound > bounds[-1]:
            bounds.append(bound)
    bounds.append(total)
    return bounds


class PieceFetch:
    """One part fetched as pieces into the `Progress` of its job.

    Args:
        first: piece 0, a download from the part's first byte into the
            job's `Progress`, with a stop.
        keys: the key ring of the part's key.
        run: runs one download through the source, with its 403 handling.
        count: maximum number of pieces, 2 or more.
    """

    def __init__(
        self, first: PartDownload, keys: KeyRing, run: RunDownload, count: int
    ) -> None:
        if first.progress.start != 0 or first.stop is None:
            raise ValueError("piece 0 starts at the part's first byte and stops")
        self._part = first.part
        self._progress = first.progress
        self._keys = keys
        self._run = run
        self._count = count
        self._piece_size = first.stop
        self._first = first
        self._first_done = False
        self._later: list[_Piece] = []
        # Index in _later of the first piece not yet copied whole.
        self._next = 0
        self._error: Exception | None = None

    async def fetch(self) -> Data:
        """Fetch every piece and return the part's whole plaintext.

        Raises:
            The error of the first piece that failed, after the other
            pieces are cancelled. `PartChanged` if the pieces do not add up
            to the part's length.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_first, nursery.cancel_scope)
            nursery.start_soon(self._start_later, nursery)
        if self._error is not None:
            raise self._error
        return self._check_length()

    @property
    def _first_is_whole(self) -> bool:
        """True once piece 0 fetches the whole part (a short part, or no Range)."""
        return self._first.stop is None

    async def _run_first(self, scope: trio.CancelScope) -> None:
        try:
            await self._run(self._first)
        except Exception as exc:
            self._fail(exc, scope)
            return
        self._first_done = True
        if self._first_is_whole:
            # Piece 0 contains the whole part, so later pieces are not needed.
            scope.cancel()
            return
        self._copy()

    async def _start_later(self, nursery: trio.Nursery) -> None:
        total = self._first.served
        if total is None:
            # Piece 0's Content-Range gives the part's length.
            await self._first.head_received.wait()
            total = self._first.served
        if self._first_is_whole:
            return
        if total is None:
            # The server did not give the length: the rest is one piece.
            ranges: list[tuple[int, int | None]] = [(self._piece_size, None)]
        else:
            rest = total - self._piece_size
            count = min(self._count - 1, -(-rest // self._piece_size))
            bounds = piece_bounds(self._piece_size, total, count)
            ranges = [
                (low, high if high < total else None)
                for low, high in itertools.pairwise(bounds)
            ]
        for low, high in ranges:
            progress = _PieceProgress(low, self._copy)
            download = PartDownload(self._part, total, progress, self._keys, high)
            piece = _Piece(download)
            self._later.append(piece)
            nursery.start_soon(self._run_later, piece, nursery.cancel_scope)

    async def _run_later(self, piece: _Piece, scope: trio.CancelScope) -> None:
        try:
            await self._run(piece.download)
        except Exception as exc:
            # With a known length the later pieces start with piece 0. If
            # the server then ignores Range, piece 0 fetches the whole part
            # and the later pieces' errors do not matter. Piece 0's response
            # may come after this one's, so it is awaited first. A failure
            # of piece 0 cancels this wait.
            await self._first.head_received.wait()
            if not self._first_is_whole:
                self._fail(exc, scope)
            return
        piece.done = True
        self._copy()

    def _fail(self, exc: Exception, scope: trio.CancelScope) -> None:
        if self._error is None:
            self._error = exc
        scope.cancel()

    def _copy(self) -> None:
        """Append to the job's plaintext what the later pieces contain, in order."""
        if not self._first_done or self._first_is_whole or self._error is not None:
            return
        data = self._progress.data
        grown = False
        while self._next < len(self._later):
            piece = self._later[self._next]
            source = piece.download.progress.data
            end = len(source)
            last = self._next == len(self._later) - 1
            if last and not piece.done and self._part.encryption is not None:
                # The last block may hold padding until the piece is checked.
                end -= BLOCK
            if end > piece.copied:
                data += source[piece.copied : end]
                piece.copied = end
                grown = True
            if not piece.done:
                break
            source.clear()
            self._next += 1
        if grown:
            self._progress.notify()

    def _check_length(self) -> Data:
        data = self._progress.data
        if not self._first_is_whole:
            assert self._next == len(self._later), "a finished piece was not copied"
        total = self._first.served
        if total is None:
            return data
        low, high = total, total
        if self._part.encryption is not None:
            # PKCS#7 padding is 1 to 16 bytes long.
            low, high = total - BLOCK, total - 1
        if not low <= len(data) <= high:
            raise PartChanged(
                f"the pieces of {redact(self._part.uri)} make {len(data)} "
                f"plaintext bytes, which does not fit {total} bytes of "
                "ciphertext"
            )
        return data


class _PieceProgress(Progress):
    """The `Progress` of a later piece, which calls *on_change* as bytes arrive."""

    def __init__(self, start: int, on_change: Callable[[], None]) -> None:
        super().__init__(start)
        self._on_change = on_change

    def notify(self) -> None:
        super().notify()
        self._on_change()


async def fetch_part(
    part: Part,
    served: int | None,
    progress: Progress,
    keys: KeyRing,
    run: RunDownload,
    count: int,
    piece_size: int,
) -> Data:
    """Fetch *part* into *progress* as up to *count* pieces, and return it.

    *piece_size* is rounded down to a block. The part is fetched in one
    request when *count* is 1 or less, when it has a byte range, or when
    *served* shows that it is shorter than two pieces.
    """
    piece_size = max(BLOCK, piece_size // BLOCK * BLOCK)
    whole = (
        count <= 1
        or part.byterange is not None
        or (served is not None and served < 2 * piece_size)
    )
    if whole:
        return await run(PartDownload(part, served, progress, keys))
    first = PartDownload(part, served, progress, keys, stop=piece_size)
    return await PieceFetch(first, keys, run, count).fetch()
