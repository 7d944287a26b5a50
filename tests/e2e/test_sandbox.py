"""`iap-engine sandbox --exit`, the README's first command, as a newcomer runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_sandbox_journey_runs_and_reads_well(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iap_engine.cli", "sandbox", "--exit", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # The customers' stories, each step followed by the entitlement it leaves.
    assert "alice buys premium monthly with a one-week free trial" in out
    assert re.search(r"alice: premium ACTIVE until .* \(active, renews\)", out)
    assert re.search(r"alice: premium ACTIVE until .* \(active, does not renew\)", out)
    assert "alice: premium inactive (expired)" in out
    assert "bob: premium inactive (revoked)" in out
    assert "still renewing in the store, to cancel there: com.example.premium.monthly" in out
    assert re.search(r"account deleted = true, status active, [3-9] renewals tracked", out)
    # How to explore further, with the files and keys it made.
    assert "Explore" in out
    assert (tmp_path / "engine.toml").exists()
    assert (tmp_path / "sandbox.db").exists()
    assert "Traceback" not in done.stderr
