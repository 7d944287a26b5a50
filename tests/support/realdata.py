"""Where the real store samples are: ../shared/realdata, or $IAP_ENGINE_REALDATA.

Only apple/library-test-vectors may be copied into the project; everything else is read
from there (see its README). Tests that need it skip when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def realdata_root() -> Path | None:
    configured = os.environ.get("IAP_ENGINE_REALDATA")
    candidate = Path(configured) if configured else PROJECT.parent / "shared" / "realdata"
    return candidate if candidate.is_dir() else None


def realdata(*parts: str) -> Path:
    """The path of a real sample; skips the calling test when the samples are absent."""
    root = realdata_root()
    if root is None:
        pytest.skip("real store samples not found (set IAP_ENGINE_REALDATA)")
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample {path} not found")
    return path


def jws_sample(*parts: str) -> str:
    """The compact JWS of a real-signed sample (line 1 is provenance, line 2 the JWS)."""
    lines = realdata(*parts).read_text(encoding="utf-8").splitlines()
    return lines[1].strip() if len(lines) > 1 else lines[0].strip()
