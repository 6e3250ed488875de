"""Emulator layer: ``python -m toutvfs.emulator`` prints its URL and stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from toutvfs.emulator import Emulator


@contextmanager
def running_cli(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the emulator's command line and yield it with its base URL.

    The process is killed on the way out unless the test has stopped it.
    """
    command = [sys.executable, "-m", "toutvfs.emulator", "--port", "0", *options]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            yield process, process.stdout.readline().strip()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)


def test_cli_serves_and_stops_on_sigterm() -> None:
    with running_cli() as (process, base_url):
        assert base_url.startswith("http://127.0.0.1:")
        response = httpx.get(f"{base_url}/ott/catalog/v2/toutv/browse", timeout=5)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_cli_rejects_bad_catalogue() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "toutvfs.emulator", "--catalogue", "/nonexistent.toml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "cannot read catalogue /nonexistent.toml" in result.stderr


def test_cli_options_latency_and_log(emulator: Emulator, tmp_path: Path) -> None:
    # The session's emulator has made the demo media, so start-up only loads them.
    log = tmp_path / "requests.jsonl"
    started = time.monotonic()
    with running_cli("--latency", "0.3", "--log", str(log)) as (process, base_url):
        ready = time.monotonic() - started
        with httpx.Client(base_url=base_url, timeout=10) as client:
            before = time.monotonic()
            browse = client.get("/ott/catalog/v2/toutv/browse")
            elapsed = time.monotonic() - before
            master_url = client.get(
                "/media/validation/v2/", params={"idMedia": "910001"}
            ).json()["url"]
            master = client.get(master_url)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    assert ready < 2.0
    assert browse.status_code == 200
    assert elapsed >= 0.3
    assert master.status_code == 200

    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [record["endpoint"] for record in records] == [
        "browse",
        "validation",
        "master",
    ]
    first = records[0]
    assert first["method"] == "GET"
    assert first["path"] == "/ott/catalog/v2/toutv/browse"
    assert first["range"] is None
    assert first["status"] == 200
    assert first["bytes"] == len(browse.content)
    assert first["duration"] >= 0.3

    # The signed token of the master's URL is a secret, so the log hides it.
    assert records[2]["query"]["hdnea"] == "***"
    token = master_url.split("hdnea=", 1)[1]
    assert token not in log.read_text()
