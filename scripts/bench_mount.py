#!/usr/bin/env python3
"""Benchmarks of reads through a toutvfs mount, beside the tools people use.

Every measure runs against the emulator started by this script on 127.0.0.1,
shaped like a distant CDN (50 ms per request, 20 Mbit/s per connection unless
told otherwise), with the catalogue in ``scripts/bench/catalogue.toml``: one
ten-minute episode in 360p and 720p.

    scripts/bench_mount.py serve [--latency S] [--rate BYTES_PER_S]
        start the emulator and print its URL, then serve until Ctrl-C
    scripts/bench_mount.py master URL
        print a fresh master playlist URL of the episode
    scripts/bench_mount.py cold-cat URL
        mount with an empty cache, cat the 720p file to /dev/null, unmount
    scripts/bench_mount.py first-frame URL [--warm] [--listed] [--start PERCENT]
        mount, play one frame with mpv (after a full read when --warm, after
        listing the episode directory when --listed)
    scripts/bench_mount.py warm-cat URL
        fill the segment cache, then time a read from it in a new mount,
        beside a read of the same bytes from a local file
    scripts/bench_mount.py requests URL LOG
        count the emulator requests that ls -l, a 4 KiB read, ffprobe and a
        seek cause, from the emulator's request log LOG
    scripts/bench_mount.py rss URL
        read the whole 720p file and print the mount's peak resident memory
    scripts/bench_mount.py rss-hls MASTER_URL
        mount MASTER_URL with --hls, read its only variant to the end and
        print the mount's resident memory after each GiB and at the end; a
        synthetic 4 GiB stream comes from ``scripts/bench_engine.py serve``

Each command prints one JSON line with what it measured. Time whole commands
from outside (with hyperfine or /usr/bin/time) to compare them with ffmpeg,
yt-dlp and mpv on the master URL; docs/benchmarks.md lists the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import trio

from toutvfs.client import PasswordLogin, Session
from toutvfs.config import Config

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "bench" / "catalogue.toml"
ID_MEDIA = "700001"
EPISODE = "shows/Banc d'essai/Saison 1/S01E01 Dix minutes"
HIGH = "1280x720.ts"
USER = "demo@toutvfs.test"
PASSWORD = "demo"

# Shaping of a distant CDN: seconds added per request, bytes per second per
# connection (20 Mbit/s).
LATENCY = 0.05
RATE = 2_500_000

# Generous bounds: a benchmark that exceeds them has hung.
MOUNT_TIMEOUT = 60.0
COMMAND_TIMEOUT = 900.0


def serve(latency: float, rate: int, log: str | None) -> None:
    command = [
        sys.executable,
        "-m",
        "toutvfs.emulator",
        "--catalogue",
        str(CATALOGUE),
        "--latency",
        str(latency),
        "--rate",
        str(rate),
    ]
    if log:
        command += ["--log", log]
    os.execv(sys.executable, command)


def master_url(base_url: str) -> str:
    """Return a fresh signed master playlist URL of the benchmark episode."""

    async def validate() -> str:
        async with httpx.AsyncClient() as http:
            session = Session(
                Config.for_emulator(base_url), http, PasswordLogin(USER, PASSWORD)
            )
            return await session.validate(ID_MEDIA)

    return trio.run(validate)


@contextmanager
def mounted(base_url: str, *extra: str) -> Iterator[tuple[Path, int]]:
    """Mount the emulator with an empty cache; yield the mountpoint and PID."""
    with mounted_source(("--emulator", base_url, "--user", USER), *extra) as mount:
        yield mount


@contextmanager
def mounted_source(source: tuple[str, ...], *extra: str) -> Iterator[tuple[Path, int]]:
    """Mount *source* options with an empty cache; yield the mountpoint and PID."""
    work = Path(tempfile.mkdtemp(prefix="toutvfs-bench-"))
    mountpoint = work / "mnt"
    mountpoint.mkdir()
    env = dict(os.environ, TOUTVFS_PASSWORD=PASSWORD)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toutvfs",
            "-f",
            *source,
            "--cache-dir",
            str(work / "cache"),
            "--log-level",
            "WARNING",
            *extra,
            str(mountpoint),
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: toutvfs did not mount")
            time.sleep(0.02)
        yield mountpoint, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def cat(path: Path) -> tuple[int, float]:
    """Read *path* to the end in 1 MiB reads; return bytes and seconds."""
    started = time.perf_counter()
    total = 0
    with path.open("rb", buffering=0) as handle:
        while chunk := handle.read(1 << 20):
            total += len(chunk)
    return total, time.perf_counter() - started


def report(**values: object) -> None:
    print(json.dumps(values), flush=True)


def cold_cat(base_url: str) -> None:
    with mounted(base_url) as (root, _pid):
        size, seconds = cat(root / EPISODE / HIGH)
    report(measure="cold-cat", bytes=size, seconds=round(seconds, 3))


def warm_cat(base_url: str) -> None:
    """Time a read served from the segment cache, beside a local file.

    The first mount fills the segment cache; the second mount, a new
    process with an empty page cache for its files, reads from it, then
    reads the file again from the kernel's page cache. The same bytes are
    then written to a local file and read back, with that file in the page
    cache as the segment cache files are.
    """
    with tempfile.TemporaryDirectory(prefix="toutvfs-bench-") as work:
        cache = ("--cache-dir", str(Path(work) / "cache"))
        with mounted(base_url, *cache) as (root, _pid):
            cat(root / EPISODE / HIGH)
        local = Path(work) / "local.ts"
        with mounted(base_url, *cache) as (root, _pid):
            path = root / EPISODE / HIGH
            size, seconds = cat(path)
            # The kernel keeps the pages of the first read between opens,
            # so a second read never reaches toutvfs: the fastest any FUSE
            # file reads on this machine.
            _, again_seconds = cat(path)
            shutil.copyfile(path, local)
        cat(local)
        local_size, local_seconds = cat(local)
    report(
        measure="warm-cat",
        bytes=size,
        seconds=round(seconds, 3),
        mib_per_s=round(size / seconds / 2**20, 1),
        page_cache_seconds=round(again_seconds, 3),
        page_cache_mib_per_s=round(size / again_seconds / 2**20, 1),
        local_file_seconds=round(local_seconds, 3),
        local_file_mib_per_s=round(local_size / local_seconds / 2**20, 1),
    )


def first_frame(base_url: str, warm: bool, start: str | None, listed: bool) -> None:
    with mounted(base_url) as (root, _pid):
        path = root / EPISODE / HIGH
        if warm:
            cat(path)
        elif listed:
            # As a file manager or shell completion does before a play.
            os.listdir(path.parent)
        command = ["mpv", "--no-config", "--vo=null", "--ao=null", "--frames=1"]
        if start:
            command.append(f"--start={start}")
        started = time.perf_counter()
        subprocess.run(
            [*command, str(path)],
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )
        seconds = time.perf_counter() - started
    report(
        measure="first-frame",
        warm=warm,
        start=start,
        listed=listed or warm,
        seconds=round(seconds, 3),
    )


def rss(base_url: str) -> None:
    with mounted(base_url) as (root, pid):
        size, seconds = cat(root / EPISODE / HIGH)
        status = Path(f"/proc/{pid}/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    report(measure="rss", bytes=size, seconds=round(seconds, 3), peak=peak.split()[1:])


def _memory_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(field))
    return int(line.split()[1])


def rss_hls(master: str) -> None:
    """Stream the only variant of *master* through a mount, sampling memory."""
    with mounted_source(("--hls", master)) as (root, pid):
        (path,) = (root / "master").glob("*.ts")
        samples = []
        total = 0
        started = time.perf_counter()
        with path.open("rb", buffering=0) as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
                if total % (1 << 30) == 0:
                    samples.append(_memory_kib(pid, "VmRSS"))
        seconds = time.perf_counter() - started
        peak = _memory_kib(pid, "VmHWM")
    report(
        measure="rss-hls",
        bytes=total,
        seconds=round(seconds, 3),
        rss_kib_each_gib=samples,
        peak_kib=peak,
    )


def _count(log: Path, since: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    lines = log.read_text().splitlines()[since:]
    for line in lines:
        endpoint = json.loads(line).get("endpoint", "?")
        counts[endpoint] = counts.get(endpoint, 0) + 1
    return counts


def requests(base_url: str, log: Path) -> None:
    """Count the emulator requests that each common action causes."""

    def lines() -> int:
        return len(log.read_text().splitlines())

    with mounted(base_url) as (root, _pid):
        episode = root / EPISODE
        # Listing the way down first, so the counts below are the action's own.
        for part in ("shows", "shows/Banc d'essai", "shows/Banc d'essai/Saison 1"):
            os.listdir(root / part)
        actions = {
            "ls -l": ["ls", "-l", str(episode)],
            "4 KiB read": ["head", "-c", "4096", str(episode / HIGH)],
            "ffprobe": ["ffprobe", "-v", "error", str(episode / HIGH)],
            "seek to the middle, 64 KiB": [
                "dd",
                f"if={episode / HIGH}",
                "of=/dev/null",
                "bs=65536",
                "count=1",
                f"skip={os.stat(episode / HIGH).st_size // 2 // 65536}",
                "status=none",
            ],
        }
        for name, command in actions.items():
            before = lines()
            subprocess.run(command, check=True, capture_output=True, timeout=300)
            time.sleep(0.5)  # lets the read-ahead that the action started settle
            report(measure="requests", action=name, counts=_count(log, before))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve")
    serve_parser.add_argument("--latency", type=float, default=LATENCY)
    serve_parser.add_argument("--rate", type=int, default=RATE)
    serve_parser.add_argument("--log")
    for name in ("master", "cold-cat", "warm-cat", "rss", "rss-hls"):
        commands.add_parser(name).add_argument("url")
    first = commands.add_parser("first-frame")
    first.add_argument("url")
    first.add_argument("--warm", action="store_true")
    first.add_argument("--start")
    first.add_argument(
        "--listed",
        action="store_true",
        help="list the episode directory before timing, as a file manager does",
    )
    counted = commands.add_parser("requests")
    counted.add_argument("url")
    counted.add_argument("log", type=Path)
    args = parser.parse_args()

    if args.command == "serve":
        serve(args.latency, args.rate, args.log)
    elif args.command == "master":
        print(master_url(args.url))
    elif args.command == "cold-cat":
        cold_cat(args.url)
    elif args.command == "warm-cat":
        warm_cat(args.url)
    elif args.command == "first-frame":
        first_frame(args.url, args.warm, args.start, args.listed)
    elif args.command == "rss":
        rss(args.url)
    elif args.command == "rss-hls":
        rss_hls(args.url)
    elif args.command == "requests":
        requests(args.url, args.log)


if __name__ == "__main__":
    main()
