"""Client layer: `Download`, which writes one media version to a file.

The file is the variant's parts (segments, and fMP4 init sections where the
playlist has them) decrypted in order with their padding removed, exactly
the bytes the HLS engine serves. The engine fetches and decrypts; this
module resumes, retries parts and writes.

Resuming: an existing output file is cut back to the end of the last part it
contains completely, and the download goes on from the next part. A file longer
than the media is not this media and is started again.

NOTE: resuming trusts the bytes already on disk; a file of another media
that is shorter than this one is kept as its first parts.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import trio

from toutvfs.client.model import DownloadProgress, MediaVersion
from toutvfs.client.redact import redacted_logger
from toutvfs.errors import DownloadError, NetworkError, NoSpaceLeft, SegmentError

if TYPE_CHECKING:
    from toutvfs.client.facade import Client
    from toutvfs.hls import Stream

log = redacted_logger(__name__)

# Attempts per part when a fetch fails after the engine's own retries. The
# facade's engine keeps no failure hold, so each attempt sends a request.
PART_ATTEMPTS = 3

# Seconds between two attempts at one part.
PART_RETRY_DELAY = 1.0


class Download:
    """A download of one `MediaVersion`; nothing is fetched until iterated.

    Attributes:
        media_version: what is downloaded.
    """

    def __init__(self, client: Client, media_version: MediaVersion) -> None:
        self._client = client
        self.media_version = media_version

    def __repr__(self) -> str:
        version = self.media_version
        return (
            f"Download(id_media={version.id_media!r}, variant={version.variant_key!r})"
        )

    def iter_download(
        self, output_path: str | os.PathLike[str], chunk_size: int = 4096
    ) -> Iterator[DownloadProgress]:
        """Write the media to *output_path*, yielding progress after each chunk.

        Raises:
            NoSpaceLeft: the disk filled up; the parts written so far stay,
                so a later call resumes.
            DownloadError: the file could not be written, or a part failed
                after its retries.
            MediaUnavailable, UnsupportedMedia: the service refused the media.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        path = Path(output_path)
        version = self.media_version
        client = self._client
        engine = client._engine()
        session = client.session

        async def resolve() -> str:
            return await session.validate(version.id_media)

        async def open_stream() -> tuple[Stream, tuple[int, ...]]:
            stream = await engine.open(version.id_media, version.variant_key, resolve)
            layout = engine.layouts.load(version.id_media, version.variant_key)
            if layout is None or layout.total != stream.size:
                await stream.close()
                raise DownloadError(
                    f"no layout for media {version.id_media} variant "
                    f"{version.variant_key}",
                    download=self,
                )
            return stream, layout.starts

        started = time.monotonic()
        stream, starts = client._run(open_stream)
        try:
            yield from self._write(path, stream, starts, chunk_size, started)
        finally:
            client._run(stream.close)

    def _write(
        self,
        path: Path,
        stream: Stream,
        starts: tuple[int, ...],
        chunk_size: int,
        started: float,
    ) -> Iterator[DownloadProgress]:
        total_parts = len(starts) - 1
        total = starts[-1]
        with self._open_output(path) as output:
            size_on_disk = os.fstat(output.fileno()).st_size
            done = _complete_parts(starts, size_on_disk)
            if size_on_disk != starts[done]:
                self._truncate(path, output, starts[done])
            if done:
                log.info(
                    "resuming %s at part %d of %d (%d bytes on disk)",
                    path,
                    done,
                    total_parts,
                    starts[done],
                )
            written = starts[done]
            yield DownloadProgress(
                written, done, total_parts, time.monotonic() - started
            )
            for position in range(done, total_parts):
                data = self._fetch_part(stream, starts, position)
                for low in range(0, len(data), chunk_size):
                    chunk = data[low : low + chunk_size]
                    self._write_chunk(path, output, chunk)
                    written += len(chunk)
                    segments = (
                        position + 1 if written == starts[position + 1] else position
                    )
                    yield DownloadProgress(
                        written, segments, total_parts, time.monotonic() - started
                    )
            self._finish(path, output)
        if written != total:
            raise DownloadError(
                f"{path}: wrote {written} bytes of {total}", download=self
            )

    def _fetch_part(
        self, stream: Stream, starts: tuple[int, ...], position: int
    ) -> bytes:
        start, end = starts[position], starts[position + 1]
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                data = self._client._run(stream.read, start, end - start)
            except (NetworkError, SegmentError) as exc:
                if attempt == PART_ATTEMPTS:
                    raise DownloadError(
                        f"part {position} of media {self.media_version.id_media} "
                        f"failed after {attempt} attempts: {exc}",
                        download=self,
                    ) from exc
                log.warning(
                    "part %d of media %s failed (attempt %d of %d): %s",
                    position,
                    self.media_version.id_media,
                    attempt,
                    PART_ATTEMPTS,
                    exc,
                )
                self._client._run(trio.sleep, PART_RETRY_DELAY)
                continue
            if len(data) != end - start:
                raise DownloadError(
                    f"part {position} returned {len(data)} bytes, expected "
                    f"{end - start}",
                    download=self,
                )
            return data
        raise AssertionError("unreachable")

    def _open_output(self, path: Path) -> BinaryIO:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            return os.fdopen(descriptor, "r+b")
        except OSError as exc:
            raise self._error(path, "open", exc) from exc

    def _truncate(self, path: Path, output: BinaryIO, size: int) -> None:
        try:
            output.truncate(size)
            output.seek(size)
        except OSError as exc:
            raise self._error(path, "truncate", exc) from exc

    def _write_chunk(self, path: Path, output: BinaryIO, chunk: bytes) -> None:
        try:
            output.write(chunk)
        except OSError as exc:
            raise self._error(path, "write", exc) from exc

    def _finish(self, path: Path, output: BinaryIO) -> None:
        try:
            output.flush()
            os.fsync(output.fileno())
        except OSError as exc:
            raise self._error(path, "flush", exc) from exc

    def _error(self, path: Path, action: str, exc: OSError) -> DownloadError:
        if exc.errno == errno.ENOSPC:
            return NoSpaceLeft(
                f"no space left on device to {action} {path}", download=self
            )
        return DownloadError(f"cannot {action} {path}: {exc}", download=self)


def _complete_parts(starts: tuple[int, ...], size_on_disk: int) -> int:
    """Return how many whole parts a file of *size_on_disk* bytes contains."""
    if size_on_disk > starts[-1]:
        return 0
    done = 0
    while done < len(starts) - 1 and starts[done + 1] <= size_on_disk:
        done += 1
    return done
