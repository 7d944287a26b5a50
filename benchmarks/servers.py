"""Server processes the HTTP benchmarks measure: started on a free port, stopped after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from store_emulator.serving import free_port

HOST = "127.0.0.1"


@contextmanager
def server_process(
    command: Sequence[str], *, log: Path, ready_path: str, env: dict[str, str] | None = None
) -> Iterator[int]:
    """Run `command` (which gets `--port PORT` appended); yields the port once
    `GET ready_path` answers 200."""
    port = free_port(HOST)
    full = [*command, "--port", str(port)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            full, stdout=output, stderr=output, env={**os.environ, **(env or {})}
        )
    try:
        _wait_ready(process, f"http://{HOST}:{port}{ready_path}", log)
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def engine_command(config: Path, *, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "iap_engine.cli",
        "serve",
        "--config",
        str(config),
        "--host",
        HOST,
        "--workers",
        str(workers),
    ]


def uvicorn_command(app: str, *, factory: bool = False) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return [*command, "--factory"] if factory else command


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not become ready:\n{log.read_text()[-3000:]}")
