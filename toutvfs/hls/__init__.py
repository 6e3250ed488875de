"""HLS engine: exact-size random access to HLS VOD variants.

The file content of a variant is its parts (init sections and segments)
decrypted in playlist order with their padding removed. See
``docs/engine.md`` for how reads, sizes, read-ahead and the caches work.
"""

from toutvfs.hls.engine import Engine
from toutvfs.hls.fetch import RetryPolicy
from toutvfs.hls.playlist import Variant
from toutvfs.hls.readahead import ReadaheadSettings
from toutvfs.hls.stream import Stream

__all__ = ["Engine", "ReadaheadSettings", "RetryPolicy", "Stream", "Variant"]
