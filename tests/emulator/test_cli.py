"""Emulator layer: ``python -m toutvfs.emulator`` prints its URL and stops."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx


def test_cli_serves_and_stops_on_sigterm() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "toutvfs.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            response = httpx.get(f"{base_url}/ott/catalog/v2/toutv/browse", timeout=5)
            assert response.status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)


def test_cli_rejects_bad_catalogue() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "toutvfs.emulator", "--catalogue", "/nonexistent.toml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "cannot read catalogue /nonexistent.toml" in result.stderr
