"""Trust in an x5c certificate chain, checked once and remembered.

`ChainTrust.key_for(x5c, at)` returns the leaf's public key when the chain leaf ->
intermediate validates up to one of the configured roots at instant `at` (x5c[2] is never
trusted) and the leaf and intermediate carry Apple's marker OIDs. The verdict is cached per
exact x5c (bounded LRU) together with the validity window of the whole chain, so a later
payload costs a dictionary look-up plus a comparison of its own signedDate with that window.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import (
    VerificationError as ChainVerificationError,
)

from store_adapters.apple.errors import Reason, VerificationError

LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
DEFAULT_CACHE_SIZE = 32


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A verified signing key and the instants (epoch ms) its chain is valid between.

    `local` marks the self-signed key of Xcode / LocalTesting data, trusted only because that
    environment was explicitly enabled; such payloads must then claim that environment.
    """

    public_key: ec.EllipticCurvePublicKey
    not_before_ms: float
    not_after_ms: float
    local: bool = False

    def check_valid_at(self, instant_ms: float) -> None:
        if not self.not_before_ms <= instant_ms <= self.not_after_ms:
            raise VerificationError(
                Reason.CERTIFICATE_EXPIRED,
                "the signing certificate chain was not valid at the payload's signedDate",
            )


def _ca_basic_constraints(policy: Policy, cert: x509.Certificate, value: object) -> None:
    if not isinstance(value, x509.BasicConstraints) or not value.ca:
        raise ValueError("a CA certificate must have basicConstraints cA=TRUE")


def _ca_key_usage(policy: Policy, cert: x509.Certificate, value: object) -> None:
    if isinstance(value, x509.KeyUsage) and not value.key_cert_sign:
        raise ValueError("a CA certificate's keyUsage must allow keyCertSign")


def _leaf_basic_constraints(policy: Policy, cert: x509.Certificate, value: object) -> None:
    if isinstance(value, x509.BasicConstraints) and value.ca:
        raise ValueError("the signing certificate must not be a CA")


def _leaf_key_usage(policy: Policy, cert: x509.Certificate, value: object) -> None:
    if isinstance(value, x509.KeyUsage) and not value.digital_signature:
        raise ValueError("the signing certificate's keyUsage must allow digitalSignature")


def _extension_policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    # The Web PKI defaults demand a subjectAltName, critical basicConstraints and key
    # identifiers that Apple's signing leaf (and Apple's own test CA) do not have. What
    # matters here is RFC 5280 path validation plus CA-ness of the issuers; Apple's marker
    # OIDs are checked after the path is built.
    ca = (
        ExtensionPolicy.permit_all()
        .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _ca_basic_constraints)
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_key_usage)
    )
    ee = (
        ExtensionPolicy.permit_all()
        .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _leaf_basic_constraints)
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _leaf_key_usage)
    )
    return ca, ee


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from DER or PEM bytes (configured roots may be either)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _x5c_certificate(entry: object, position: str) -> x509.Certificate:
    if not isinstance(entry, str):
        raise VerificationError(Reason.INVALID_CERTIFICATE, f"the {position} is not a string")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(entry, validate=True))
    except (binascii.Error, ValueError):
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"the {position} is not a DER certificate"
        ) from None


def _ms(instant: datetime) -> float:
    return instant.timestamp() * 1000


def _has_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bool:
    try:
        cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return False
    return True


def _p256_key(cert: x509.Certificate, position: str) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VerificationError(
            Reason.INVALID_CERTIFICATE, f"the {position} does not hold a P-256 key"
        )
    return key


class ChainTrust:
    def __init__(
        self,
        roots: Sequence[bytes],
        *,
        allow_local: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        certificates = [load_certificate(root) for root in roots]
        self._store = Store(certificates) if certificates else None
        self._allow_local = allow_local
        self._ca_policy, self._ee_policy = _extension_policies()
        self._cache: OrderedDict[tuple[str, ...], TrustedKey] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        # Full chain validations performed (a cache miss each); for metrics and tests.
        self.validations = 0

    @property
    def cached(self) -> int:
        return len(self._cache)

    def key_for(self, x5c: object, at_ms: float) -> TrustedKey:
        if not isinstance(x5c, list) or not x5c:
            raise VerificationError(Reason.INVALID_CHAIN, "the JWS header has no x5c chain")
        if not all(type(entry) is str for entry in x5c):
            raise VerificationError(
                Reason.INVALID_CERTIFICATE, "an x5c entry is not a base64 certificate string"
            )
        key = tuple(x5c)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            self.validations += 1
            cached = self._verify(x5c, at_ms)
            with self._lock:
                self._cache[key] = cached
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        cached.check_valid_at(at_ms)
        return cached

    def _verify(self, x5c: list[object], at_ms: float) -> TrustedKey:
        if len(x5c) == 1 and self._allow_local:
            return self._local(x5c[0])
        if len(x5c) != 3:
            raise VerificationError(
                Reason.INVALID_CHAIN,
                f"x5c must hold exactly three certificates, not {len(x5c)}",
            )
        leaf = _x5c_certificate(x5c[0], "leaf certificate")
        intermediate = _x5c_certificate(x5c[1], "intermediate certificate")
        at = datetime.fromtimestamp(at_ms / 1000, UTC)
        for cert, position in ((leaf, "leaf"), (intermediate, "intermediate")):
            if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
                raise VerificationError(
                    Reason.CERTIFICATE_EXPIRED,
                    f"the {position} certificate was not valid at the payload's signedDate",
                )
        if self._store is None:
            raise VerificationError(Reason.INVALID_CHAIN, "no root certificate is configured")
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(at)
            .max_chain_depth(1)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        try:
            chain = verifier.verify(leaf, [intermediate]).chain
        except ChainVerificationError:
            raise VerificationError(
                Reason.INVALID_CHAIN,
                "the chain does not validate up to a configured root certificate",
            ) from None
        if len(chain) != 3 or chain[1] != intermediate:
            raise VerificationError(
                Reason.INVALID_CHAIN, "the chain is not leaf -> intermediate -> root"
            )
        if not _has_extension(leaf, LEAF_OID):
            raise VerificationError(
                Reason.INVALID_CERTIFICATE,
                f"the leaf certificate lacks the App Store marker OID {LEAF_OID.dotted_string}",
            )
        if not _has_extension(intermediate, INTERMEDIATE_OID):
            raise VerificationError(
                Reason.INVALID_CERTIFICATE,
                "the intermediate certificate lacks the Apple marker OID "
                f"{INTERMEDIATE_OID.dotted_string}",
            )
        return TrustedKey(
            public_key=_p256_key(leaf, "leaf certificate"),
            not_before_ms=max(_ms(c.not_valid_before_utc) for c in chain),
            not_after_ms=min(_ms(c.not_valid_after_utc) for c in chain),
        )

    def _local(self, entry: object) -> TrustedKey:
        cert = _x5c_certificate(entry, "local signing certificate")
        return TrustedKey(
            public_key=_p256_key(cert, "local signing certificate"),
            not_before_ms=_ms(cert.not_valid_before_utc),
            not_after_ms=_ms(cert.not_valid_after_utc),
            local=True,
        )
