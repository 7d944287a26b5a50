"""Engine processes for end-to-end tests: `iap-engine serve` on a free port, really."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from store_emulator.serving import free_port


class EngineProcess:
    """`python -m iap_engine.cli serve` with a config file; stopped or killed by the test."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = config.with_suffix(f".{self.port}.log")
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> EngineProcess:
        command = [
            sys.executable,
            "-m",
            "iap_engine.cli",
            "serve",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=log, env=self._env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"engine exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"engine did not become healthy:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def kill(self) -> None:
        """Die at once, as a crash would: no cleanup, no graceful shutdown."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def cli(
    config: Path, command: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`iap-engine COMMAND --config CONFIG ARGS...` (so ARGS may end with `-- QUERY`)."""
    return subprocess.run(
        [sys.executable, "-m", "iap_engine.cli", command, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
