"""Emulator layer: generated media: layout, reuse and atomic creation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from toutvfs.emulator.media import MediaProfile, MediaStore, Variant

TINY = MediaProfile(
    duration=8,
    segment_duration=4,
    first_sequence=7,
    variants=(Variant(160, 90, 100_000),),
)

GENERATE = """
import sys
from pathlib import Path
from toutvfs.emulator.media import MediaProfile, MediaStore, Variant
profile = MediaProfile(duration=8, segment_duration=4, first_sequence=7,
                       variants=(Variant(160, 90, 100_000),))
media = MediaStore(Path(sys.argv[1])).get(profile)
print(media.directory)
"""


def test_generated_layouts(tmp_path: Path) -> None:
    media = MediaStore(tmp_path).get(TINY)
    (variant,) = media.variants
    assert set(variant.segments) == {"clear", "ffmpeg-aes", "fmp4", "single"}
    sequences = [s.sequence for s in variant.segments["clear"]]
    assert sequences == [7, 8]
    assert [s.duration for s in variant.segments["clear"]] == [4.0, 4.0]
    for layout in ("clear", "ffmpeg-aes", "implicit-iv", "explicit-iv", "rotation"):
        for segment in variant.segments["clear"]:
            assert (variant.directory / layout / segment.name).is_file()
    assert (variant.directory / "fmp4" / "init.mp4").is_file()
    assert {"main", "ffmpeg", "rot-0"} <= set(media.keys)
    assert all(len(key) == 16 for key in media.keys.values())


def test_generated_media_reused(tmp_path: Path) -> None:
    first = MediaStore(tmp_path).get(TINY)
    stamp = (first.directory / "manifest.json").stat().st_mtime_ns
    second = MediaStore(tmp_path).get(TINY)
    assert second.directory == first.directory
    assert (second.directory / "manifest.json").stat().st_mtime_ns == stamp
    assert second.keys == first.keys
    assert [p.name for p in tmp_path.iterdir()] == [first.directory.name]


def test_concurrent_generation(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", GENERATE, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        outputs.append(output.strip())
    assert outputs[0] == outputs[1]
    assert [p.name for p in tmp_path.iterdir()] == [Path(outputs[0]).name]
    media = MediaStore(tmp_path).get(TINY)
    assert len(media.variants[0].segments["clear"]) == 2


def test_cache_key_follows_parameters() -> None:
    assert (
        TINY.cache_key()
        == MediaProfile(
            duration=8,
            segment_duration=4,
            first_sequence=7,
            variants=(Variant(160, 90, 100_000),),
        ).cache_key()
    )
    assert TINY.cache_key() != MediaProfile().cache_key()
