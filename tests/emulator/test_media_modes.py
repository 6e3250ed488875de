"""Emulator layer: every HLS media mode, checked as an independent client.

AES-128 segments are decrypted with the ``openssl enc`` command line and must
equal the clear segments of the same media, and ffmpeg, reading each mode's
master playlist over HTTP, must decode the same video frames as from the
clear mode.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import m3u8
import pytest

from toutvfs.emulator import Emulator

CLEAR = 990005
AES_MODES = {
    "aes": 990001,
    "aes-implicit-iv": 990002,
    "aes-explicit-iv": 990003,
    "aes-rotation": 990004,
    "none-after-key": 990006,
}
DECODABLE = {**AES_MODES, "clear": CLEAR, "fmp4": 990008, "byterange": 990009}


def master_url(client: httpx.Client, id_media: int) -> str:
    body = client.get("/media/validation/v2/", params={"idMedia": str(id_media)}).json()
    assert body["errorCode"] == 0
    url: str = body["url"]
    return url


def media_playlist(client: httpx.Client, id_media: int, variant: int = 0) -> m3u8.M3U8:
    url = master_url(client, id_media)
    master = m3u8.loads(client.get(url).text, uri=url)
    variant_url = master.playlists[variant].absolute_uri
    return m3u8.loads(client.get(variant_url).text, uri=variant_url)


def fetch(client: httpx.Client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content


def openssl_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    result = subprocess.run(
        ["openssl", "enc", "-aes-128-cbc", "-d", "-K", key.hex(), "-iv", iv.hex()],
        input=data,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def decrypted_segments(client: httpx.Client, playlist: m3u8.M3U8) -> Iterator[bytes]:
    """Yield each segment as a correct client would: decrypted, unpadded."""
    keys: dict[str, bytes] = {}
    for position, segment in enumerate(playlist.segments):
        data = fetch(client, segment.absolute_uri)
        key = segment.key
        if key is None or key.method == "NONE":
            yield data
            continue
        assert key.method == "AES-128"
        if key.absolute_uri not in keys:
            keys[key.absolute_uri] = fetch(client, key.absolute_uri)
        assert len(keys[key.absolute_uri]) == 16
        if key.iv:
            iv = bytes.fromhex(key.iv[2:])
        else:
            iv = (playlist.media_sequence + position).to_bytes(16, "big")
        yield openssl_decrypt(data, keys[key.absolute_uri], iv)


@pytest.fixture(scope="module")
def clear_segments(emulator: Emulator) -> list[bytes]:
    with httpx.Client(base_url=emulator.base_url) as client:
        playlist = media_playlist(client, CLEAR)
        assert all(s.key is None for s in playlist.segments)
        return [fetch(client, s.absolute_uri) for s in playlist.segments]


@pytest.mark.parametrize("mode", sorted(AES_MODES))
def test_aes_mode_decrypts_to_clear(
    client: httpx.Client, clear_segments: list[bytes], mode: str
) -> None:
    playlist = media_playlist(client, AES_MODES[mode])
    assert playlist.media_sequence == 4816
    decrypted = list(decrypted_segments(client, playlist))
    assert len(decrypted) == len(clear_segments)
    for position, (got, expected) in enumerate(
        zip(decrypted, clear_segments, strict=True)
    ):
        assert got == expected, f"{mode}: segment {position} differs"


def test_aes_mode_uses_ffmpeg_iv(client: httpx.Client) -> None:
    playlist = media_playlist(client, AES_MODES["aes"])
    assert len(playlist.keys) == 1
    assert playlist.keys[0].iv == "0x" + (4816).to_bytes(16, "big").hex()


def test_implicit_iv_mode_has_no_iv(client: httpx.Client) -> None:
    playlist = media_playlist(client, AES_MODES["aes-implicit-iv"])
    assert [key.iv for key in playlist.keys] == [None]
    assert playlist.keys[0].method == "AES-128"


def test_explicit_iv_mode_has_random_iv(client: httpx.Client) -> None:
    playlist = media_playlist(client, AES_MODES["aes-explicit-iv"])
    (key,) = playlist.keys
    assert key.iv is not None
    assert len(key.iv) == 34
    assert int(key.iv, 16) != 4816


def test_rotation_mode_changes_keys(client: httpx.Client) -> None:
    playlist = media_playlist(client, AES_MODES["aes-rotation"])
    uris = [segment.key.absolute_uri for segment in playlist.segments]
    assert len(set(uris)) == 3
    assert uris[0] == uris[3]
    assert uris[3] != uris[4]
    keys = {fetch(client, uri) for uri in set(uris)}
    assert len(keys) == 3


def test_none_after_key_mode(client: httpx.Client) -> None:
    playlist = media_playlist(client, AES_MODES["none-after-key"])
    methods = [segment.key.method for segment in playlist.segments]
    assert methods == ["AES-128"] * 6 + ["NONE"] * 6


def test_sample_aes_mode(client: httpx.Client) -> None:
    playlist = media_playlist(client, 990007)
    (key,) = playlist.keys
    assert key.method == "SAMPLE-AES"
    assert key.keyformat == "com.apple.streamingkeydelivery"
    assert key.uri.startswith("skd://")


def test_fmp4_mode(client: httpx.Client) -> None:
    playlist = media_playlist(client, 990008)
    assert playlist.version == 7
    (init,) = playlist.segment_map
    body = fetch(client, init.absolute_uri)
    assert body[4:8] == b"ftyp"
    first = fetch(client, playlist.segments[0].absolute_uri)
    assert first[4:8] == b"styp"
    assert b"moof" in first[:256]
    assert all(s.uri.split("?")[0].endswith(".m4s") for s in playlist.segments)


def test_byterange_mode(client: httpx.Client) -> None:
    playlist = media_playlist(client, 990009)
    whole_uri = playlist.segments[0].absolute_uri
    assert all(s.absolute_uri == whole_uri for s in playlist.segments)
    whole = fetch(client, whole_uri)
    offset = 0
    for segment in playlist.segments:
        length, _, start = segment.byterange.partition("@")
        assert int(start) == offset
        part = client.get(
            whole_uri, headers={"Range": f"bytes={offset}-{offset + int(length) - 1}"}
        )
        assert part.status_code == 206
        assert part.content == whole[offset : offset + int(length)]
        offset += int(length)
    assert offset == len(whole)


def video_md5(url: str) -> str:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", url, "-map", "0:v:0", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("mode", sorted(DECODABLE))
def test_mode_decodes_like_clear(client: httpx.Client, mode: str) -> None:
    expected = video_md5(master_url(client, CLEAR))
    assert expected.startswith("MD5=")
    assert video_md5(master_url(client, DECODABLE[mode])) == expected


def test_clear_media_probe(clear_segments: list[bytes], tmp_path: Path) -> None:
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(clear_segments))
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name:format=duration",
            "-of",
            "default=noprint_wrappers=1",
            str(joined),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = result.stdout.split()
    assert "codec_name=h264" in lines
    assert "codec_name=aac" in lines
    duration = float(next(x for x in lines if x.startswith("duration=")).split("=")[1])
    assert abs(duration - 60.0) < 0.5
