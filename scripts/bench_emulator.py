#!/usr/bin/env python3
"""Measure the emulator's segment throughput to parallel curl clients.

Starts ``python -m toutvfs.emulator`` on loopback, lists the segments of one
variant of a demo episode, then runs PARALLEL curl processes at once. Each
process fetches every segment ROUNDS times over one keep-alive connection.
Prints the bytes moved, the wall time and the throughput. Everything is
bounded: a fixed number of fetches and a timeout on each curl process.

    scripts/bench_emulator.py [--parallel 8] [--rounds 20] [--id-media 990005]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urljoin

CURL_TIMEOUT = 300


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def segment_urls(base: str, id_media: int, variant: int) -> list[str]:
    query = f"idMedia={id_media}&tech=hls"
    validation = json.loads(get(f"{base}/media/validation/v2/?{query}"))
    master_url = validation["url"]
    master = get(master_url).decode().splitlines()
    variants = [line for line in master if line and not line.startswith("#")]
    media_url = urljoin(master_url, variants[variant])
    lines = get(media_url).decode().splitlines()
    return [urljoin(media_url, line) for line in lines if line and line[0] != "#"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parallel", type=int, default=8, help="curl processes")
    parser.add_argument("--rounds", type=int, default=20, help="passes per process")
    parser.add_argument("--id-media", type=int, default=990005, help="demo episode")
    parser.add_argument("--variant", type=int, default=1, help="variant index")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "toutvfs.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        urls = segment_urls(base, args.id_media, args.variant)
        segment_bytes = sum(len(get(url)) for url in urls)
        fetches: list[str] = []
        for _ in range(args.rounds):
            fetches += urls
        argv = ["curl", "-s", "--fail", "-w", "%{size_download}\n"]
        for url in fetches:
            argv += ["-o", "/dev/null", url]
        started = time.monotonic()
        clients = [
            subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
            for _ in range(args.parallel)
        ]
        moved = 0
        for client in clients:
            output, _ = client.communicate(timeout=CURL_TIMEOUT)
            if client.returncode != 0:
                print(
                    f"curl failed with exit code {client.returncode}", file=sys.stderr
                )
                return 1
            moved += sum(int(line) for line in output.split())
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    expected = segment_bytes * args.rounds * args.parallel
    print(f"segments per pass: {len(urls)} ({segment_bytes} bytes)")
    print(f"parallel clients: {args.parallel}, passes each: {args.rounds}")
    print(f"bytes moved: {moved} (expected {expected})")
    print(f"wall time: {elapsed:.2f} s")
    print(f"throughput: {moved / elapsed / 1e6:.1f} MB/s")
    print(f"requests per second: {len(fetches) * args.parallel / elapsed:.0f}")
    return 0 if moved == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
