"""Benchmarks of the HLS engine alone, against a shaped loopback HLS server.

Subcommands:

    media DIR            write a 720p AES-128 HLS VOD with ffmpeg into DIR
    serve DIR            serve DIR on 127.0.0.1 with latency and a per-connection
                         rate; --synthetic COUNT:SIZE adds a clear stream of
                         generated segments under /synthetic/
    read URL             open the first variant of a master playlist and read
                         it to the end in 128 KiB reads, as ``cat`` does
    requests DIR         count the requests of open, a 4 KiB sniff, a tail
                         read and a seek (server in this process)
    seek DIR             time a seek to the middle against one segment fetch
                         (shaped server in this process)

Every server binds 127.0.0.1 only and stops after --max-seconds.
``docs/benchmarks.md`` records the commands and results.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import re
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import trio

from toutvfs.hls import Engine

READ_SIZE = 128 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def make_media(directory: Path, minutes: float, height: int) -> None:
    """Write DIR/master.m3u8 with one AES-128 TS variant of *minutes*."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "key.bin"
    key.write_bytes(bytes(range(16)))
    key_info = directory / "keyinfo"
    key_info.write_text(f"../key.bin\n{key}\n")
    variant = directory / f"v{height}"
    variant.mkdir(exist_ok=True)
    width = height * 16 // 9
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", str(minutes * 60), "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k", "-g", "50",
         "-c:a", "aac", "-b:a", "128k", "-f", "hls", "-hls_time", "6",
         "-hls_list_size", "0", "-hls_key_info_file", str(key_info),
         "-hls_segment_filename", str(variant / "s%d.ts"),
         str(variant / "media.m3u8")],
        check=True,
    )  # fmt: skip
    (directory / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION={width}x{height}\n"
        f"v{height}/media.m3u8\n"
    )


class _Server(socketserver.ThreadingTCPServer):
    # The default listen backlog of 5 drops connections of a burst, and the
    # client retries them only after a second.
    request_queue_size = 128
    daemon_threads = True


