"""Emulator layer: a local TOU.TV service for the demo, the tests and the
benchmarks.

It serves the catalogue, media and account APIs, the B2C login flow and real
HLS media made by ffmpeg, with scripted faults and network shaping::

    from toutvfs.emulator import Emulator

    with Emulator() as emulator:
        emulator.base_url      # "http://127.0.0.1:PORT"
        emulator.request_log   # list of RequestRecord
"""

from toutvfs.emulator.faults import Fault
from toutvfs.emulator.handler import RequestRecord
from toutvfs.emulator.loader import CatalogueError, load, load_demo
from toutvfs.emulator.media import MediaProfile, Variant
from toutvfs.emulator.model import Catalogue
from toutvfs.emulator.server import Emulator
from toutvfs.emulator.shaping import Shaping

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Emulator",
    "Fault",
    "MediaProfile",
    "RequestRecord",
    "Shaping",
    "Variant",
    "load",
    "load_demo",
]
