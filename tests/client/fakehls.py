"""Client tests: a small AES-128 HLS media for the scripted service.

Each variant has three TS-like segments of made-up bytes, encrypted with
AES-128-CBC, PKCS#7 padding and the implicit IV (the media sequence number,
which starts at 5). `plaintext` is what a download must write.
"""

from __future__ import annotations

import hashlib

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY = bytes(range(16))
FIRST_SEQUENCE = 5
SEGMENT_SIZES = (5000, 7001, 3333)
VARIANTS = ((500000, 640, 360), (1500000, 1280, 720))


def segment_plaintext(bandwidth: int, index: int) -> bytes:
    seed = hashlib.sha256(f"{bandwidth}:{index}".encode()).digest()
    size = SEGMENT_SIZES[index]
    return (seed * (size // len(seed) + 1))[:size]


def plaintext(bandwidth: int) -> bytes:
    return b"".join(segment_plaintext(bandwidth, i) for i in range(len(SEGMENT_SIZES)))


def encrypt(data: bytes, sequence: int) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    iv = sequence.to_bytes(16, "big")
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def master(id_media: str) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for bandwidth, width, height in VARIANTS:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},"
            'CODECS="avc1.4d401f,mp4a.40.2"'
        )
        lines.append(f"v{bandwidth}.m3u8?hdnea=exp=9999999999~hmac=feed")
    return "\n".join(lines) + "\n"


def media(bandwidth: int) -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-TARGETDURATION:6",
        f"#EXT-X-MEDIA-SEQUENCE:{FIRST_SEQUENCE}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        '#EXT-X-KEY:METHOD=AES-128,URI="key.bin?hdnea=exp=9999999999~hmac=feed"',
    ]
    for index in range(len(SEGMENT_SIZES)):
        lines.append("#EXTINF:6.0,")
        lines.append(f"s{bandwidth}_{index}.ts?hdnea=exp=9999999999~hmac=feed")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def ranged(body: bytes, header: str | None) -> httpx.Response:
    """Return *body*, or the part a ``Range: bytes=...`` header requests."""
    if not header or not header.startswith("bytes="):
        return httpx.Response(200, content=body)
    first, _, last = header[len("bytes=") :].partition("-")
    size = len(body)
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    return httpx.Response(
        206,
        content=body[start : end + 1],
        headers={"Content-Range": f"bytes {start}-{end}/{size}"},
    )


def respond(
    path: str, range_header: str | None = None, failures: dict[str, int] | None = None
) -> httpx.Response:
    """Serve *path* under ``/hls/<id>/``, with Range support for segments."""
    name = path.rsplit("/", 1)[-1]
    id_media = path.split("/")[2]
    if failures and failures.get(name, 0) > 0:
        failures[name] -= 1
        return httpx.Response(503)
    if name == "master.m3u8":
        return httpx.Response(200, text=master(id_media))
    if name == "key.bin":
        return httpx.Response(200, content=KEY)
    if name.startswith("v") and name.endswith(".m3u8"):
        return httpx.Response(200, text=media(int(name[1:-5])))
    if name.startswith("s") and name.endswith(".ts"):
        bandwidth, index = (int(part) for part in name[1:-3].split("_"))
        body = encrypt(segment_plaintext(bandwidth, index), FIRST_SEQUENCE + index)
        return ranged(body, range_header)
    return httpx.Response(404)
