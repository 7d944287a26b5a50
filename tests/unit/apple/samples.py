"""The real App Store samples in ../shared/realdata/apple, listed for parametrized tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store_adapters.apple.jws import decode_unverified
from tests.support.realdata import realdata_root


@dataclass(frozen=True)
class Sample:
    name: str
    token: str
    payload: dict[str, Any]

    @property
    def kind(self) -> str:
        if "notificationType" in self.payload:
            return "notification"
        if "transactionId" in self.payload:
            return "transaction"
        return "renewal_info"

    @property
    def identity(self) -> dict[str, Any]:
        """Where the sample's bundle id, app Apple id and environment live."""
        data = self.payload.get("data")
        return data if isinstance(data, dict) else self.payload

    @property
    def bundle_id(self) -> str | None:
        return self.identity.get("bundleId")

    @property
    def app_apple_id(self) -> int | None:
        return self.identity.get("appAppleId")

    @property
    def environment(self) -> str:
        return str(self.identity["environment"])


def real_samples() -> list[Sample]:
    root = realdata_root()
    folder = root / "apple" / "real-signed" if root else None
    if folder is None or not folder.is_dir():
        return []
    samples = []
    for path in sorted(folder.rglob("*.jws")):
        lines = path.read_text(encoding="utf-8").splitlines()
        token = lines[1].strip() if len(lines) > 1 else lines[0].strip()
        _, payload = decode_unverified(token)
        samples.append(Sample(str(path.relative_to(folder)), token, payload))
    return samples


def apple_root() -> bytes:
    root = realdata_root()
    assert root is not None
    return Path(root, "apple", "roots", "AppleRootCA-G3.cer").read_bytes()
