"""Emulator layer: generate the HLS media that the emulator serves, once.

ffmpeg encodes a test picture with a tone for every variant of a media
profile, then its HLS muxer cuts the same streams four times: clear MPEG-TS
segments, segments it encrypts itself with AES-128 (``-hls_key_info_file``),
fMP4 segments with an init section, and one MPEG-TS file addressed by byte
ranges. The cases the muxer cannot make (implicit IV, key rotation) are built
from the clear segments by `toutvfs.emulator.encrypt`.

Media live in a cache directory keyed by a hash of the generation parameters.
Each set is built in a temporary directory beside its final place and then
renamed, so two processes that generate the same set at once both end with a
complete one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from toutvfs.emulator import encrypt

log = logging.getLogger(__name__)

# Bump when the layout or content of a generated set changes, so that old
# cache entries are no longer used.
GENERATOR_VERSION = 4

# The variable that overrides the cache directory of generated media.
MEDIA_DIR_ENV = "TOUTVFS_EMULATOR_MEDIA"

# Segments per key in the key rotation case.
ROTATION_SEGMENTS_PER_KEY = 4

FFMPEG_TIMEOUT = 300.0


@dataclass(frozen=True)
class Variant:
    """One rendition of a media profile.

    Attributes:
        width, height: picture size in pixels.
        bitrate: target video bit rate in bit/s.
    """

    width: int
    height: int
    bitrate: int

    @property
    def name(self) -> str:
        return f"{self.height}p"


@dataclass(frozen=True)
class MediaProfile:
    """Generation parameters of one media set, which many episodes may share.

    Attributes:
        duration: length in seconds.
        segment_duration: target segment length in seconds; every segment but
            the last has exactly this length, because key frames are forced
            at its multiples.
        first_sequence: media sequence number of the first segment.
        fps: frames per second of the test picture.
        tone: frequency of the sine tone in Hz.
        variants: renditions, any order; the master lists them by bandwidth.
    """

    duration: float = 60.0
    segment_duration: int = 5
    first_sequence: int = 4816
    fps: int = 25
    tone: int = 440
    variants: tuple[Variant, ...] = (
        Variant(320, 180, 300_000),
        Variant(640, 360, 800_000),
    )

    def cache_key(self) -> str:
        """Return the hash that names this profile's directory in the cache."""
        params = asdict(self) | {"generator": GENERATOR_VERSION}
        text = json.dumps(params, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Segment:
    """A segment as a playlist lists it.

    Attributes:
        sequence: media sequence number.
        duration: EXTINF duration in seconds.
        name: file name inside the mode's directory.
        byterange: (length, offset) into the file, for the byte-range case.
    """

    sequence: int
    duration: float
    name: str
    byterange: tuple[int, int] | None = None


@dataclass
class VariantMedia:
    """Everything generated for one variant.

    Attributes:
        variant: the rendition.
        directory: root of this variant's files.
        segments: per layout (``clear``, ``ffmpeg-aes``, ``fmp4``,
            ``single``), the segments in playlist order.
        ffmpeg_iv: the IV that ffmpeg's muxer wrote in its ``EXT-X-KEY``,
            as 32 hex digits.
        average_bandwidth, peak_bandwidth: measured over the clear segments,
            in bit/s.
        codecs: the ``CODECS`` attribute of the variant (RFC 6381).
    """

    variant: Variant
    directory: Path
    segments: dict[str, list[Segment]] = field(default_factory=dict)
    ffmpeg_iv: str = ""
    average_bandwidth: int = 0
    peak_bandwidth: int = 0
    codecs: str = ""


@dataclass
class MediaSet:
    """A generated media set on disk.

    Attributes:
        profile: the parameters it was made from.
        directory: its directory in the cache.
        variants: one entry per variant, lowest bandwidth first.
        keys: key name to the 16 key bytes (``main``, ``ffmpeg``, ``rot-N``).
        explicit_iv: the IV of the explicit IV case, as 32 hex digits.
    """

    profile: MediaProfile
    directory: Path
    variants: list[VariantMedia]
    keys: dict[str, bytes]
    explicit_iv: str


def default_cache_dir() -> Path:
    """Return where generated media are kept: ``$TOUTVFS_EMULATOR_MEDIA``,
    else the user cache directory."""
    override = os.environ.get(MEDIA_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("toutvfs")) / "emulator-media"


class MediaStore:
    """Generated media sets under one cache directory, made on first use."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_cache_dir()
        self._lock = threading.Lock()
        self._sets: dict[str, MediaSet] = {}

    def get(self, profile: MediaProfile) -> MediaSet:
        """Return the media set of *profile*, generating it if it is missing."""
        key = profile.cache_key()
        with self._lock:
            found = self._sets.get(key)
            if found is None:
                found = self._load_or_generate(profile, key)
                self._sets[key] = found
            return found

    def _load_or_generate(self, profile: MediaProfile, key: str) -> MediaSet:
        final = self.root / key
        if not (final / "manifest.json").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            log.info("generating emulator media %s in %s", key, final)
            staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
            try:
                generate(profile, staging)
                try:
                    staging.rename(final)
                except OSError:
                    # Another process renamed its complete copy first.
                    if not (final / "manifest.json").exists():
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            log.info(
                "generated emulator media %s in %.1f s", key, time.monotonic() - started
            )
        return read_manifest(profile, final)


def generate(profile: MediaProfile, directory: Path) -> None:
    """Generate every file of *profile* into *directory*, manifest last."""
    variants = sorted(profile.variants, key=lambda v: v.bitrate)
    keys = {"main": os.urandom(16), "ffmpeg": os.urandom(16)}
    explicit_iv = os.urandom(16).hex()
    keys_dir = directory / "keys"
    keys_dir.mkdir()
    _encode_sources(profile, variants, directory)
    manifest: dict[str, Any] = {"variants": [], "explicit_iv": explicit_iv}
    for index, variant in enumerate(variants):
        vdir = directory / f"v{index}"
        source = directory / f"source-{index}.ts"
        codecs = _probe_codecs(source)
        segments = _mux_layouts(profile, source, vdir, keys, keys_dir)
        clear = segments["clear"]
        rotation_keys = (len(clear) + ROTATION_SEGMENTS_PER_KEY - 1) // (
            ROTATION_SEGMENTS_PER_KEY
        )
        for n in range(rotation_keys):
            keys.setdefault(f"rot-{n}", os.urandom(16))
        _encrypt_layouts(vdir, clear, keys, bytes.fromhex(explicit_iv))
        source.unlink()
        sizes = [(vdir / "clear" / s.name).stat().st_size for s in clear]
        manifest["variants"].append(
            {
                "variant": asdict(variant),
                "segments": {
                    name: [asdict(s) for s in segs] for name, segs in segments.items()
                },
                "ffmpeg_iv": _ffmpeg_iv(vdir / "ffmpeg-aes" / "index.m3u8"),
                "codecs": codecs,
                "average_bandwidth": int(8 * sum(sizes) / profile.duration),
                "peak_bandwidth": int(
                    max(
                        8 * size / s.duration
                        for size, s in zip(sizes, clear, strict=True)
                    )
                ),
            }
        )
    for name, value in keys.items():
        (keys_dir / f"{name}.key").write_bytes(value)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))


def _run_ffmpeg(args: list[str]) -> None:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT)
    except FileNotFoundError as exc:
        raise RuntimeError(
            "ffmpeg not found: install it (apt install ffmpeg) to generate media"
        ) from exc
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"ffmpeg failed: {stderr}") from exc


def _encode_sources(
    profile: MediaProfile, variants: list[Variant], directory: Path
) -> None:
    """Encode every variant in one ffmpeg run, one MPEG-TS file each."""
    gop = profile.fps * profile.segment_duration
    largest = max(variants, key=lambda v: v.width * v.height)
    duration = str(profile.duration)
    args = [
        "-t",
        duration,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={largest.width}x{largest.height}:rate={profile.fps}",
        "-t",
        duration,
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={profile.tone}:sample_rate=48000",
    ]
    labels = [f"[s{i}]" for i in range(len(variants))]
    scaled = ";".join(
        f"{labels[i]}scale={v.width}:{v.height}[v{i}]" for i, v in enumerate(variants)
    )
    args += ["-filter_complex", f"[0:v]split={len(variants)}{''.join(labels)};{scaled}"]
    for index, variant in enumerate(variants):
        args += [
            "-map",
            f"[v{index}]",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-b:v",
            str(variant.bitrate),
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ac",
            "2",
            "-f",
            "mpegts",
            str(directory / f"source-{index}.ts"),
        ]
    _run_ffmpeg(args)


def _probe_codecs(source: Path) -> str:
    """Return the RFC 6381 codecs string of an H.264 and AAC-LC file."""
    command = [
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=profile,level",
        "-of",
        "json",
        str(source),
    ]
    try:
        result = subprocess.run(
            command, check=True, capture_output=True, timeout=FFMPEG_TIMEOUT
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"ffprobe failed on {source}: {exc}") from exc
    stream = json.loads(result.stdout)["streams"][0]
    # profile_idc and constraint flags of the profiles x264 writes.
    profiles = {
        "Constrained Baseline": "42c0",
        "Baseline": "4200",
        "Main": "4d40",
        "High": "6400",
    }
    prefix = profiles.get(stream.get("profile", ""), "42c0")
    return f"avc1.{prefix}{int(stream['level']):02x},mp4a.40.2"


def _mux_layouts(
    profile: MediaProfile,
    source: Path,
    vdir: Path,
    keys: dict[str, bytes],
    keys_dir: Path,
) -> dict[str, list[Segment]]:
    """Cut *source* into the four layouts ffmpeg's HLS muxer makes itself."""
    common = [
        "-i",
        str(source),
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        str(profile.segment_duration),
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-start_number",
        str(profile.first_sequence),
    ]
    for name in ("clear", "ffmpeg-aes", "fmp4", "single"):
        (vdir / name).mkdir(parents=True)

    _run_ffmpeg(
        [
            *common,
            "-hls_segment_filename",
            str(vdir / "clear" / "seg_%05d.ts"),
            str(vdir / "clear" / "index.m3u8"),
        ]
    )

    key_file = keys_dir / "ffmpeg.key"
    key_file.write_bytes(keys["ffmpeg"])
    key_info = vdir / "ffmpeg-aes" / "key-info.txt"
    key_info.write_text(f"ffmpeg.key\n{key_file}\n")
    _run_ffmpeg(
        [
            *common,
            "-hls_key_info_file",
            str(key_info),
            "-hls_segment_filename",
            str(vdir / "ffmpeg-aes" / "seg_%05d.ts"),
            str(vdir / "ffmpeg-aes" / "index.m3u8"),
        ]
    )
    key_info.unlink()

    _run_ffmpeg(
        [
            *common,
            "-bsf:a",
            "aac_adtstoasc",
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-hls_segment_filename",
            str(vdir / "fmp4" / "seg_%05d.m4s"),
            str(vdir / "fmp4" / "index.m3u8"),
        ]
    )

    _run_ffmpeg(
        [
            *common,
            "-hls_flags",
            "single_file",
            "-hls_segment_filename",
            str(vdir / "single" / "all.ts"),
            str(vdir / "single" / "index.m3u8"),
        ]
    )

    # The single-file mode ignores -start_number, so renumber from the
    # profile's first sequence like the other layouts.
    return {
        name: _parse_ffmpeg_playlist(vdir / name / "index.m3u8", profile.first_sequence)
        for name in ("clear", "ffmpeg-aes", "fmp4", "single")
    }


def _parse_ffmpeg_playlist(path: Path, first_sequence: int) -> list[Segment]:
    """Read the segments of a playlist that ffmpeg's muxer wrote."""
    segments: list[Segment] = []
    duration = 0.0
    byterange: tuple[int, int] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",")[0])
        elif line.startswith("#EXT-X-BYTERANGE:"):
            length, _, offset = line[len("#EXT-X-BYTERANGE:") :].partition("@")
            byterange = (int(length), int(offset))
        elif line and not line.startswith("#"):
            sequence = first_sequence + len(segments)
            segments.append(Segment(sequence, duration, line, byterange))
            byterange = None
    if not segments:
        raise RuntimeError(f"ffmpeg wrote a playlist without segments: {path}")
    return segments


