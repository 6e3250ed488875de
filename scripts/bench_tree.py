#!/usr/bin/env python3
"""Benchmarks of directory listings through a toutvfs mount.

Each measure starts its own emulator on 127.0.0.1 (no shaping) and its own
mount with an empty cache, then counts the emulator requests that a listing
causes, from the emulator's request log.

    scripts/bench_tree.py find
        the demo catalogue: ``find -maxdepth 2`` then a full ``find``,
        with the entries listed, the seconds and the requests of each
    scripts/bench_tree.py large [--shows N] [--runs N]
        a generated catalogue of N shows: ``ls shows/`` cold, then warm
        N times, with the median of the warm runs

Each command prints one JSON line per measure. docs/benchmarks.md lists the
runs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toutvfs.emulator import Emulator
from toutvfs.emulator.largegen import main as largegen_main

MOUNT_TIMEOUT = 60.0
COMMAND_TIMEOUT = 600.0


@contextmanager
def mounted(base_url: str, work: Path, *extra: str) -> Iterator[Path]:
    """Mount the emulator at *base_url* with an empty cache; yield the path."""
    mountpoint = work / "mnt"
    mountpoint.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toutvfs",
            "-f",
            "--emulator",
            base_url,
            "--cache-dir",
            str(work / "cache"),
            "--log-level",
            "WARNING",
            *extra,
            str(mountpoint),
        ],
        env=dict(os.environ, TOUTVFS_PASSWORD="demo"),
    )
    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: toutvfs did not mount")
            time.sleep(0.02)
        yield mountpoint
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def timed(command: list[str]) -> tuple[float, str]:
    """Run *command*; return its wall time in seconds and its output."""
    started = time.perf_counter()
    result = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    return time.perf_counter() - started, result.stdout


def endpoints(emulator: Emulator, since: int) -> dict[str, int]:
    """Count the requests logged after the first *since*, by endpoint."""
    records = emulator.request_log[since:]
    return dict(Counter(record.endpoint for record in records))


def report(**values: object) -> None:
    print(json.dumps(values, ensure_ascii=False), flush=True)


def find(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="toutvfs-bench-") as work:
        with Emulator() as emulator:
            with mounted(emulator.base_url, Path(work), "--user", "demo@toutvfs.test"):
                root = str(Path(work) / "mnt")
                for label, command in (
                    ("find -maxdepth 2", ["find", root, "-maxdepth", "2"]),
                    ("find", ["find", root]),
                ):
                    before = len(emulator.request_log)
                    seconds, output = timed(command)
                    counts = endpoints(emulator, before)
                    report(
                        measure=label,
                        entries=len(output.splitlines()),
                        seconds=round(seconds, 3),
                        requests=sum(counts.values()),
                        by_endpoint=counts,
                    )


def large(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="toutvfs-bench-") as work:
        catalogue = Path(work) / "large.json"
        episodes = str(args.shows * 20)
        largegen_main(
            ["--shows", str(args.shows), "--episodes", episodes, "-o", str(catalogue)]
        )
        with Emulator(catalogue=catalogue) as emulator:
            with mounted(emulator.base_url, Path(work)) as root:
                command = ["ls", str(root / "shows")]
                before = len(emulator.request_log)
                seconds, output = timed(command)
                report(
                    measure="ls shows/ cold",
                    entries=len(output.splitlines()),
                    seconds=round(seconds, 3),
                    requests=sum(endpoints(emulator, before).values()),
                )
                before = len(emulator.request_log)
                warm = [timed(command)[0] for _ in range(args.runs)]
                report(
                    measure="ls shows/ warm",
                    runs=args.runs,
                    median_seconds=round(statistics.median(warm), 3),
                    max_seconds=round(max(warm), 3),
                    requests=sum(endpoints(emulator, before).values()),
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("find")
    large_parser = commands.add_parser("large")
    large_parser.add_argument("--shows", type=int, default=5000, help="shows")
    large_parser.add_argument("--runs", type=int, default=5, help="warm runs")
    args = parser.parse_args()
    if args.command == "find":
        find(args)
    else:
        large(args)


if __name__ == "__main__":
    main()