class ShapedServer:
    """A threaded HTTP server with Range, latency and per-connection rate.

    Args:
        root: the directory served.
        latency: seconds waited before each response.
        rate: bytes per second per connection, 0 for no limit.
        synthetic: (count, size) of a generated clear stream, or None.
    """

    def __init__(
        self,
        root: Path,
        latency: float,
        rate: float,
        synthetic: tuple[int, int] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.latency = latency
        self.rate = rate
        self.synthetic = synthetic
        self.log: list[tuple[str, str | None, int]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self) -> list[tuple[str, str | None, int]]:
        with self._lock:
            return list(self.log)

    def _content(self, path: str) -> bytes | None:
        if self.synthetic is not None and path.startswith("/synthetic/"):
            return self._synthetic(path.removeprefix("/synthetic/"))
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target.read_bytes()

    def _synthetic(self, name: str) -> bytes | None:
        assert self.synthetic is not None
        count, size = self.synthetic
        if name == "master.m3u8":
            return b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=8000000\nmedia.m3u8\n"
        if name == "media.m3u8":
            lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:6"]
            for index in range(count):
                lines += ["#EXTINF:6.0,", f"s{index}.ts"]
            return ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode()
        match = re.fullmatch(r"s(\d+)\.ts", name)
        if match is None or int(match.group(1)) >= count:
            return None
        # Each segment repeats its own index, so its bytes are cheap to make.
        word = int(match.group(1)).to_bytes(4, "big")
        return (word * (size // 4 + 1))[:size]

    def handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        byte_range = handler.headers.get("Range")
        if self.latency:
            time.sleep(self.latency)
        data = self._content(path)
        status, headers = 200, {}
        if data is None:
            status, data = 404, b"not found"
        elif (match := _RANGE.match(byte_range or "")) is not None:
            first, last = match.groups()
            size = len(data)
            start = int(first) if first else max(0, size - int(last))
            end = min(int(last), size - 1) if first and last else size - 1
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            data = data[start : end + 1]
        with self._lock:
            self.log.append((path, byte_range, status))
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            self._write_paced(handler, data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _write_paced(self, handler: Any, data: bytes) -> None:
        if not self.rate:
            handler.wfile.write(data)
            return
        chunk = 16384
        start = time.monotonic()
        for offset in range(0, len(data), chunk):
            handler.wfile.write(data[offset : offset + chunk])
            due = start + (offset + chunk) / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def serve(args: argparse.Namespace) -> None:
    synthetic = None
    if args.synthetic:
        count, size = args.synthetic.split(":")
        synthetic = (int(count), int(size))
    server = ShapedServer(
        Path(args.directory), args.latency_ms / 1000, args.mbit * 125_000, synthetic
    )
    print(server.base_url, flush=True)
    time.sleep(args.max_seconds)
    server.stop()


async def read_all(args: argparse.Namespace) -> None:
    cache = None if args.cache == "none" else Path(args.cache)
    async with httpx.AsyncClient() as http:
        engine = Engine(http, cache, args.cache_size)
        variants = await engine.variants(args.url)

        async def resolve() -> str:
            return str(args.url)

        start = trio.current_time()
        stream = await engine.open(args.media, variants[-1].key, resolve)
        opened = trio.current_time() - start
        total = 0
        digest = hashlib.sha256()
        for offset in range(0, stream.size, READ_SIZE):
            data = await stream.read(offset, READ_SIZE)
            total += len(data)
            if args.sha256:
                digest.update(data)
        await stream.close()
        elapsed = trio.current_time() - start
        await engine.wait_idle()
    if total != stream.size:
        raise SystemExit(f"read {total} bytes of {stream.size}")
    rate = total / elapsed / 1e6
    print(f"{total} bytes in {elapsed:.3f} s ({opened:.3f} s to open), {rate:.1f} MB/s")
    if args.sha256:
        print(f"sha256 {digest.hexdigest()}")


def _kind(request: tuple[str, str | None, int]) -> str:
    path, byte_range, _ = request
    if path.endswith(".m3u8"):
        return "playlist"
    if path.endswith(".bin"):
        return "key"
    if byte_range is None:
        return "segment (whole)"
    if byte_range == "bytes=-32":
        return "segment (last 32 bytes)"
    return "segment (range)"


async def count_requests(args: argparse.Namespace) -> None:
    server = ShapedServer(Path(args.directory), 0.0, 0.0)
    url = f"{server.base_url}/master.m3u8"
    steps: list[tuple[str, Counter[str]]] = []

    def step(name: str, before: int) -> int:
        requests = server.requests()[before:]
        steps.append((name, Counter(_kind(request) for request in requests)))
        return len(server.requests())

    with tempfile.TemporaryDirectory() as cache:
        async with httpx.AsyncClient() as http:

            async def resolve() -> str:
                return url

            engine = Engine(http, Path(cache), 1 << 30)
            mark = 0
            variants = await engine.variants(url)
            mark = step("variants (ls -l of a new episode)", mark)
            stream = await engine.open("bench", variants[-1].key, resolve)
            mark = step("open, cold (exact size)", mark)
            await stream.read(0, 4096)
            mark = step("4 KiB sniff at offset 0", mark)
            await stream.read(stream.size - 65536, 65536)
            mark = step("64 KiB read at the end (a probe's tail read)", mark)
            await stream.read(stream.size // 2, READ_SIZE)
            mark = step("128 KiB read at the middle (a seek)", mark)
            await stream.close()
            await engine.wait_idle()
            mark = len(server.requests())

            warm = Engine(http, Path(cache), 1 << 30)
            warm.known_size("bench", variants[-1].key)
            mark = step("known_size from the stored layout", mark)
            stream = await warm.open("bench", variants[-1].key, resolve)
            mark = step("open again, new engine, same cache", mark)
            await stream.close()
    server.stop()
    for name, counts in steps:
        detail = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        print(f"{name}: {sum(counts.values())} ({detail or 'none'})")


async def time_seek(args: argparse.Namespace) -> None:
    server = ShapedServer(
        Path(args.directory), args.latency_ms / 1000, args.mbit * 125_000
    )
    url = f"{server.base_url}/master.m3u8"
    opens, seeks, segments = [], [], []
    async with httpx.AsyncClient() as http:

        async def resolve() -> str:
            return url

        for _ in range(args.runs):
            engine = Engine(http, None, 0)
            variants = await engine.variants(url)
            start = trio.current_time()
            stream = await engine.open("bench", variants[-1].key, resolve)
            opened = trio.current_time()
            await stream.read(stream.size // 2, READ_SIZE)
            seeks.append(trio.current_time() - opened)
            opens.append(opened - start)
            await stream.close()

            playlist = (await http.get(variants[-1].uri)).text
            names = [line for line in playlist.splitlines() if line.endswith(".ts")]
            segment_url = httpx.URL(variants[-1].uri).join(names[len(names) // 2])
            start = trio.current_time()
            await http.get(segment_url)
            segments.append(trio.current_time() - start)
    server.stop()
    result = {
        "runs": args.runs,
        "open_median_s": round(statistics.median(opens), 3),
        "seek_read_median_s": round(statistics.median(seeks), 3),
        "one_segment_get_median_s": round(statistics.median(segments), 3),
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    media = commands.add_parser("media", help="write benchmark media with ffmpeg")
    media.add_argument("directory")
    media.add_argument("--minutes", type=float, default=10.0, help="duration")
    media.add_argument("--height", type=int, default=720, help="video height, px")

    for name in ("serve", "seek"):
        command = commands.add_parser(name)
        command.add_argument("directory")
        command.add_argument(
            "--latency-ms", type=float, default=50.0, help="delay per response, ms"
        )
        command.add_argument(
            "--mbit", type=float, default=20.0, help="Mbit/s per connection, 0: none"
        )
        if name == "serve":
            command.add_argument("--synthetic", help="COUNT:SIZE generated segments")
            command.add_argument(
                "--max-seconds", type=float, default=3600.0, help="serving time, s"
            )
        else:
            command.add_argument("--runs", type=int, default=7, help="repetitions")

    read = commands.add_parser("read", help="read a variant to the end")
    read.add_argument("url")
    read.add_argument("--cache", default="none", help="cache directory or 'none'")
    read.add_argument("--cache-size", type=int, default=8 << 30, help="bytes")
    read.add_argument("--media", default="bench", help="media key")
    read.add_argument("--sha256", action="store_true", help="print the content hash")

    requests = commands.add_parser("requests", help="count requests per step")
    requests.add_argument("directory")

    args = parser.parse_args()
    if args.command == "media":
        make_media(Path(args.directory), args.minutes, args.height)
    elif args.command == "serve":
        serve(args)
    elif args.command == "read":
        trio.run(read_all, args)
    elif args.command == "requests":
        trio.run(count_requests, args)
    else:
        trio.run(time_seek, args)


if __name__ == "__main__":
    sys.exit(main())