def _ffmpeg_iv(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("#EXT-X-KEY:") and "IV=0x" in line:
            return line.split("IV=0x")[1].split(",")[0].lower()
    raise RuntimeError(f"ffmpeg wrote no IV in {path}")


def _encrypt_layouts(
    vdir: Path, clear: list[Segment], keys: dict[str, bytes], explicit_iv: bytes
) -> None:
    """Write the implicit IV, explicit IV and key rotation copies of *clear*."""
    for name in ("implicit-iv", "explicit-iv", "rotation"):
        (vdir / name).mkdir()
    for position, segment in enumerate(clear):
        data = (vdir / "clear" / segment.name).read_bytes()
        implicit = encrypt.sequence_iv(segment.sequence)
        rotation_key = keys[f"rot-{position // ROTATION_SEGMENTS_PER_KEY}"]
        outputs = {
            "implicit-iv": encrypt.aes128_cbc(data, keys["main"], implicit),
            "explicit-iv": encrypt.aes128_cbc(data, keys["main"], explicit_iv),
            "rotation": encrypt.aes128_cbc(data, rotation_key, implicit),
        }
        for name, output in outputs.items():
            (vdir / name / segment.name).write_bytes(output)


def read_manifest(profile: MediaProfile, directory: Path) -> MediaSet:
    """Load a generated media set from its directory."""
    manifest = json.loads((directory / "manifest.json").read_text())
    variants: list[VariantMedia] = []
    for index, entry in enumerate(manifest["variants"]):
        segments = {
            name: [
                Segment(
                    s["sequence"],
                    s["duration"],
                    s["name"],
                    tuple(s["byterange"]) if s["byterange"] else None,
                )
                for s in segs
            ]
            for name, segs in entry["segments"].items()
        }
        variants.append(
            VariantMedia(
                variant=Variant(**entry["variant"]),
                directory=directory / f"v{index}",
                segments=segments,
                ffmpeg_iv=entry["ffmpeg_iv"],
                average_bandwidth=entry["average_bandwidth"],
                peak_bandwidth=entry["peak_bandwidth"],
                codecs=entry["codecs"],
            )
        )
    keys = {
        path.stem: path.read_bytes() for path in sorted((directory / "keys").glob("*"))
    }
    return MediaSet(profile, directory, variants, keys, manifest["explicit_iv"])
