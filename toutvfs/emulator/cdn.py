"""Emulator layer: the CDN side: master and media playlists, keys, segments.

Every media URL lives under ``/cdn/out/v1/<idMedia>/`` and carries the
``hdnea`` token of the validation that handed out the master URL; playlists
copy that token onto every URI they list. The media mode of the episode
decides how its media playlists are written:

=================  ==========================================================
``aes``            segments encrypted by ffmpeg's HLS muxer, one
                   ``EXT-X-KEY`` with the explicit IV that ffmpeg writes
``aes-implicit-iv``  no ``IV`` attribute: the IV is the media sequence number
``aes-explicit-iv``  one random explicit IV for every segment
``aes-rotation``   a new key (and ``EXT-X-KEY``) every four segments
``clear``          no key
``none-after-key``  the first half keyed, then ``METHOD=NONE`` and clear
``sample-aes``     ``METHOD=SAMPLE-AES`` with a FairPlay key format
``fmp4``           fMP4 segments after an ``EXT-X-MAP`` init section
``byterange``      one MPEG-TS file addressed with ``EXT-X-BYTERANGE``
=================  ==========================================================
"""

from __future__ import annotations

from toutvfs.emulator.media import ROTATION_SEGMENTS_PER_KEY, MediaSet, Segment

# The directories of a media set that segment URLs may name.
LAYOUTS = frozenset(
    {
        "clear",
        "ffmpeg-aes",
        "fmp4",
        "single",
        "implicit-iv",
        "explicit-iv",
        "rotation",
    }
)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"

CONTENT_TYPES = {
    ".m3u8": PLAYLIST_TYPE,
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".key": "application/octet-stream",
    ".vtt": "text/vtt",
    ".mpd": "application/dash+xml",
}

_LAYOUT_OF_MODE = {
    "aes": "ffmpeg-aes",
    "aes-implicit-iv": "implicit-iv",
    "aes-explicit-iv": "explicit-iv",
    "aes-rotation": "rotation",
    "clear": "clear",
    "none-after-key": "clear",
    "sample-aes": "clear",
    "fmp4": "fmp4",
    "byterange": "single",
}


def media_root(base: str, id_media: int) -> str:
    """Return the URL of the directory holding *id_media*'s HLS files."""
    return f"{base}/cdn/out/v1/{id_media}"


def master_playlist(media: MediaSet, token: str) -> str:
    """Return the master playlist, variants by increasing bandwidth."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-INDEPENDENT-SEGMENTS"]
    fps = media.profile.fps
    for index, entry in enumerate(media.variants):
        variant = entry.variant
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={entry.peak_bandwidth},"
            f"AVERAGE-BANDWIDTH={entry.average_bandwidth},"
            f"RESOLUTION={variant.width}x{variant.height},"
            f'CODECS="{entry.codecs}",FRAME-RATE={fps:.3f}'
        )
        lines.append(f"v{index}/index.m3u8?hdnea={token}")
    return "\n".join(lines) + "\n"


def media_playlist(
    media: MediaSet, variant_index: int, mode: str, root: str, token: str
) -> str:
    """Return the media playlist of one variant in *mode*.

    *root* is the URL that `media_root` returns; key URIs are absolute under
    it and segment URIs relative to the playlist.
    """
    entry = media.variants[variant_index]
    layout = _LAYOUT_OF_MODE[mode]
    # The layouts encrypted here reuse the names and durations of the clear
    # segments they were made from.
    listed = layout if layout in ("ffmpeg-aes", "fmp4", "single") else "clear"
    segments = entry.segments[listed]
    version = {"fmp4": 7, "sample-aes": 5, "byterange": 4}.get(mode, 3)
    target = max(round(s.duration) for s in segments)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].sequence}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]

    def key_line(name: str, iv: str | None = None) -> str:
        uri = f"{root}/keys/{name}.key?hdnea={token}"
        line = f'#EXT-X-KEY:METHOD=AES-128,URI="{uri}"'
        return line + (f",IV=0x{iv}" if iv else "")

    def segment_uri(layout_name: str, segment: Segment) -> str:
        return f"{layout_name}/{segment.name}?hdnea={token}"

    if mode == "aes":
        lines.append(key_line("ffmpeg", entry.ffmpeg_iv))
    elif mode == "aes-implicit-iv":
        lines.append(key_line("main"))
    elif mode == "aes-explicit-iv":
        lines.append(key_line("main", media.explicit_iv))
    elif mode == "sample-aes":
        lines.append(
            f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://{root.rsplit("/", 1)[1]}",'
            'KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"'
        )
    elif mode == "fmp4":
        lines.append(f'#EXT-X-MAP:URI="fmp4/init.mp4?hdnea={token}"')

    keyed_half = (len(segments) + 1) // 2
    for position, segment in enumerate(segments):
        segment_layout = layout
        if mode == "aes-rotation" and position % ROTATION_SEGMENTS_PER_KEY == 0:
            lines.append(key_line(f"rot-{position // ROTATION_SEGMENTS_PER_KEY}"))
        if mode == "none-after-key":
            if position == 0:
                lines.append(key_line("main"))
            if position == keyed_half:
                lines.append("#EXT-X-KEY:METHOD=NONE")
            if position < keyed_half:
                segment_layout = "implicit-iv"
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        if segment.byterange is not None:
            length, offset = segment.byterange
            lines.append(f"#EXT-X-BYTERANGE:{length}@{offset}")
        lines.append(segment_uri(segment_layout, segment))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def dash_manifest(id_media: int) -> str:
    """Return a DASH manifest whose only content is CENC-protected."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT60S" '
        'profiles="urn:mpeg:dash:profile:isoff-live:2011">\n'
        f'  <Period id="{id_media}">\n'
        '    <AdaptationSet mimeType="video/mp4" contentType="video">\n'
        '      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" '
        'value="cenc"/>\n'
        "      <ContentProtection "
        'schemeIdUri="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"/>\n'
        '      <Representation id="v0" bandwidth="800000" width="640" '
        'height="360" codecs="avc1.42c01e"/>\n'
        "    </AdaptationSet>\n"
        "  </Period>\n"
        "</MPD>\n"
    )
